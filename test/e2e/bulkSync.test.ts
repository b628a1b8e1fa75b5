import { describe, expect, it } from "vitest"
import { eventually } from "./support/eventually.ts"
import { apply } from "./support/kube.ts"
import { recordsLand, runningDigests, type Scenario, useScenario } from "./support/scenario.ts"
import { deployment, statefulSet } from "./support/workloads.ts"

// The start-up bulk sync (BULK_CLUSTER_SYNC=true) on the real control plane:
// what runs before the tracker starts goes to GitHub as one cluster job.

const BULK = { BULK_CLUSTER_SYNC: "true" }

const one = (name: string) => ({ containers: [{ name: "app", image: `ghcr.io/octo-e2e/${name}:1.0` }] })

/** Per-record posts (create-record) the tracker made for these deployment names. */
const singlePosts = async (s: Scenario, names: Iterable<string>) => {
  const wanted = new Set(names)
  return (await s.github.requests()).filter((r) => r.route === "create-record" && r.deployment_name !== null && wanted.has(r.deployment_name))
}

describe("start-up bulk sync", () => {
  it("what runs before start goes as one job, nothing is re-posted one by one, and a change during the sync still lands", async () => {
    const s = useScenario("bulk")
    const ns = await s.namespace("bulk")
    await apply(deployment(ns, "web", { ...one("web"), replicas: 2 }), statefulSet(ns, "db", { ...one("db"), replicas: 1 }))
    const before = new Map([
      ...await runningDigests(ns, "web", "app=web", { count: 2 }),
      ...await runningDigests(ns, "db", "app=db", { count: 1 })
    ])
    // A slow job endpoint keeps the sync open long enough for a change to happen during it.
    await s.github.addFaults({ kind: "latency", route: "create-job", latencyMs: 4_000, count: 1 })
    const starting = s.startTracker({ env: BULK })
    await apply(deployment(ns, "late", one("late")))

    const landed = await recordsLand(s, before, "deployed")
    expect(landed.map((r) => r.source)).toEqual(landed.map(() => "create-job"))
    const late = await runningDigests(ns, "late", "app=late", { count: 1 })
    await recordsLand(s, late, "deployed")
    // The workers ran after the job: once every pod's start is handled, the
    // pods the job covered were seen, not posted again.
    const tracker = await starting
    await eventually("every pod's start handled", async () => {
      expect(await tracker.metric("deptracker_events_processed_ok", { event_type: "CREATED" })).toBe(4)
    })
    expect(await singlePosts(s, before.keys())).toEqual([])
    const jobs = (await s.github.requests()).filter((r) => r.route === "create-job")
    expect(jobs).toHaveLength(1)
    expect([...jobs[0]!.deployment_names].sort()).toEqual(expect.arrayContaining([...before.keys()].sort()))
    await s.expectNoViolations()
  })

  it("a job that fails sends every record the per-record way", async () => {
    const s = useScenario("bulkfail")
    const ns = await s.namespace("bulkfail")
    await apply(deployment(ns, "api", { ...one("api"), replicas: 2 }))
    const expected = await runningDigests(ns, "api", "app=api", { count: 2 })
    await s.github.addFaults({ kind: "job-failure", count: 1 })
    await s.startTracker({ env: BULK })
    const landed = await recordsLand(s, expected, "deployed")
    expect(landed.map((r) => r.source)).toEqual(["create-record"])
    await s.expectNoViolations()
  })

  it("a cluster name the jobs URL cannot carry skips the bulk sync with a warning; records go one by one", async () => {
    const s = useScenario("bulkname")
    const ns = await s.namespace("bulkname")
    await apply(deployment(ns, "svc", one("svc")))
    const expected = await runningDigests(ns, "svc", "app=svc", { count: 1 })
    const tracker = await s.startTracker({ env: { ...BULK, CLUSTER: `kwok cluster ${s.id}` } })
    const landed = await recordsLand(s, expected, "deployed")
    expect(landed.map((r) => [r.source, r.cluster])).toEqual([["create-record", `kwok cluster ${s.id}`]])
    expect((await s.github.requests()).filter((r) => r.route === "create-job")).toEqual([])
    await eventually("the skip to be logged", async () => {
      expect(tracker.logs().some((line) => line.logLevel === "WARN" && /bulk sync skipped/i.test(String(line.message)) &&
          /cluster name/.test(String(line.annotations["reason"])))).toBe(true)
    })
    await s.expectNoViolations()
  })
})

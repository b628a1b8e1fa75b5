import { describe, expect, it } from "vitest"
import { apply, kube } from "./support/kube.ts"
import { recordsLand, runningDigests, type Scenario, useScenario } from "./support/scenario.ts"
import type { TrackerProcess } from "./support/tracker.ts"
import { deployment } from "./support/workloads.ts"

// -namespace and -exclude-namespaces: pods outside the watched namespaces
// are never posted, not even their deletes.

const service = (namespace: string) =>
  deployment(namespace, "svc", {
    replicas: 1,
    containers: [{ name: "main", image: `ghcr.io/octo-e2e/svc:${namespace}` }]
  })

/** Runs `svc` in every namespace, unwatched ones first; the watched ones' records must land. */
const exercise = async (s: Scenario, tracker: TrackerProcess, watched: ReadonlyArray<string>, unwatched: ReadonlyArray<string>) => {
  for (const ns of unwatched) await apply(service(ns))
  for (const ns of unwatched) await runningDigests(ns, "svc", "app=svc", { count: 1 })
  for (const ns of watched) await apply(service(ns))
  const expected = new Map<string, string>()
  for (const ns of watched) for (const [k, v] of await runningDigests(ns, "svc", "app=svc", { count: 1 })) expected.set(k, v)
  await recordsLand(s, expected, "deployed")

  // Deletes everywhere: decommissions for the watched namespaces only.
  for (const ns of [...unwatched, ...watched]) await kube(["delete", "deployment", "svc", "-n", ns, "--wait=false"])
  await recordsLand(s, expected, "decommissioned")

  const names = (await s.github.records()).map((r) => r.deployment_name)
  for (const ns of unwatched) {
    expect(names.filter((n) => n.startsWith(`${ns}/`))).toEqual([])
    // Not even seen: no log line about any of its pods.
    expect(tracker.logs().filter((l) => l.annotations["namespace"] === ns)).toEqual([])
  }
}

describe("namespace scope", () => {
  it("-namespace: only that namespace's pods are posted", async () => {
    const s = useScenario("only")
    const inside = await s.namespace("inside")
    const outside = await s.namespace("outside")
    const tracker = await s.startTracker({ args: ["-namespace", inside] })

    // Every list (pods and the workload kinds) is scoped to the namespace;
    // Namespaces, cluster-scoped, are listed with a field selector naming it.
    expect(tracker.logsWith("Listed objects").map((l) => l.annotations["path"]).sort()).toEqual([
      "/api/v1/namespaces",
      `/api/v1/namespaces/${inside}/pods`,
      `/apis/apps/v1/namespaces/${inside}/daemonsets`,
      `/apis/apps/v1/namespaces/${inside}/deployments`,
      `/apis/apps/v1/namespaces/${inside}/statefulsets`,
      `/apis/batch/v1/namespaces/${inside}/cronjobs`,
      `/apis/batch/v1/namespaces/${inside}/jobs`
    ])
    await exercise(s, tracker, [inside], [outside])
    await s.expectNoViolations()
  })

  it("-exclude-namespaces: the listed namespaces' pods are never posted", async () => {
    const s = useScenario("exclude")
    const kept = await s.namespace("kept")
    const skipA = await s.namespace("skip-a")
    const skipB = await s.namespace("skip-b")
    const tracker = await s.startTracker({ args: ["-exclude-namespaces", `${skipA},${skipB}`] })

    await exercise(s, tracker, [kept], [skipA, skipB])
    await s.expectNoViolations()
  })
})

import { describe, expect, it } from "vitest"
import { eventually } from "./support/eventually.ts"
import { apply, fakeDigest, kube, pods } from "./support/kube.ts"
import { recordsLand, runningDigests, useScenario } from "./support/scenario.ts"
import { deployment } from "./support/workloads.ts"

// A Deployment's life as the tracker reports it: rollout, new image,
// scale-down (not a decommission) and deletion (a decommission).

const IMAGES = {
  app: "ghcr.io/octo-e2e/web:1.0",
  proxy: "ghcr.io/octo-e2e/proxy:2.1",
  migrate: "ghcr.io/octo-e2e/migrate:1.0"
}

const web = (namespace: string, options: { name?: string; replicas?: number; appDigest?: string } = {}) =>
  deployment(namespace, options.name ?? "web", {
    replicas: options.replicas ?? 2,
    initContainers: [{ name: "migrate", image: IMAGES.migrate }],
    containers: [
      { name: "app", image: IMAGES.app, ...(options.appDigest === undefined ? {} : { digest: options.appDigest }) },
      { name: "proxy", image: IMAGES.proxy }
    ]
  })

describe("Deployment", () => {
  it("rollout: a deployed record per container and init container, with the digest of the pod's imageID", async () => {
    const s = useScenario("rollout")
    const ns = await s.namespace("rollout")
    await s.startTracker()

    await apply(web(ns))
    const expected = await runningDigests(ns, "web", "app=web", { count: 2 })
    expect([...expected.keys()].sort()).toEqual([`${ns}/web/app`, `${ns}/web/migrate`, `${ns}/web/proxy`])

    const records = await recordsLand(s, expected, "deployed")
    const byName = new Map(records.map((r) => [r.deployment_name, r]))
    for (const [container, image] of Object.entries(IMAGES)) {
      const [name, version] = image.split(/:(?=[^:/]+$)/)
      expect(byName.get(`${ns}/web/${container}`)).toMatchObject({
        name,
        version,
        cluster: s.cluster,
        logical_environment: s.logicalEnvironment,
        physical_environment: "",
        source: "create-record"
      })
    }
    expect((await s.recordsIn(ns)).map((r) => r.deployment_name).sort()).toEqual([...expected.keys()].sort())
    await s.expectNoViolations()
  })

  it("new image: the record's digest follows the rollout", async () => {
    const s = useScenario("newimage")
    const ns = await s.namespace("newimage")
    await s.startTracker()
    const before = fakeDigest(`${ns}/app/1`)
    const after = fakeDigest(`${ns}/app/2`)

    await apply(web(ns, { appDigest: before }))
    const first = await runningDigests(ns, "web", "app=web", { count: 2 })
    expect(first.get(`${ns}/web/app`)).toBe(before)
    await recordsLand(s, first, "deployed")

    // A new image with a new digest: one patch of the pod template.
    await kube([
      "patch", "deployment", "web", "-n", ns, "--type=strategic", "-p",
      JSON.stringify({
        spec: {
          template: {
            metadata: { annotations: { "kwok.deployment-tracker.test/digest-app": after } },
            spec: { containers: [{ name: "app", image: "ghcr.io/octo-e2e/web:1.1" }] }
          }
        }
      })
    ])
    const second = await eventually("rollout of the new image", async () => {
      const digests = await runningDigests(ns, "web", "app=web", { count: 2 })
      if (digests.get(`${ns}/web/app`) !== after) throw new Error(`app still runs ${digests.get(`${ns}/web/app`)}`)
      return digests
    })
    const records = await recordsLand(s, second, "deployed")
    expect(records.find((r) => r.deployment_name === `${ns}/web/app`)).toMatchObject({ digest: after, version: "1.1" })
    await s.expectNoViolations()
  })

  it("scale down: nothing is posted for the removed pods (no decommission)", async () => {
    const s = useScenario("scaledown")
    const ns = await s.namespace("scaledown")
    const tracker = await s.startTracker()

    await apply(web(ns, { replicas: 3 }))
    const expected = await runningDigests(ns, "web", "app=web", { count: 3 })
    const landed = await recordsLand(s, expected, "deployed")
    // Every pod's event fully handled (a second worker may still be posting a duplicate).
    await eventually("the three CREATED events handled", async () => {
      expect(await tracker.metric("deptracker_events_processed_ok", { event_type: "CREATED" })).toBe(3)
    })
    const requestsBefore = (await s.github.requests()).length
    const podsBefore = new Set((await pods(ns, "app=web")).map((p) => p.metadata.name))

    await kube(["scale", "deployment", "web", "-n", ns, "--replicas=1"])
    const remaining = await eventually("scale-down to one pod", async () => {
      const now = await pods(ns, "app=web")
      if (now.length !== 1) throw new Error(`${now.length} pods`)
      return now[0]!.metadata.name
    })
    const removed = [...podsBefore].filter((name) => name !== remaining)
    expect(removed).toHaveLength(2)

    // The tracker's own word that it handled both deletes, then the check
    // that it posted nothing for them.
    await eventually("the tracker to handle both pod deletes", async () => {
      expect(await tracker.metric("deptracker_events_processed_ok", { event_type: "DELETED" })).toBe(2)
    })
    expect(await s.github.requests()).toHaveLength(requestsBefore)
    const after = await s.recordsIn(ns)
    expect(after.map((r) => [r.deployment_name, r.status, r.digest])).toEqual(
      landed.map((r) => [r.deployment_name, "deployed", r.digest])
    )
    await s.expectNoViolations()
  })

  it("delete: a decommissioned record per container and init container (background and foreground cascade)", async () => {
    const s = useScenario("delete")
    const ns = await s.namespace("delete")
    await s.startTracker()

    await apply(web(ns), web(ns, { name: "api" }))
    const webDigests = await runningDigests(ns, "web", "app=web", { count: 2 })
    const apiDigests = await runningDigests(ns, "api", "app=api", { count: 2 })
    await recordsLand(s, new Map([...webDigests, ...apiDigests]), "deployed")

    await kube(["delete", "deployment", "web", "-n", ns, "--cascade=background", "--wait=false"])
    await kube(["delete", "deployment", "api", "-n", ns, "--cascade=foreground", "--wait=false"])
    await recordsLand(s, new Map([...webDigests, ...apiDigests]), "decommissioned")
    await eventually("the pods to be gone", async () => expect(await pods(ns)).toEqual([]))
    await s.expectNoViolations()
  })
})

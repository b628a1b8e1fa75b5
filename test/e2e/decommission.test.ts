import { describe, expect, it } from "vitest"
import { eventually } from "./support/eventually.ts"
import { apply, fakeDigest, kube } from "./support/kube.ts"
import { type Expected, recordsLand, runningDigests, type Scenario, useScenario } from "./support/scenario.ts"
import { daemonSet, deployment, job, statefulSet } from "./support/workloads.ts"
import type { KubeObject } from "./support/kube.ts"
import type { TrackerProcess } from "./support/tracker.ts"

// Decommissions on the real control plane: for every workload kind and every
// deletion propagation policy, exactly one `decommissioned` per
// deployment_name, whichever of the pod watch and the workload watches
// delivers first, and none while a pod that ran under the name still runs
// (orphan deletion leaves the pods running).

type Cascade = "background" | "foreground" | "orphan"
const CASCADES: ReadonlyArray<Cascade> = ["background", "foreground", "orphan"]

/** Decommission posts GitHub accepted, per deployment_name. */
const decommissionPosts = async (s: Scenario, names: Iterable<string>): Promise<Record<string, number>> => {
  const wanted = new Set(names)
  const counts: Record<string, number> = Object.fromEntries([...wanted].map((name) => [name, 0]))
  for (const request of await s.github.requests()) {
    const body = request.body as { status?: string; deployment_name?: string } | null
    if (request.route !== "create-record" || request.status !== 200 || body?.status !== "decommissioned") continue
    if (body.deployment_name !== undefined && wanted.has(body.deployment_name)) counts[body.deployment_name]! += 1
  }
  return counts
}

/** Events of a type the tracker has handled, successfully or not. */
const handled = async (tracker: TrackerProcess, type: "CREATED" | "DELETED" | "WORKLOAD_DELETED") =>
  (await tracker.metric("deptracker_events_processed_ok", { event_type: type })) +
  (await tracker.metric("deptracker_events_processed_failed", { event_type: type }))

/** Waits until the tracker has handled these many pod deletes and at least these many workload deletions. */
const handledDeletes = (tracker: TrackerProcess, podDeletes: number, workloadDeletes: number) =>
  eventually(`${podDeletes} pod deletes and ${workloadDeletes} workload deletions handled`, async () => {
    expect(await handled(tracker, "DELETED")).toBe(podDeletes)
    expect(await handled(tracker, "WORKLOAD_DELETED")).toBeGreaterThanOrEqual(workloadDeletes)
  })

/**
 * Waits for the decommissions and for every later event that could
 * duplicate one (each pod's delete, each workload's deletion), then counts.
 */
const expectOneDecommissionEach = async (
  s: Scenario,
  tracker: TrackerProcess,
  expected: Expected,
  podDeletes: number,
  workloadDeletes: number
) => {
  await recordsLand(s, expected, "decommissioned")
  await handledDeletes(tracker, podDeletes, workloadDeletes)
  const names = [...expected.keys()]
  expect(await decommissionPosts(s, names)).toEqual(Object.fromEntries(names.map((name) => [name, 1])))
}

const deleteWith = (kind: string, name: string, ns: string, cascade: Cascade) =>
  kube(["delete", kind, name, "-n", ns, `--cascade=${cascade}`, "--wait=false"])

/**
 * Orphans keep running: clean them up as an operator would, afterwards. A
 * Deployment's orphaned ReplicaSet would recreate its pods, so it goes; for
 * the other kinds the pods themselves.
 */
const deleteOrphans = async (ns: string, selector: string, kind = "pods") => {
  // First the garbage collector orphans them (drops their owner reference),
  // so what the deletes below look like does not depend on timing.
  await eventually(`the orphaned ${kind} (${selector}) to lose their owner`, async () => {
    const found = JSON.parse(await kube(["get", kind, "-n", ns, "-l", selector, "-o", "json"])) as {
      items: Array<{ metadata: { ownerReferences?: Array<unknown> } }>
    }
    expect(found.items.length).toBeGreaterThan(0)
    expect(found.items.filter((item) => (item.metadata.ownerReferences ?? []).length > 0)).toEqual([])
  })
  await kube(["delete", kind, "-n", ns, "-l", selector, "--wait=false"])
}

const checkKind = async (
  label: string,
  kind: string,
  make: (ns: string, name: string) => KubeObject,
  selectorOf: (name: string) => string,
  count: number,
  orphanKind = "pods"
) => {
  const s = useScenario(label)
  const ns = await s.namespace(label)
  const tracker = await s.startTracker()
  const all = new Map<string, string>()
  for (const cascade of CASCADES) await apply(make(ns, `${label}-${cascade}`))
  for (const cascade of CASCADES) {
    const name = `${label}-${cascade}`
    const expected = await runningDigests(ns, name, selectorOf(name), { count })
    await recordsLand(s, expected, "deployed")
    for (const [dn, digest] of expected) all.set(dn, digest)
  }
  for (const cascade of CASCADES) await deleteWith(kind, `${label}-${cascade}`, ns, cascade)
  // The background and foreground ones go; the orphans still run their
  // image, so their names stay deployed (no decommission yet).
  const gone = new Map([...all].filter(([name]) => !name.includes(`/${label}-orphan/`)))
  const orphaned = new Map([...all].filter(([name]) => name.includes(`/${label}-orphan/`)))
  await recordsLand(s, gone, "decommissioned")
  await handledDeletes(tracker, 2 * count, CASCADES.length)
  await recordsLand(s, orphaned, "deployed", 1_000)
  expect(await decommissionPosts(s, orphaned.keys())).toEqual(Object.fromEntries([...orphaned.keys()].map((name) => [name, 0])))
  // Once the orphans are gone too, their names are decommissioned; the pods
  // kept the workload they ran under, so their deletes count as ours.
  await deleteOrphans(ns, `app=${label}-orphan`, orphanKind)
  await expectOneDecommissionEach(s, tracker, all, CASCADES.length * count, CASCADES.length)
  await s.expectNoViolations()
}

const one = (name: string) => ({ containers: [{ name: "app", image: `ghcr.io/octo-e2e/${name}:1.0` }] })

describe("exactly one decommission per deployment_name, for every kind and deletion policy", () => {
  it("Deployments: background, foreground, orphan", () =>
    checkKind(
      "dep",
      "deployment",
      (ns, name) => deployment(ns, name, { ...one(name), replicas: 2 }),
      (name) => `app=${name}`,
      2,
      "replicasets"
    ))

  it("StatefulSets: background, foreground, orphan", () =>
    checkKind("sts", "statefulset", (ns, name) => statefulSet(ns, name, { ...one(name), replicas: 2 }), (name) => `app=${name}`, 2))

  it("DaemonSets: background, foreground, orphan", () =>
    checkKind("ds", "daemonset", (ns, name) => daemonSet(ns, name, one(name)), (name) => `app=${name}`, 2))

  it("Jobs: background, foreground, orphan", async () => {
    const s = useScenario("job")
    const ns = await s.namespace("job")
    const tracker = await s.startTracker()
    const all = new Map<string, string>()
    for (const cascade of CASCADES) {
      const name = `job-${cascade}`
      await apply(job(ns, name, one(name)))
    }
    for (const cascade of CASCADES) {
      const name = `job-${cascade}`
      const expected = await runningDigests(ns, name, `job-name=${name}`, { count: 1, phase: "Succeeded" })
      await recordsLand(s, expected, "deployed")
      for (const [dn, digest] of expected) all.set(dn, digest)
    }
    for (const cascade of CASCADES) await deleteWith("job", `job-${cascade}`, ns, cascade)
    // A finished Job pod runs nothing: with its Job gone, even the orphaned
    // one's name is decommissioned at once.
    await recordsLand(s, all, "decommissioned")
    await deleteOrphans(ns, "job-name=job-orphan")
    await expectOneDecommissionEach(s, tracker, all, CASCADES.length, CASCADES.length)
    await s.expectNoViolations()
  })

  it("CronJobs: a finished run sends nothing; deleting the CronJob (each policy) decommissions once", async () => {
    const s = useScenario("cron")
    const ns = await s.namespace("cron")
    const tracker = await s.startTracker()
    const all = new Map<string, string>()
    for (const cascade of CASCADES) {
      const name = `cron-${cascade}`
      await apply({
        apiVersion: "batch/v1",
        kind: "CronJob",
        metadata: { name, namespace: ns },
        spec: {
          // Never due during the test: runs are started by hand below.
          schedule: "0 0 1 1 *",
          jobTemplate: { spec: { backoffLimit: 0, template: { spec: { restartPolicy: "Never", terminationGracePeriodSeconds: 0, containers: [{ name: "app", image: `ghcr.io/octo-e2e/${name}:1.0` }] } } } }
        }
      })
      // `create job --from` makes the CronJob the Job's controlling owner, as a scheduled run would.
      await kube(["create", "job", `${name}-run1`, "-n", ns, `--from=cronjob/${name}`])
    }
    for (const cascade of CASCADES) {
      const name = `cron-${cascade}`
      const expected = await runningDigests(ns, name, `job-name=${name}-run1`, { count: 1, phase: "Succeeded" })
      await recordsLand(s, expected, "deployed")
      for (const [dn, digest] of expected) all.set(dn, digest)
    }
    // A finished run going away (history limits, TTL) is not a decommission.
    await kube(["delete", "job", "cron-background-run1", "-n", ns, "--wait=true"])
    // Its pod's delete and the Job's own deletion are handled: nothing is posted.
    await handledDeletes(tracker, 1, 1)
    expect(await decommissionPosts(s, all.keys())).toEqual(Object.fromEntries([...all.keys()].map((name) => [name, 0])))

    for (const cascade of CASCADES) await deleteWith("cronjob", `cron-${cascade}`, ns, cascade)
    await kube(["delete", "jobs", "-n", ns, "--all", "--wait=false"])
    // Three CronJobs and the two runs left; the first run's pod was deleted above.
    await expectOneDecommissionEach(s, tracker, all, CASCADES.length, 1 + CASCADES.length + 2)
    await s.expectNoViolations()
  })
})

describe("ordering within a deployment_name", () => {
  it("a Deployment scaled to zero and then deleted is still decommissioned", async () => {
    const s = useScenario("scale0")
    const ns = await s.namespace("scale0")
    const tracker = await s.startTracker()
    await apply(deployment(ns, "idle", { ...one("idle"), replicas: 2 }))
    const expected = await runningDigests(ns, "idle", "app=idle", { count: 2 })
    await recordsLand(s, expected, "deployed")
    await kube(["scale", "deployment", "idle", "-n", ns, "--replicas=0"])
    await eventually("the pods to be gone", async () => {
      const left = JSON.parse(await kube(["get", "pods", "-n", ns, "-o", "json"])) as { items: Array<unknown> }
      if (left.items.length > 0) throw new Error(`${left.items.length} pods left`)
    })
    // Scale-down is not a decommission.
    expect(await decommissionPosts(s, expected.keys())).toEqual({ [`${ns}/idle/app`]: 0 })
    await kube(["delete", "deployment", "idle", "-n", ns, "--wait=false"])
    await expectOneDecommissionEach(s, tracker, expected, 2, 1)
    await s.expectNoViolations()
  })

  it("delete a Deployment and recreate it with a new image: the final state is deployed with the new digest", async () => {
    const s = useScenario("recreate")
    const ns = await s.namespace("recreate")
    const tracker = await s.startTracker()
    const oldDigest = fakeDigest("recreate-old")
    const newDigest = fakeDigest("recreate-new")
    await apply(deployment(ns, "shop", { containers: [{ name: "app", image: "ghcr.io/octo-e2e/shop:1", digest: oldDigest }], replicas: 2 }))
    await recordsLand(s, new Map([[`${ns}/shop/app`, oldDigest]]), "deployed")
    await kube(["delete", "deployment", "shop", "-n", ns, "--wait=false"])
    await apply(deployment(ns, "shop", { containers: [{ name: "app", image: "ghcr.io/octo-e2e/shop:2", digest: newDigest }], replicas: 2 }))
    await runningDigests(ns, "shop", "app=shop", { count: 2 })
    await recordsLand(s, new Map([[`${ns}/shop/app`, newDigest]]), "deployed")
    // Every event of the old Deployment (its two pods' deletes, its own deletion) handled: nothing overtook.
    await handledDeletes(tracker, 2, 1)
    await recordsLand(s, new Map([[`${ns}/shop/app`, newDigest]]), "deployed", 1_000)
    await s.expectNoViolations()
  })
})

describe("annotations on the real cluster", () => {
  it("runtime risks, tags and repository come from the pod template and the Deployment; invalid values are dropped, the record still sent", async () => {
    const s = useScenario("annot")
    const ns = await s.namespace("annot")
    await s.startTracker()
    const object = deployment(ns, "pay", one("pay")) as {
      metadata: Record<string, unknown>
      spec: { template: { metadata: { annotations: Record<string, string> } } }
    }
    object.metadata["annotations"] = {
      "metadata.github.com/runtime-risks": "internet-exposed, Sensitive-Data, bogus",
      "metadata.github.com/team": "payments",
      "metadata.github.com/github-repository": "payments-service"
    }
    object.spec.template.metadata.annotations["metadata.github.com/runtime-risks"] = "critical-resource"
    object.spec.template.metadata.annotations["metadata.github.com/team"] = "payments-pods"
    await apply(object)
    const expected = await runningDigests(ns, "pay", "app=pay", { count: 1 })
    const [record] = await recordsLand(s, expected, "deployed")
    expect(record).toMatchObject({
      runtime_risks: ["critical-resource", "internet-exposed", "sensitive-data"],
      tags: { team: "payments-pods" },
      github_repository: "payments-service"
    })
    await s.expectNoViolations()
  })
})

import { describe, expect, it } from "vitest"
import { eventually } from "./support/eventually.ts"
import { apply, digestAnnotation, fakeDigest, kube, type KubeObject, pods } from "./support/kube.ts"
import { recordsLand, runningDigests, type Scenario, useScenario } from "./support/scenario.ts"
import type { TrackerProcess } from "./support/tracker.ts"
import { daemonSet, deployment, job, statefulSet } from "./support/workloads.ts"

// The reconcile loop on the real control plane, as the manifest's
// ServiceAccount: for each shape of change an operator makes, the final
// state on the simulator is right and no wrong record was posted on the
// way (each test checks every status GitHub accepted for its names, in
// order).

/** The statuses GitHub accepted for a deployment_name, in the order they arrived. */
const acceptedStatuses = async (s: Scenario, name: string): Promise<ReadonlyArray<string>> =>
  (await s.github.requests()).flatMap((request) => {
    const body = request.body as { status?: string; deployment_name?: string } | null
    return request.route === "create-record" && request.status === 200 && body?.deployment_name === name && body.status !== undefined
      ? [body.status]
      : []
  })

const handled = async (tracker: TrackerProcess, type: string) =>
  (await tracker.metric("deptracker_events_processed_ok", { event_type: type })) +
  (await tracker.metric("deptracker_events_processed_failed", { event_type: type }))

/** Waits until the tracker has reconciled after at least this many workload deletions. */
const workloadDeletionsHandled = (tracker: TrackerProcess, count: number) =>
  eventually(`${count} workload deletions handled`, async () => {
    expect(await handled(tracker, "WORKLOAD_DELETED")).toBeGreaterThanOrEqual(count)
  })

/** Waits until the work queue is empty and stays so for a moment's worth of polls: every event seen has been reconciled. */
const settled = (tracker: TrackerProcess) =>
  eventually("the work queue to be empty", async () => {
    expect(await tracker.metric("deployment_tracker_workqueue_depth", {})).toBe(0)
  })

const one = (name: string, digest?: string) => ({
  containers: [{ name: "app", image: `ghcr.io/octo-e2e/${name}:1.0`, ...(digest === undefined ? {} : { digest }) }]
})

const uidOf = async (resource: string, name: string, ns: string) =>
  (await kube(["get", resource, name, "-n", ns, "-o", "jsonpath={.metadata.uid}"])).trim()

/** Waits until the objects of a kind matching `selector` have (or have lost) a controlling owner. */
const ownedState = (kind: string, ns: string, selector: string, owned: boolean) =>
  eventually(`${kind} ${selector} ${owned ? "adopted" : "orphaned"}`, async () => {
    const found = JSON.parse(await kube(["get", kind, "-n", ns, "-l", selector, "-o", "json"])) as {
      items: Array<{ metadata: { ownerReferences?: Array<{ controller?: boolean }> } }>
    }
    expect(found.items.length).toBeGreaterThan(0)
    for (const item of found.items) {
      expect((item.metadata.ownerReferences ?? []).some((ref) => ref.controller === true)).toBe(owned)
    }
  })

/** A namespaced CustomResourceDefinition that keeps any fields, established before it returns. */
const installCrd = async (group: string, kind: string, plural: string, version: string) => {
  await apply({
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${plural}.${group}` },
    spec: {
      group,
      scope: "Namespaced",
      names: { kind, plural, singular: kind.toLowerCase() },
      versions: [{
        name: version,
        served: true,
        storage: true,
        schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } }
      }]
    }
  })
  await kube(["wait", "--for=condition=established", `crd/${plural}.${group}`, "--timeout=60s"])
}

/** A ReplicaSet with the labels a controller would give it, optionally controlled by `owner`. */
const replicaSet = (
  ns: string,
  name: string,
  options: {
    readonly app: string
    readonly replicas: number
    readonly digest: string
    readonly hashLabel?: string
    readonly hash?: string
    readonly owner?: { readonly apiVersion: string; readonly kind: string; readonly name: string; readonly uid: string }
  }
): KubeObject => {
  const labels: Record<string, string> = { app: options.app, ...(options.hashLabel === undefined ? {} : { [options.hashLabel]: options.hash ?? "" }) }
  return {
    apiVersion: "apps/v1",
    kind: "ReplicaSet",
    metadata: {
      name,
      namespace: ns,
      labels,
      ...(options.owner === undefined ? {} : { ownerReferences: [{ ...options.owner, controller: true, blockOwnerDeletion: true }] })
    },
    spec: {
      replicas: options.replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels, annotations: { [digestAnnotation("app")]: options.digest } },
        spec: { containers: [{ name: "app", image: `ghcr.io/octo-e2e/${options.app}:1.0` }], terminationGracePeriodSeconds: 0 }
      }
    }
  }
}

describe("orphan deletion keeps running images deployed", () => {
  const orphanAndReapply = async (
    label: string,
    kind: string,
    make: (ns: string) => KubeObject,
    count: number,
    orphaned: { readonly kind: string; readonly selector: string }
  ) => {
    const s = useScenario(label)
    const ns = await s.namespace(label)
    const tracker = await s.startTracker()
    await apply(make(ns))
    const expected = await runningDigests(ns, label, `app=${label}`, { count })
    await recordsLand(s, expected, "deployed")
    // The usual way to change a StatefulSet's volume claims: delete it
    // leaving its pods, apply it again; the pods never stop.
    await kube(["delete", kind, label, "-n", ns, "--cascade=orphan", "--wait=true"])
    await ownedState(orphaned.kind, ns, orphaned.selector, false)
    await workloadDeletionsHandled(tracker, 1)
    await settled(tracker)
    await recordsLand(s, expected, "deployed", 1_000)
    await apply(make(ns))
    await ownedState(orphaned.kind, ns, orphaned.selector, true)
    await settled(tracker)
    await recordsLand(s, expected, "deployed", 1_000)
    for (const name of expected.keys()) expect(await acceptedStatuses(s, name)).toEqual(["deployed"])
    await s.expectNoViolations()
  }

  it("StatefulSet deleted with --cascade=orphan and applied again: never decommissioned", () =>
    orphanAndReapply("sts", "statefulset", (ns) => statefulSet(ns, "sts", { ...one("sts"), replicas: 2 }), 2, { kind: "pods", selector: "app=sts" }))

  it("Deployment deleted with --cascade=orphan and applied again (its ReplicaSet adopted): never decommissioned", () =>
    orphanAndReapply("dep", "deployment", (ns) => deployment(ns, "dep", { ...one("dep"), replicas: 2 }), 2, {
      kind: "replicasets",
      selector: "app=dep"
    }))

  it("DaemonSet deleted with --cascade=orphan and applied again: never decommissioned", () =>
    orphanAndReapply("ds", "daemonset", (ns) => daemonSet(ns, "ds", one("ds")), 2, { kind: "pods", selector: "app=ds" }))

  it("a finished Job deleted with --cascade=orphan runs nothing: decommissioned, and deployed again when re-applied", async () => {
    const s = useScenario("jobo")
    const ns = await s.namespace("jobo")
    const tracker = await s.startTracker()
    await apply(job(ns, "batch", one("batch")))
    const expected = await runningDigests(ns, "batch", "job-name=batch", { count: 1, phase: "Succeeded" })
    await recordsLand(s, expected, "deployed")
    await kube(["delete", "job", "batch", "-n", ns, "--cascade=orphan", "--wait=true"])
    await recordsLand(s, expected, "decommissioned")
    await apply(job(ns, "batch", one("batch")))
    await recordsLand(s, expected, "deployed")
    await settled(tracker)
    for (const name of expected.keys()) expect(await acceptedStatuses(s, name)).toEqual(["deployed", "decommissioned", "deployed"])
    await s.expectNoViolations()
  })
})

describe("owners other than the built-in workloads", () => {
  it("a ReplicaSet controlled by an Argo Rollout (readable under the ClusterRole): named after the Rollout, decommissioned when it is deleted", async () => {
    await installCrd("argoproj.io", "Rollout", "rollouts", "v1alpha1")
    const s = useScenario("argo")
    const ns = await s.namespace("argo")
    const tracker = await s.startTracker()
    await apply({ apiVersion: "argoproj.io/v1alpha1", kind: "Rollout", metadata: { name: "canary", namespace: ns }, spec: {} })
    const rolloutUid = await uidOf("rollouts.argoproj.io", "canary", ns)
    const digest = fakeDigest("argo-canary")
    await apply(replicaSet(ns, "canary-6c8d9f7b5", {
      app: "canary",
      replicas: 2,
      digest,
      hashLabel: "rollouts-pod-template-hash",
      hash: "6c8d9f7b5",
      owner: { apiVersion: "argoproj.io/v1alpha1", kind: "Rollout", name: "canary", uid: rolloutUid }
    }))
    const expected = new Map([[`${ns}/canary/app`, digest]])
    await recordsLand(s, expected, "deployed")
    // Scaled to zero (the Rollout still there): nothing to send.
    await kube(["scale", "replicaset", "canary-6c8d9f7b5", "-n", ns, "--replicas=0"])
    await eventually("the pods gone", async () => expect(await pods(ns, "app=canary")).toHaveLength(0))
    await settled(tracker)
    expect(await acceptedStatuses(s, `${ns}/canary/app`)).toEqual(["deployed"])
    await kube(["scale", "replicaset", "canary-6c8d9f7b5", "-n", ns, "--replicas=1"])
    await runningDigests(ns, "canary", "app=canary", { count: 1 })
    await kube(["delete", "rollouts.argoproj.io", "canary", "-n", ns, "--wait=false"])
    await recordsLand(s, expected, "decommissioned")
    expect(await acceptedStatuses(s, `${ns}/canary/app`)).toEqual(["deployed", "decommissioned"])
    await s.expectNoViolations()
  })

  it("a ReplicaSet controlled by a custom resource the ClusterRole cannot read: named after the ReplicaSet minus its hash, never retried for ever", async () => {
    await installCrd("example.com", "Widget", "widgets", "v1")
    const s = useScenario("widget")
    const ns = await s.namespace("widget")
    const tracker = await s.startTracker()
    await apply({ apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "gizmo", namespace: ns }, spec: {} })
    const widgetUid = await uidOf("widgets.example.com", "gizmo", ns)
    const digest = fakeDigest("widget-gizmo")
    await apply(replicaSet(ns, "gizmo-5f6d7c8b9", {
      app: "gizmo",
      replicas: 1,
      digest,
      hashLabel: "pod-template-hash",
      hash: "5f6d7c8b9",
      owner: { apiVersion: "example.com/v1", kind: "Widget", name: "gizmo", uid: widgetUid }
    }))
    const expected = new Map([[`${ns}/gizmo/app`, digest]])
    await recordsLand(s, expected, "deployed")
    await settled(tracker)
    // The Widget was read once (refused) and is not asked again and again.
    expect(await tracker.metric("deployment_tracker_metadata_reads_total", { kind: "Widget", result: "unreadable" })).toBe(1)
    await kube(["delete", "widgets.example.com", "gizmo", "-n", ns, "--wait=false"])
    await recordsLand(s, expected, "decommissioned")
    expect(await acceptedStatuses(s, `${ns}/gizmo/app`)).toEqual(["deployed", "decommissioned"])
    await s.expectNoViolations()
  })

  it("pods of an OpenKruise Advanced StatefulSet (apps.kruise.io) are reported by kind, as the original does", async () => {
    await installCrd("apps.kruise.io", "StatefulSet", "statefulsets", "v1beta1")
    const s = useScenario("kruise")
    const ns = await s.namespace("kruise")
    await s.startTracker()
    await apply({ apiVersion: "apps.kruise.io/v1beta1", kind: "StatefulSet", metadata: { name: "db", namespace: ns }, spec: {} })
    const uid = await uidOf("statefulsets.apps.kruise.io", "db", ns)
    const digest = fakeDigest("kruise-db")
    await apply(...[0, 1].map((ordinal) => ({
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name: `db-${ordinal}`,
        namespace: ns,
        labels: { app: "db" },
        annotations: { [digestAnnotation("app")]: digest },
        ownerReferences: [{ apiVersion: "apps.kruise.io/v1beta1", kind: "StatefulSet", name: "db", uid, controller: true, blockOwnerDeletion: true }]
      },
      spec: { containers: [{ name: "app", image: "ghcr.io/octo-e2e/db:1.0" }], terminationGracePeriodSeconds: 0 }
    })))
    const expected = new Map([[`${ns}/db/app`, digest]])
    await recordsLand(s, expected, "deployed")
    await kube(["delete", "statefulsets.apps.kruise.io", "db", "-n", ns, "--wait=false"])
    await recordsLand(s, expected, "decommissioned")
    expect(await acceptedStatuses(s, `${ns}/db/app`)).toEqual(["deployed", "decommissioned"])
    await s.expectNoViolations()
  })

  it("a bare ReplicaSet is its own workload under its full name for its whole life: scaled to zero and back, then deleted", async () => {
    const s = useScenario("barers")
    const ns = await s.namespace("barers")
    const tracker = await s.startTracker()
    const digest = fakeDigest("bare-rs")
    await apply(replicaSet(ns, "solo-set", { app: "solo", replicas: 2, digest }))
    const expected = new Map([[`${ns}/solo-set/app`, digest]])
    await recordsLand(s, expected, "deployed")
    await kube(["scale", "replicaset", "solo-set", "-n", ns, "--replicas=0"])
    await eventually("the pods gone", async () => expect(await pods(ns, "app=solo")).toHaveLength(0))
    await settled(tracker)
    await kube(["scale", "replicaset", "solo-set", "-n", ns, "--replicas=1"])
    await runningDigests(ns, "solo-set", "app=solo", { count: 1 })
    await settled(tracker)
    expect(await acceptedStatuses(s, `${ns}/solo-set/app`)).toEqual(["deployed"])
    await kube(["delete", "replicaset", "solo-set", "-n", ns, "--wait=false"])
    await recordsLand(s, expected, "decommissioned")
    expect(await acceptedStatuses(s, `${ns}/solo-set/app`)).toEqual(["deployed", "decommissioned"])
    await s.expectNoViolations()
  })
})

describe("changes within a workload", () => {
  it("scale to zero and back: the name stays deployed, nothing is posted again, no API read", async () => {
    const s = useScenario("zero")
    const ns = await s.namespace("zero")
    const tracker = await s.startTracker()
    await apply(deployment(ns, "web", { ...one("web"), replicas: 2 }))
    const expected = await runningDigests(ns, "web", "app=web", { count: 2 })
    await recordsLand(s, expected, "deployed")
    const readsBefore = await tracker.metric("deployment_tracker_metadata_reads_total")
    await kube(["scale", "deployment", "web", "-n", ns, "--replicas=0"])
    await eventually("the pods gone", async () => expect(await pods(ns, "app=web")).toHaveLength(0))
    await settled(tracker)
    await kube(["scale", "deployment", "web", "-n", ns, "--replicas=3"])
    await runningDigests(ns, "web", "app=web", { count: 3 })
    await settled(tracker)
    for (const name of expected.keys()) expect(await acceptedStatuses(s, name)).toEqual(["deployed"])
    // Pod deletes and a Deployment's new pods cost no API call (caches only).
    expect(await tracker.metric("deployment_tracker_metadata_reads_total")).toBe(readsBefore)
    await s.expectNoViolations()
  })

  it("a rollout to a new image: the digest follows, the name is never decommissioned", async () => {
    const s = useScenario("roll")
    const ns = await s.namespace("roll")
    const tracker = await s.startTracker()
    const before = fakeDigest("roll-1")
    const after = fakeDigest("roll-2")
    await apply(deployment(ns, "api", { containers: [{ name: "app", image: "ghcr.io/octo-e2e/api:1", digest: before }], replicas: 2 }))
    await recordsLand(s, new Map([[`${ns}/api/app`, before]]), "deployed")
    await apply(deployment(ns, "api", { containers: [{ name: "app", image: "ghcr.io/octo-e2e/api:2", digest: after }], replicas: 2 }))
    await runningDigests(ns, "api", "app=api", { count: 2 })
    await recordsLand(s, new Map([[`${ns}/api/app`, after]]), "deployed")
    await settled(tracker)
    expect(await acceptedStatuses(s, `${ns}/api/app`)).toEqual(["deployed", "deployed"])
    await s.expectNoViolations()
  })

  it("deleted and recreated with a new image before the old pods are gone: never an old record after the new one", async () => {
    const s = useScenario("recr1")
    const ns = await s.namespace("recr1")
    const tracker = await s.startTracker()
    const oldDigest = fakeDigest("recr1-old")
    const newDigest = fakeDigest("recr1-new")
    await apply(deployment(ns, "shop", { containers: [{ name: "app", image: "ghcr.io/octo-e2e/shop:1", digest: oldDigest }], replicas: 2 }))
    await recordsLand(s, new Map([[`${ns}/shop/app`, oldDigest]]), "deployed")
    await kube(["delete", "deployment", "shop", "-n", ns, "--wait=false"])
    await apply(deployment(ns, "shop", { containers: [{ name: "app", image: "ghcr.io/octo-e2e/shop:2", digest: newDigest }], replicas: 2 }))
    await runningDigests(ns, "shop", "app=shop", { count: 2 })
    await recordsLand(s, new Map([[`${ns}/shop/app`, newDigest]]), "deployed")
    await workloadDeletionsHandled(tracker, 1)
    await settled(tracker)
    await recordsLand(s, new Map([[`${ns}/shop/app`, newDigest]]), "deployed", 1_000)
    // Whether a decommission came between depends on timing (the name was
    // briefly without a workload); it never comes after the new deployed.
    const statuses = await acceptedStatuses(s, `${ns}/shop/app`)
    expect(statuses.at(-1)).toBe("deployed")
    expect([["deployed", "deployed"], ["deployed", "decommissioned", "deployed"]]).toContainEqual(statuses)
    await s.expectNoViolations()
  })

  it("deleted, gone, then recreated with a new image: decommissioned, then deployed with the new digest", async () => {
    const s = useScenario("recr2")
    const ns = await s.namespace("recr2")
    const tracker = await s.startTracker()
    const oldDigest = fakeDigest("recr2-old")
    const newDigest = fakeDigest("recr2-new")
    await apply(deployment(ns, "shop", { containers: [{ name: "app", image: "ghcr.io/octo-e2e/shop:1", digest: oldDigest }], replicas: 2 }))
    await recordsLand(s, new Map([[`${ns}/shop/app`, oldDigest]]), "deployed")
    await kube(["delete", "deployment", "shop", "-n", ns, "--wait=true"])
    await eventually("the old pods gone", async () => expect(await pods(ns, "app=shop")).toHaveLength(0))
    await recordsLand(s, new Map([[`${ns}/shop/app`, oldDigest]]), "decommissioned")
    await apply(deployment(ns, "shop", { containers: [{ name: "app", image: "ghcr.io/octo-e2e/shop:2", digest: newDigest }], replicas: 2 }))
    await recordsLand(s, new Map([[`${ns}/shop/app`, newDigest]]), "deployed")
    await settled(tracker)
    expect(await acceptedStatuses(s, `${ns}/shop/app`)).toEqual(["deployed", "decommissioned", "deployed"])
    await s.expectNoViolations()
  })
})

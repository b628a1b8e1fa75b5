import { describe, expect, it } from "@effect/vitest"
import { countTrigger, mergeCounts, podTrigger, type Trigger, type TriggerCounts, workloadTrigger } from "../../src/controller/triggers.ts"
import type { ObjectMeta } from "../../src/kube/ObjectMeta.ts"
import type { PodPhase, SlimContainer, SlimPod } from "../../src/kube/SlimPod.ts"

// Which watch changes queue a workload key, and under which trigger (the
// label of the original's deptracker_events_* metrics).

const CONTAINERS: ReadonlyArray<SlimContainer> = [{ name: "app", image: "nginx:1.27", imageID: "nginx@sha256:1" }]
const NEW_CONTAINERS: ReadonlyArray<SlimContainer> = [{ name: "app", image: "nginx:1.28", imageID: "nginx@sha256:2" }]

// Replicas share these objects in the pod cache (see podProjection's interner), so do the pods here.
const NO_OWNERS: SlimPod["ownerReferences"] = []
const NO_INIT: ReadonlyArray<SlimContainer> = []

const pod = (phase: PodPhase, changes: Partial<SlimPod> = {}): SlimPod => ({
  namespace: "shop",
  name: "web-abc",
  uid: "pod-uid",
  resourceVersion: "1",
  phase,
  terminating: false,
  createdAt: 0,
  ownerReferences: NO_OWNERS,
  templateHash: undefined,
  annotations: undefined,
  containers: CONTAINERS,
  initContainers: NO_INIT,
  ...changes
})

type Row = readonly [label: string, previous: SlimPod | undefined, current: SlimPod, expected: Trigger | undefined]

describe("podTrigger", () => {
  const rows: ReadonlyArray<Row> = [
    // The original's CREATED: the moment a digest becomes reportable.
    ["added Running", undefined, pod("Running"), "CREATED"],
    ["Pending -> Running", pod("Pending"), pod("Running"), "CREATED"],
    ["added finished (a Job pod quicker than the watch)", undefined, pod("Succeeded"), "CREATED"],
    ["Pending -> Failed", pod("Pending"), pod("Failed"), "CREATED"],
    // Anything else that the desired state reads.
    ["added Pending", undefined, pod("Pending"), "UPDATED"],
    ["Running -> terminating", pod("Running"), pod("Running", { terminating: true }), "UPDATED"],
    ["Pending -> Running while terminating", pod("Pending"), pod("Running", { terminating: true }), "UPDATED"],
    ["Running -> Succeeded (already reported Running)", pod("Running"), pod("Succeeded"), "UPDATED"],
    ["new image digest", pod("Running"), pod("Running", { containers: NEW_CONTAINERS }), "UPDATED"],
    ["annotations changed", pod("Running"), pod("Running", { annotations: { "metadata.github.com/team": "a" } }), "UPDATED"],
    ["owner references changed (orphaned)", pod("Running", { ownerReferences: [{ apiVersion: "apps/v1", kind: "ReplicaSet", name: "rs", uid: "u", controller: true }] }), pod("Running"), "UPDATED"],
    // Re-deliveries and changes nothing reads.
    ["Running -> Running (resourceVersion only)", pod("Running"), pod("Running", { resourceVersion: "2" }), undefined],
    ["Pending -> Pending", pod("Pending"), pod("Pending", { resourceVersion: "2" }), undefined]
  ]
  for (const [label, previous, current, expected] of rows) {
    it(label, () => expect(podTrigger(previous, current)).toBe(expected))
  }
})

const meta = (changes: Partial<ObjectMeta> = {}): ObjectMeta => ({
  kind: "Deployment",
  namespace: "shop",
  name: "web",
  uid: "uid-web",
  resourceVersion: "1",
  deleting: false,
  controller: undefined,
  annotations: undefined,
  ...changes
})

describe("workloadTrigger", () => {
  const rows: ReadonlyArray<readonly [string, ObjectMeta | undefined, ObjectMeta, Trigger | undefined]> = [
    ["added", undefined, meta(), "WORKLOAD_UPDATED"],
    ["deletion begins (foreground, orphan)", meta(), meta({ deleting: true }), "WORKLOAD_DELETED"],
    ["added already being deleted", undefined, meta({ deleting: true }), "WORKLOAD_DELETED"],
    ["still being deleted", meta({ deleting: true }), meta({ deleting: true, resourceVersion: "2" }), undefined],
    ["annotations changed", meta(), meta({ annotations: { "metadata.github.com/team": "a" } }), "WORKLOAD_UPDATED"],
    ["equal annotations in a new object", meta({ annotations: { a: "1" } }), meta({ annotations: { a: "1" }, resourceVersion: "2" }), undefined],
    ["recreated under the same name", meta(), meta({ uid: "uid-new" }), "WORKLOAD_UPDATED"],
    ["status only", meta(), meta({ resourceVersion: "2" }), undefined]
  ]
  for (const [label, previous, current, expected] of rows) {
    it(label, () => expect(workloadTrigger(previous, current)).toBe(expected))
  }
})

describe("trigger counts", () => {
  it("count events per trigger and merge back after a failed reconcile", () => {
    const counts: TriggerCounts = {}
    countTrigger(counts, "CREATED")
    countTrigger(counts, "CREATED")
    countTrigger(counts, "DELETED")
    const later: TriggerCounts = { DELETED: 1, RESYNC: 1 }
    mergeCounts(later, counts)
    expect(later).toEqual({ CREATED: 2, DELETED: 2, RESYNC: 1 })
  })
})

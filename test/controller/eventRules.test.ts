import { describe, expect, it } from "@effect/vitest"
import {
  controllingOwner,
  eventForChange,
  eventForDelete,
  hasSupportedOwner,
  isJobPod
} from "../../src/controller/eventRules.ts"
import type { PodEventType as EventType } from "../../src/controller/PodEvent.ts"
import type { PodPhase, SlimOwnerReference, SlimPod } from "../../src/kube/SlimPod.ts"

const owner = (kind: string, controller = true): SlimOwnerReference => ({
  apiVersion: kind === "Job" ? "batch/v1" : "apps/v1",
  kind,
  name: `${kind.toLowerCase()}-1`,
  uid: `uid-${kind}`,
  controller
})

const REPLICA_SET = [owner("ReplicaSet")]
const JOB = [owner("Job")]

const pod = (
  phase: PodPhase,
  owners: ReadonlyArray<SlimOwnerReference> = REPLICA_SET,
  terminating = false
): SlimPod => ({
  namespace: "shop",
  name: "web-abc",
  uid: "pod-uid",
  resourceVersion: "1",
  phase,
  terminating,
  createdAt: 0,
  ownerReferences: owners,
  annotations: undefined,
  containers: [{ name: "app", image: "nginx:1.27", imageID: undefined }],
  initContainers: []
})

type Row = readonly [label: string, previous: SlimPod | undefined, current: SlimPod, expected: EventType | undefined]

describe("eventForChange", () => {
  const rows: ReadonlyArray<Row> = [
    // The digest is only in the status once the pod runs: report that moment.
    ["added Running", undefined, pod("Running"), "CREATED"],
    ["added Pending", undefined, pod("Pending"), undefined],
    ["added Unknown", undefined, pod("Unknown"), undefined],
    ["Pending -> Running", pod("Pending"), pod("Running"), "CREATED"],
    ["Unknown -> Running", pod("Unknown"), pod("Running"), "CREATED"],
    ["Pending -> Pending", pod("Pending"), pod("Pending"), undefined],
    // Re-deliveries (resync, relist) of a pod already reported.
    ["Running -> Running", pod("Running"), pod("Running"), undefined],
    ["Running -> Unknown", pod("Running"), pod("Unknown"), undefined],
    ["Running -> Succeeded (ReplicaSet)", pod("Running"), pod("Succeeded"), undefined],
    ["Running -> Failed (ReplicaSet)", pod("Running"), pod("Failed"), undefined],
    ["Pending -> Running while terminating", pod("Pending"), pod("Running", REPLICA_SET, true), undefined],

    // Supported owners: what the workload resolver can name.
    ["added Running, DaemonSet", undefined, pod("Running", [owner("DaemonSet")]), "CREATED"],
    ["added Running, StatefulSet", undefined, pod("Running", [owner("StatefulSet")]), "CREATED"],
    ["added Running, Job", undefined, pod("Running", JOB), "CREATED"],
    ["added Running, no owner (bare pod)", undefined, pod("Running", []), undefined],
    ["added Running, custom controller", undefined, pod("Running", [owner("Rollout")]), undefined],
    ["added Running, ReplicaSet but not controller", undefined, pod("Running", [owner("ReplicaSet", false)]), undefined],
    ["Pending -> Running, bare pod", pod("Pending", []), pod("Running", []), undefined],

    // Job pods that finish before they are ever seen Running.
    ["Job pod Pending -> Succeeded", pod("Pending", JOB), pod("Succeeded", JOB), "CREATED"],
    ["Job pod Pending -> Failed", pod("Pending", JOB), pod("Failed", JOB), "CREATED"],
    ["Job pod Unknown -> Succeeded", pod("Unknown", JOB), pod("Succeeded", JOB), "CREATED"],
    ["Job pod added Succeeded", undefined, pod("Succeeded", JOB), "CREATED"],
    ["Job pod added Failed", undefined, pod("Failed", JOB), "CREATED"],
    ["Job pod Pending -> Succeeded while terminating (TTL)", pod("Pending", JOB), pod("Succeeded", JOB, true), "CREATED"],
    ["Job pod Running -> Succeeded (already reported)", pod("Running", JOB), pod("Succeeded", JOB), undefined],
    ["Job pod Succeeded -> Succeeded", pod("Succeeded", JOB), pod("Succeeded", JOB), undefined],
    ["Job pod Failed -> Succeeded", pod("Failed", JOB), pod("Succeeded", JOB), undefined],
    ["Job pod Pending -> Pending", pod("Pending", JOB), pod("Pending", JOB), undefined],
    ["Job pod Pending -> Running", pod("Pending", JOB), pod("Running", JOB), "CREATED"],
    ["non-Job pod Pending -> Succeeded", pod("Pending"), pod("Succeeded"), undefined],
    ["non-Job pod added Succeeded", undefined, pod("Succeeded"), undefined],
    ["bare pod Pending -> Failed", pod("Pending", []), pod("Failed", []), undefined],
    ["Job as non-controller owner, Pending -> Succeeded", pod("Pending", [owner("Job", false)]), pod("Succeeded", [owner("Job", false)]), undefined]
  ]

  for (const [label, previous, current, expected] of rows) {
    it(`${label} -> ${expected ?? "nothing"}`, () => {
      expect(eventForChange(previous, current)).toBe(expected)
    })
  }
})

describe("eventForDelete", () => {
  it("a pod with a supported owner -> DELETED, whatever its phase", () => {
    expect(eventForDelete(pod("Running"))).toBe("DELETED")
    expect(eventForDelete(pod("Pending", JOB, true))).toBe("DELETED")
  })

  it("a pod never reported (no supported owner) -> nothing, so it is never decommissioned", () => {
    expect(eventForDelete(pod("Running", []))).toBeUndefined()
  })
})

describe("owner helpers", () => {
  it("controllingOwner picks the controller: true reference", () => {
    const controller = owner("ReplicaSet")
    expect(controllingOwner(pod("Running", [owner("ConfigMap", false), controller]))).toBe(controller)
    expect(controllingOwner(pod("Running", [owner("ConfigMap", false)]))).toBeUndefined()
  })

  it("hasSupportedOwner and isJobPod look at the controlling owner only", () => {
    expect(hasSupportedOwner(pod("Running", [owner("ReplicaSet", false), owner("Rollout")]))).toBe(false)
    expect(isJobPod(pod("Running", JOB))).toBe(true)
    expect(isJobPod(pod("Running", [owner("CronJob")]))).toBe(false)
  })
})

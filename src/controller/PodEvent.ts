import type { SlimPod } from "../kube/SlimPod.ts"
import type { ObjectMeta } from "../workload/ObjectMeta.ts"

/** The original's pod event types; they label the `deptracker_events_*` metrics. */
export type PodEventType = "CREATED" | "DELETED"

/** Every event type, including ours: a watched workload deleted or being deleted. */
export type EventType = PodEventType | "WORKLOAD_DELETED"

/**
 * One unit of work for the workers. The snapshot travels with the event, so
 * a DELETED event still has the last known containers and digests after the
 * pod left the cache. `seq` is the order in which the controller received
 * the change (across all watches); it orders records of one workload.
 */
export type WorkEvent =
  | { readonly type: PodEventType; readonly pod: SlimPod; readonly seq: number }
  | { readonly type: "WORKLOAD_DELETED"; readonly workload: ObjectMeta; readonly seq: number }

export type PodEvent = Extract<WorkEvent, { readonly pod: SlimPod }>

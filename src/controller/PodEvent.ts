import type { SlimPod } from "../kube/SlimPod.ts"

/** The original's event types; they label the `deptracker_events_*` metrics. */
export type EventType = "CREATED" | "DELETED"

/**
 * One unit of work for the workers: a pod reached a state worth reporting.
 * The pod snapshot travels with the event, so a DELETED event still has the
 * last known containers and digests after the pod left the cache.
 */
export interface PodEvent {
  readonly type: EventType
  readonly pod: SlimPod
}

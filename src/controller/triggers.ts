import type { SlimPod } from "../kube/SlimPod.ts"
import type { ObjectMeta } from "../kube/ObjectMeta.ts"
import { isTerminalPhase } from "./desiredState.ts"

/**
 * Why a workload key was queued. Watch events only say which key changed;
 * the reconcile decides what to send. The original's event types (CREATED,
 * DELETED) keep their meaning on the `deptracker_events_*` metrics: a
 * reconcile counts every event it covers.
 *
 * - CREATED: a pod became reportable (the original's rule: added Running,
 *   updated to Running, or a Job pod finished without being seen Running).
 * - UPDATED: any other pod change the desired state depends on.
 * - DELETED: a pod went away.
 * - WORKLOAD_DELETED: a watched workload was deleted or its deletion began.
 * - WORKLOAD_UPDATED: a watched workload appeared or its annotations changed.
 * - NAMESPACE_UPDATED, NAMESPACE_DELETED: the workload's Namespace changed
 *   (environments, opt-out, selected or not) or went.
 * - RESYNC: every key again (at start and each `-resync-period`).
 */
export type Trigger =
  | "CREATED"
  | "UPDATED"
  | "DELETED"
  | "WORKLOAD_DELETED"
  | "WORKLOAD_UPDATED"
  | "NAMESPACE_UPDATED"
  | "NAMESPACE_DELETED"
  | "RESYNC"

/** How many events of each trigger a queued key stands for. */
export type TriggerCounts = Partial<Record<Trigger, number>>

export const countTrigger = (counts: TriggerCounts, trigger: Trigger): void => {
  counts[trigger] = (counts[trigger] ?? 0) + 1
}

export const mergeCounts = (into: TriggerCounts, from: TriggerCounts): void => {
  for (const [trigger, count] of Object.entries(from) as Array<[Trigger, number]>) into[trigger] = (into[trigger] ?? 0) + count
}

/** The original's CREATED rule (see upstream.md): the moment a pod's digest becomes reportable. */
const becameReportable = (previous: SlimPod | undefined, current: SlimPod): boolean => {
  if (current.phase === "Running") return previous === undefined || (previous.phase !== "Running" && !current.terminating)
  if (isTerminalPhase(current.phase)) {
    return previous === undefined || (previous.phase !== "Running" && !isTerminalPhase(previous.phase))
  }
  return false
}

/**
 * Whether anything the desired state reads changed. Replicas share their
 * container, owner and annotation objects (see kube/podProjection.ts), so
 * comparing references is enough; a spurious difference only costs a reconcile.
 */
const relevantChange = (previous: SlimPod, current: SlimPod): boolean =>
  previous.phase !== current.phase ||
  previous.terminating !== current.terminating ||
  previous.createdAt !== current.createdAt ||
  previous.containers !== current.containers ||
  previous.initContainers !== current.initContainers ||
  previous.annotations !== current.annotations ||
  previous.ownerReferences !== current.ownerReferences

/** The trigger of a pod's add (`previous` undefined) or update; undefined when nothing relevant changed. */
export const podTrigger = (previous: SlimPod | undefined, current: SlimPod): Trigger | undefined => {
  if (previous !== undefined && !relevantChange(previous, current)) return undefined
  return becameReportable(previous, current) ? "CREATED" : "UPDATED"
}

/** The trigger of a watched workload's add or update; undefined when nothing relevant changed. */
export const workloadTrigger = (previous: ObjectMeta | undefined, current: ObjectMeta): Trigger | undefined => {
  if (current.deleting) return previous?.deleting === true ? undefined : "WORKLOAD_DELETED"
  if (previous === undefined || previous.deleting || previous.uid !== current.uid) return "WORKLOAD_UPDATED"
  return previous.annotations !== current.annotations && JSON.stringify(previous.annotations) !== JSON.stringify(current.annotations)
    ? "WORKLOAD_UPDATED"
    : undefined
}

/** Whether a Namespace change matters: its annotations (environments, opt-out) or its identity. */
export const namespaceChanged = (previous: ObjectMeta, current: ObjectMeta): boolean =>
  previous.uid !== current.uid || JSON.stringify(previous.annotations) !== JSON.stringify(current.annotations)

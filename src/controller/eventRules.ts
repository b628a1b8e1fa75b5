import type { PodPhase, SlimOwnerReference, SlimPod } from "../kube/SlimPod.ts"
import type { PodEventType } from "./PodEvent.ts"

/**
 * Which pod changes become work, following the original controller.
 *
 * A record needs the image digest, and the digest only appears in the pod's
 * status once its containers run; so the moment worth reporting is the
 * first time a pod is seen Running. Job pods that finish in under a second
 * can go Pending -> Succeeded between two watch events, so for them the
 * terminal phase counts too, unless they were already seen Running (then
 * they were reported then).
 */

/** Kinds that own pods directly for the workloads we report. */
const SUPPORTED_OWNER_KINDS: ReadonlySet<string> = new Set(["ReplicaSet", "DaemonSet", "StatefulSet", "Job"])

/** The owner reference with `controller: true`, if any (Kubernetes allows at most one). */
export const controllingOwner = (pod: SlimPod): SlimOwnerReference | undefined => {
  const owners = pod.ownerReferences
  for (let index = 0; index < owners.length; index++) {
    const owner = owners[index]
    if (owner !== undefined && owner.controller) return owner
  }
  return undefined
}

/** The pod is controlled by a ReplicaSet, DaemonSet, StatefulSet or Job. */
export const hasSupportedOwner = (pod: SlimPod): boolean => {
  const owner = controllingOwner(pod)
  return owner !== undefined && SUPPORTED_OWNER_KINDS.has(owner.kind)
}

/** The pod is controlled by a Job (directly, or through a CronJob's Job). */
export const isJobPod = (pod: SlimPod): boolean => controllingOwner(pod)?.kind === "Job"

export const isTerminalPhase = (phase: PodPhase): boolean => phase === "Succeeded" || phase === "Failed"

/**
 * The event for an add (`previous` undefined) or an update of a pod, or
 * undefined when the change is not worth reporting.
 *
 * - Added Running, or updated from not-Running to Running: CREATED, when the
 *   pod has a supported owner; an update that is already terminating gives
 *   nothing (the pod is on its way out).
 * - A Job pod reaching Succeeded/Failed without having been seen Running
 *   (added already terminal, or the previous phase was neither Running nor
 *   terminal): CREATED, even while terminating (a Job with a TTL may delete
 *   its pods at once).
 * - Anything else, including Running -> Running re-deliveries after a
 *   relist and Running -> terminal: nothing.
 */
export const eventForChange = (previous: SlimPod | undefined, current: SlimPod): PodEventType | undefined => {
  const phase = current.phase
  if (phase === "Running") {
    if (previous === undefined) return hasSupportedOwner(current) ? "CREATED" : undefined
    if (previous.phase === "Running" || current.terminating) return undefined
    return hasSupportedOwner(current) ? "CREATED" : undefined
  }
  if (isTerminalPhase(phase) && isJobPod(current)) {
    if (previous === undefined) return "CREATED"
    const before = previous.phase
    return before !== "Running" && !isTerminalPhase(before) ? "CREATED" : undefined
  }
  return undefined
}

/**
 * A delete (or a tombstone after a missed delete) of a pod with a supported
 * owner is DELETED; whether a `decommissioned` record follows is decided
 * later, against the workload. Pods without one are ignored here as on the
 * way in: they were never reported, so they must not be decommissioned.
 */
export const eventForDelete = (pod: SlimPod): PodEventType | undefined =>
  hasSupportedOwner(pod) ? "DELETED" : undefined

import { controllingOwner } from "../kube/ownerReferences.ts"
import type { PodPhase, SlimContainer, SlimPod } from "../kube/SlimPod.ts"
import { digestFromImageID } from "../record/imageReference.ts"
import type { Attribution } from "../workload/Attribution.ts"

/**
 * What should be reported for one workload, from its pods alone (pure).
 *
 * A deployment_name is reported `deployed` with the image of the newest
 * pod that runs it; a Running pod beats a Job pod that has finished (a
 * Job's pods may finish before they are ever seen Running). Pods that are
 * being deleted, still pending, or finished without being a Job's do not
 * choose an image; they only say whether the workload still runs.
 */

/** How a pod stands for choosing the reported image: a running one beats a finished Job pod. */
export type Standing = "running" | "finished"

export interface PodUnderWorkload {
  readonly pod: SlimPod
  readonly attribution: Attribution
}

/** The container whose image a deployment_name reports. */
export interface ChosenContainer {
  readonly pod: SlimPod
  readonly container: SlimContainer
  readonly attribution: Attribution
  readonly standing: Standing
}

export interface WorkloadView {
  /** Some pod is neither being deleted nor finished: the workload still runs (or is starting). */
  readonly live: boolean
  /** Per deployment_name. */
  readonly chosen: ReadonlyMap<string, ChosenContainer>
}

export const isTerminalPhase = (phase: PodPhase): boolean => phase === "Succeeded" || phase === "Failed"

const isJobPod = (entry: PodUnderWorkload): boolean => {
  const anchor = entry.attribution.anchor.kind
  return anchor === "Job" || anchor === "CronJob" || controllingOwner(entry.pod.ownerReferences)?.kind === "Job"
}

export const standingOf = (entry: PodUnderWorkload): Standing | undefined => {
  const { phase, terminating } = entry.pod
  if (phase === "Running") return terminating ? undefined : "running"
  // A finished Job pod stands even while it is deleted: a Job with a TTL
  // removes its pods at once.
  return isTerminalPhase(phase) && isJobPod(entry) ? "finished" : undefined
}

export const isLive = (pod: SlimPod): boolean => !pod.terminating && !isTerminalPhase(pod.phase)

const RANK: Readonly<Record<Standing, number>> = { running: 2, finished: 1 }

/** Whether `candidate` should report the name instead of `current`: standing, then the newest pod, then the pod name (so the choice never depends on order). */
const preferred = (candidate: ChosenContainer, current: ChosenContainer): boolean => {
  const rank = RANK[candidate.standing] - RANK[current.standing]
  if (rank !== 0) return rank > 0
  if (candidate.pod.createdAt !== current.pod.createdAt) return candidate.pod.createdAt > current.pod.createdAt
  return candidate.pod.name > current.pod.name
}

/**
 * The workload's view: whether it runs, and the container chosen for each
 * deployment_name (`deploymentNameOf` renders the template for a
 * container). Containers without an image digest yet are not chosen.
 */
export const viewWorkload = (
  pods: Iterable<PodUnderWorkload>,
  deploymentNameOf: (containerName: string) => string
): WorkloadView => {
  let live = false
  const chosen = new Map<string, ChosenContainer>()
  const names = new Map<string, string>()
  const nameOf = (containerName: string) => {
    let name = names.get(containerName)
    if (name === undefined) names.set(containerName, name = deploymentNameOf(containerName))
    return name
  }
  const consider = (entry: PodUnderWorkload, standing: Standing, container: SlimContainer) => {
    if (digestFromImageID(container.imageID) === undefined) return
    const name = nameOf(container.name)
    const candidate: ChosenContainer = { pod: entry.pod, container, attribution: entry.attribution, standing }
    const current = chosen.get(name)
    if (current === undefined || preferred(candidate, current)) chosen.set(name, candidate)
  }
  for (const entry of pods) {
    if (isLive(entry.pod)) live = true
    const standing = standingOf(entry)
    if (standing === undefined) continue
    for (const container of entry.pod.containers) consider(entry, standing, container)
    for (const container of entry.pod.initContainers) consider(entry, standing, container)
  }
  return { live, chosen }
}

import type { DeploymentRecord } from "../record/DeploymentRecord.ts"

/**
 * A record the start-up sync may send: built (status `deployed`) from a pod
 * found in the cache, with what decides between pods during a rollout.
 */
export interface BulkSyncCandidate {
  readonly record: DeploymentRecord
  /** When the pod started, epoch ms (the original compares creationTimestamp: SlimPod.createdAt). */
  readonly podStartedAt: number
  /** Running pods win over finished Job pods for the same deployment_name. */
  readonly podRunning: boolean
}

/** A deployment_name seen with several digests (a rollout in progress): which one was kept. */
export interface DigestConflict {
  readonly deploymentName: string
  readonly chosenDigest: string
  readonly droppedDigests: ReadonlyArray<string>
}

export interface Selection {
  /** One record per deployment_name, sorted by deployment_name. */
  readonly records: ReadonlyArray<DeploymentRecord>
  readonly conflicts: ReadonlyArray<DigestConflict>
}

/**
 * Whether `candidate` should replace `current` for their deployment_name:
 * a Running pod over a finished one, then the newer pod. Equal start times
 * fall back to the digest, so the choice does not depend on input order.
 */
const preferred = (candidate: BulkSyncCandidate, current: BulkSyncCandidate): boolean => {
  if (candidate.podRunning !== current.podRunning) return candidate.podRunning
  if (candidate.podStartedAt !== current.podStartedAt) return candidate.podStartedAt > current.podStartedAt
  return candidate.record.digest > current.record.digest
}

/** Code-unit order, as the original's byte-wise sort (no locale rules). */
const byDeploymentName = (a: DeploymentRecord, b: DeploymentRecord): number =>
  a.deployment_name < b.deployment_name ? -1 : a.deployment_name > b.deployment_name ? 1 : 0

/**
 * One record per deployment_name: the jobs API wants each name once, and
 * during a rollout old and new pods carry different digests for the same
 * name; the newest Running pod shows where the rollout is going.
 */
export const selectRecords = (candidates: Iterable<BulkSyncCandidate>): Selection => {
  const winners = new Map<string, BulkSyncCandidate>()
  const digestsByName = new Map<string, Set<string>>()
  for (const candidate of candidates) {
    const name = candidate.record.deployment_name
    const current = winners.get(name)
    if (current === undefined || preferred(candidate, current)) winners.set(name, candidate)
    let digests = digestsByName.get(name)
    if (digests === undefined) digestsByName.set(name, digests = new Set())
    digests.add(candidate.record.digest)
  }
  const records = Array.from(winners.values(), (winner) => winner.record).sort(byDeploymentName)
  const conflicts: Array<DigestConflict> = []
  for (const record of records) {
    const digests = digestsByName.get(record.deployment_name)
    if (digests !== undefined && digests.size > 1) {
      conflicts.push({
        deploymentName: record.deployment_name,
        chosenDigest: record.digest,
        droppedDigests: [...digests].filter((digest) => digest !== record.digest).sort()
      })
    }
  }
  return { records, conflicts }
}

/** Consecutive slices of at most `size` items (the jobs API's limit per request). */
export const chunk = <A>(items: ReadonlyArray<A>, size: number): ReadonlyArray<ReadonlyArray<A>> => {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`chunk size must be a positive integer, got ${size}`)
  const chunks: Array<ReadonlyArray<A>> = []
  for (let start = 0; start < items.length; start += size) chunks.push(items.slice(start, start + size))
  return chunks
}

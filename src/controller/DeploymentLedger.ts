import type { DeploymentRecord } from "../record/DeploymentRecord.ts"
import { type Workload, workloadIdentity } from "../workload/Workload.ts"

/**
 * What this process last reported (or found running) for each
 * deployment_name, and which workload that name belongs to. It is what
 * makes decommissions independent of event order:
 *
 * - a workload's deletion seen on the workload watch decommissions the names
 *   it deployed even when its pods were deleted (and judged "still active")
 *   earlier;
 * - a name belongs to one workload object (uid) at a time: when a workload is
 *   deleted and recreated under the same name, the old one's decommission
 *   cannot overwrite the new one's `deployed`;
 * - within one workload, a `deployed` from an older event never overwrites
 *   a newer one (events carry their receipt sequence number).
 *
 * Not thread-safe by itself: callers hold the deployment_name's mutex.
 */

/**
 * The part of a workload that identifies it. `apiVersion` is known for
 * workloads found through a pod's owner chain (the ones whose names are
 * deployed); persistence needs it to ask the API about custom kinds later.
 */
export type WorkloadRef = Pick<Workload, "kind" | "namespace" | "name" | "uid"> & { readonly apiVersion?: string }

export interface LedgerEntry {
  readonly owner: WorkloadRef
  readonly status: "deployed" | "decommissioned"
  /** Receipt sequence number of the newest event that set this entry. */
  readonly seq: number
  /** The record last reported or found for the name (its digest and fields are reused for the decommission). */
  readonly record: DeploymentRecord
}

/**
 * Same workload object: same uid, or the same kind/namespace/name when one
 * side's uid is unknown (a pod whose ReplicaSet was already gone).
 */
export const sameOwner = (left: WorkloadRef, right: WorkloadRef): boolean =>
  left.uid !== "" && right.uid !== ""
    ? left.uid === right.uid
    : left.kind === right.kind && left.namespace === right.namespace && left.name === right.name

/** How long a decommissioned name is remembered, to stop stale events for it. */
export const SETTLED_LIFETIME_MILLIS = 15 * 60_000

export interface DeploymentLedger {
  readonly get: (deploymentName: string) => LedgerEntry | undefined
  /** Names currently `deployed` by this workload. */
  readonly namesOf: (owner: WorkloadRef) => ReadonlyArray<string>
  readonly set: (entry: LedgerEntry, now: number) => void
  readonly size: () => number
  /** Every `deployed` entry, with the time it was set. */
  readonly deployed: () => ReadonlyArray<{ readonly entry: LedgerEntry; readonly at: number }>
  /** Grows with every `set`: a cheap way to see whether anything changed. */
  readonly revision: () => number
}

export const makeDeploymentLedger = (): DeploymentLedger => {
  const byName = new Map<string, LedgerEntry>()
  const byOwner = new Map<string, Set<string>>()
  const setAt = new WeakMap<LedgerEntry, number>()
  let revision = 0
  // Decommissioned entries in the order they settled, for expiry. A name can
  // settle more than once (decommissioned, deployed again by a new workload,
  // decommissioned again); only its current entry's own time counts.
  const settled: Array<{ readonly name: string; readonly entry: LedgerEntry; readonly at: number }> = []

  const ownerKeys = (owner: WorkloadRef): ReadonlyArray<string> => {
    const byUid = workloadIdentity(owner)
    const byNameKey = workloadIdentity({ ...owner, uid: "" })
    return byUid === byNameKey ? [byUid] : [byUid, byNameKey]
  }

  const unlink = (name: string, entry: LedgerEntry) => {
    for (const key of ownerKeys(entry.owner)) {
      const names = byOwner.get(key)
      names?.delete(name)
      if (names?.size === 0) byOwner.delete(key)
    }
  }

  const expire = (now: number) => {
    while (settled.length > 0 && settled[0]!.at + SETTLED_LIFETIME_MILLIS <= now) {
      const { entry, name } = settled.shift()!
      if (byName.get(name) === entry) byName.delete(name)
    }
  }

  return {
    get: (name) => byName.get(name),
    namesOf: (owner) => {
      // Indexed by uid and by name, so an owner known only by name finds what its uid deployed.
      const found = new Set<string>()
      for (const key of ownerKeys(owner)) {
        for (const name of byOwner.get(key) ?? []) {
          const entry = byName.get(name)
          if (entry !== undefined && entry.status === "deployed" && sameOwner(entry.owner, owner)) found.add(name)
        }
      }
      return [...found].sort()
    },
    set: (entry, now) => {
      expire(now)
      revision += 1
      setAt.set(entry, now)
      const name = entry.record.deployment_name
      const previous = byName.get(name)
      if (previous !== undefined) unlink(name, previous)
      byName.set(name, entry)
      if (entry.status === "deployed") {
        for (const key of ownerKeys(entry.owner)) {
          let names = byOwner.get(key)
          if (names === undefined) byOwner.set(key, names = new Set())
          names.add(name)
        }
      } else {
        settled.push({ name, entry, at: now })
      }
    },
    size: () => byName.size,
    deployed: () =>
      [...byName.values()].filter((entry) => entry.status === "deployed").map((entry) => ({ entry, at: setAt.get(entry) ?? 0 })),
    revision: () => revision
  }
}

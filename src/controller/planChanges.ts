import type { DeploymentRecord } from "../record/DeploymentRecord.ts"
import { recordIdentity } from "../record/recordIdentity.ts"
import { sameRecord } from "../record/sameRecord.ts"
import type { WorkloadOwner } from "../kube/ObjectIdentity.ts"
import type { Standing } from "./desiredState.ts"

/**
 * What must be sent to make GitHub agree with a workload's desired state
 * (pure): the difference between the records its pods call for and what
 * was last reported under its key.
 *
 * - A name a Running pod reports is `deployed` with that pod's record.
 * - A name only a finished Job pod reports is `deployed` while the
 *   workload object exists.
 * - Any other name reported under the key stays as it is while the
 *   workload runs a pod or its object exists (scale to zero, a rollout
 *   between pods), and is `decommissioned` once neither holds: the object is
 *   gone (or being deleted) and no pod that ran under the name still runs.
 *   A pod orphaned by `--cascade=orphan` still runs, so its names stay.
 * - A record the workload no longer stands for at all (`retired`: it opted
 *   out, its Namespace left the selection, or its Namespace's environment
 *   changed and the name moved to another record) is `decommissioned` at
 *   once.
 * - Nothing is sent for what GitHub was already told.
 *
 * Records are keyed by identity (recordIdentity: environments and name).
 */

export interface DesiredRecord {
  readonly record: DeploymentRecord
  readonly owner: WorkloadOwner
  readonly standing: Standing
}

export interface ReportedRecord {
  readonly record: DeploymentRecord
  readonly owner: WorkloadOwner
}

export type Change =
  /** Post `record` (deployed); the name then belongs to `owner`. */
  | { readonly _tag: "Deploy"; readonly record: DeploymentRecord; readonly owner: WorkloadOwner }
  /** Post `record` (decommissioned, the last reported one with its status changed). */
  | { readonly _tag: "Decommission"; readonly record: DeploymentRecord }
  /** Nothing to send, but the name's owner changed (a recreated workload): remember the new one. */
  | { readonly _tag: "Adopt"; readonly identity: string; readonly owner: WorkloadOwner }

export interface WorkloadState {
  readonly desired: ReadonlyMap<string, DesiredRecord>
  readonly reported: ReadonlyMap<string, ReportedRecord>
  /** A pod of the workload neither being deleted nor finished. */
  readonly live: boolean
  /** Reported records to decommission whatever else holds. */
  readonly retired?: ReadonlySet<string>
}

const sameOwnerObject = (left: WorkloadOwner, right: WorkloadOwner): boolean =>
  left.uid === right.uid && left.kind === right.kind && left.name === right.name && left.namespace === right.namespace

/**
 * Whether the plan depends on the workload object existing: a name only a
 * finished Job pod reports, or a reported name no Running pod reports while
 * no pod runs. Only then is existence looked up (for kinds that are not
 * watched, that is a read of the API).
 */
export const presenceNeeded = (state: WorkloadState): boolean => {
  for (const desired of state.desired.values()) if (desired.standing === "finished") return true
  if (state.live) return false
  for (const identity of state.reported.keys()) {
    if (state.retired?.has(identity) !== true && state.desired.get(identity)?.standing !== "running") return true
  }
  return false
}

export const planChanges = (state: WorkloadState, present: boolean): ReadonlyArray<Change> => {
  const changes: Array<Change> = []
  const covered = new Set<string>()
  for (const [identity, desired] of state.desired) {
    if (desired.standing === "finished" && !present) continue
    covered.add(identity)
    const reported = state.reported.get(identity)
    if (reported === undefined || !sameRecord(reported.record, desired.record)) {
      changes.push({ _tag: "Deploy", record: desired.record, owner: desired.owner })
    } else if (!sameOwnerObject(reported.owner, desired.owner)) {
      changes.push({ _tag: "Adopt", identity, owner: desired.owner })
    }
  }
  const gone = !state.live && !present
  for (const [identity, reported] of state.reported) {
    if (covered.has(identity)) continue
    if (gone || state.retired?.has(identity) === true) {
      changes.push({ _tag: "Decommission", record: { ...reported.record, status: "decommissioned" } })
    }
  }
  return changes.sort((a, b) => nameOf(a) < nameOf(b) ? -1 : nameOf(a) > nameOf(b) ? 1 : 0)
}

const nameOf = (change: Change): string => change._tag === "Adopt" ? change.identity : recordIdentity(change.record)

import type { DeploymentRecord } from "../record/DeploymentRecord.ts"
import { sameRecord } from "../record/sameRecord.ts"
import type { WorkloadOwner } from "../workload/Attribution.ts"
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
 * - Nothing is sent for what GitHub was already told.
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
  | { readonly _tag: "Adopt"; readonly deploymentName: string; readonly owner: WorkloadOwner }

export interface WorkloadState {
  readonly desired: ReadonlyMap<string, DesiredRecord>
  readonly reported: ReadonlyMap<string, ReportedRecord>
  /** A pod of the workload neither being deleted nor finished. */
  readonly live: boolean
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
  for (const name of state.reported.keys()) {
    if (state.desired.get(name)?.standing !== "running") return true
  }
  return false
}

export const planChanges = (state: WorkloadState, present: boolean): ReadonlyArray<Change> => {
  const changes: Array<Change> = []
  const covered = new Set<string>()
  for (const [name, desired] of state.desired) {
    if (desired.standing === "finished" && !present) continue
    covered.add(name)
    const reported = state.reported.get(name)
    if (reported === undefined || !sameRecord(reported.record, desired.record)) {
      changes.push({ _tag: "Deploy", record: desired.record, owner: desired.owner })
    } else if (!sameOwnerObject(reported.owner, desired.owner)) {
      changes.push({ _tag: "Adopt", deploymentName: name, owner: desired.owner })
    }
  }
  if (!state.live && !present) {
    for (const [name, reported] of state.reported) {
      if (!covered.has(name)) changes.push({ _tag: "Decommission", record: { ...reported.record, status: "decommissioned" } })
    }
  }
  return changes.sort((a, b) => nameOf(a) < nameOf(b) ? -1 : nameOf(a) > nameOf(b) ? 1 : 0)
}

const nameOf = (change: Change): string => change._tag === "Adopt" ? change.deploymentName : change.record.deployment_name

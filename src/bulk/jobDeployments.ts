import type { ClusterJobDeployment } from "../github/ClusterJob.ts"
import type { DeploymentRecord } from "../record/DeploymentRecord.ts"
import { validateRecord } from "../record/validateRecord.ts"

/** A record ready for a job: the item sent, and the record it stands for (what the caches key on). */
export interface JobItem {
  readonly record: DeploymentRecord
  readonly deployment: ClusterJobDeployment
}

export interface RejectedRecord {
  readonly record: DeploymentRecord
  readonly field: string
  readonly reason: string
}

export interface PreparedDeployments {
  readonly items: ReadonlyArray<JobItem>
  /** Records the schema would reject: left out so that one bad record cannot fail the whole job. */
  readonly invalid: ReadonlyArray<RejectedRecord>
  /** Changes made to fit the schema (e.g. an over-long version dropped), for the log. */
  readonly adjustments: ReadonlyArray<{ readonly deploymentName: string; readonly note: string }>
}

type DeploymentDraft = { -readonly [K in keyof ClusterJobDeployment]: ClusterJobDeployment[K] }

/** The job item for a record: its own fields; environments and cluster travel in the body and path. */
export const toJobDeployment = (record: DeploymentRecord): ClusterJobDeployment => {
  const item: DeploymentDraft = {
    name: record.name,
    digest: record.digest,
    status: record.status,
    deployment_name: record.deployment_name
  }
  if (record.version !== undefined) item.version = record.version
  if (record.github_repository !== undefined) item.github_repository = record.github_repository
  if (record.tags !== undefined) item.tags = record.tags
  if (record.runtime_risks !== undefined) item.runtime_risks = record.runtime_risks
  return item
}

/**
 * Checks each record against the item schema before it goes into a job.
 * The per-record validator's limits match the job item's (name 1..256,
 * the digest pattern, the status enum, deployment_name 1..256, version up
 * to 100, github_repository's pattern and 100 characters, runtime risks:
 * at most 4 known, unique); it is stricter in two places the records built
 * here never reach (at most 5 tags; an empty version), so it is reused as is.
 * Only `deployed` records belong in a start-up snapshot.
 */
export const prepareDeployments = (records: ReadonlyArray<DeploymentRecord>): PreparedDeployments => {
  const items: Array<JobItem> = []
  const invalid: Array<RejectedRecord> = []
  const adjustments: Array<{ deploymentName: string; note: string }> = []
  for (const record of records) {
    if (record.status !== "deployed") {
      invalid.push({ record, field: "status", reason: `a start-up sync sends only deployed records, got ${record.status}` })
      continue
    }
    const checked = validateRecord(record)
    if (!checked.ok) {
      invalid.push({ record, field: checked.field, reason: checked.reason })
      continue
    }
    for (const note of checked.adjustments) adjustments.push({ deploymentName: record.deployment_name, note })
    items.push({ record: checked.record, deployment: toJobDeployment(checked.record) })
  }
  return { items, invalid, adjustments }
}

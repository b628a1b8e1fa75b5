import type { JobErrorEntry } from "../github/ClusterJob.ts"
import type { DeploymentRecord } from "../record/DeploymentRecord.ts"
import { DIGEST_PATTERN } from "../record/validateRecord.ts"

/** A job error matched (or not) to the records it concerns. */
export interface AttributedError {
  readonly error: JobErrorEntry
  /** The submitted records it names; empty when nothing identifies them. */
  readonly records: ReadonlyArray<DeploymentRecord>
}

export interface JobErrorsVerdict {
  readonly attributed: ReadonlyArray<AttributedError>
  /** Submitted records no error names: what GitHub took. */
  readonly clean: ReadonlyArray<DeploymentRecord>
  /** Digests GitHub found no artifact for (`not_found`), to be cached as unknown. */
  readonly unknownDigests: ReadonlyArray<string>
}

const NOT_FOUND = "not_found"

/**
 * Matches job errors (the 202's rejections, a finished job's errors) to the
 * submitted records. The most exact field wins: deployment_name (unique in
 * a job), then digest, then the artifact name GitHub's controller reads.
 * A name can stand for several digests; its records are all excluded from
 * "accepted" (being wrong there only costs a re-post), but a digest is
 * reported unknown only when the error or an unambiguous match gives it.
 */
export const attributeJobErrors = (
  submitted: ReadonlyArray<DeploymentRecord>,
  errors: ReadonlyArray<JobErrorEntry>
): JobErrorsVerdict => {
  if (errors.length === 0) return { attributed: [], clean: submitted, unknownDigests: [] }
  const byDeploymentName = new Map<string, DeploymentRecord>()
  const byDigest = new Map<string, Array<DeploymentRecord>>()
  const byName = new Map<string, Array<DeploymentRecord>>()
  for (const record of submitted) {
    byDeploymentName.set(record.deployment_name, record)
    append(byDigest, record.digest, record)
    append(byName, record.name, record)
  }

  const named = new Set<DeploymentRecord>()
  const unknown = new Set<string>()
  const attributed = errors.map((error): AttributedError => {
    const exact = error.deployment_name === undefined ? undefined : byDeploymentName.get(error.deployment_name)
    const records = exact !== undefined
      ? [exact]
      : (error.digest === undefined ? undefined : byDigest.get(error.digest)) ??
        (error.name === undefined ? undefined : byName.get(error.name)) ?? []
    for (const record of records) named.add(record)
    if (error.cause === NOT_FOUND) {
      const digest = error.digest !== undefined && DIGEST_PATTERN.test(error.digest)
        ? error.digest
        : singleDigest(records)
      if (digest !== undefined) unknown.add(digest)
    }
    return { error, records }
  })
  return {
    attributed,
    clean: submitted.filter((record) => !named.has(record)),
    unknownDigests: [...unknown].sort()
  }
}

const append = <K, V>(map: Map<K, Array<V>>, key: K, value: V): void => {
  const list = map.get(key)
  if (list === undefined) map.set(key, [value])
  else list.push(value)
}

const singleDigest = (records: ReadonlyArray<DeploymentRecord>): string | undefined => {
  const digests = new Set(records.map((record) => record.digest))
  return digests.size === 1 ? [...digests][0] : undefined
}

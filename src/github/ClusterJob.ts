import { Either, ParseResult, Schema } from "effect"
import type { RecordStatus, RuntimeRisk } from "../record/DeploymentRecord.ts"
import { codePointLength } from "../record/validateRecord.ts"

/**
 * The cluster deployment-records job API, as GitHub's OpenAPI description
 * (orgs/create-cluster-deployment-records-job and
 * orgs/get-cluster-deployment-records-job) defines it.
 */

/** `deployments` takes at most this many items. */
export const MAX_DEPLOYMENTS_PER_JOB = 5000

/** The `{cluster}` path parameter: 1..128 characters of this alphabet. */
export const CLUSTER_PATH_PATTERN = /^[a-zA-Z0-9._-]+$/
export const CLUSTER_PATH_MAX_LENGTH = 128

/**
 * One item of `deployments`. Environment and cluster are not per item: they
 * come from the body and the path.
 */
export interface ClusterJobDeployment {
  readonly name: string
  readonly digest: string
  readonly version?: string
  readonly status: RecordStatus
  readonly deployment_name: string
  readonly github_repository?: string
  readonly tags?: Readonly<Record<string, string>>
  readonly runtime_risks?: ReadonlyArray<RuntimeRisk>
}

/**
 * The POST body. The description has no `partial_success` (the original
 * sends it anyway; GitHub ignores unknown properties): a job always
 * processes the deployments it accepted and reports the rest in `errors`.
 */
export interface ClusterJobRequest {
  readonly logical_environment: string
  readonly physical_environment: string
  readonly deployments: ReadonlyArray<ClusterJobDeployment>
}

/**
 * Why a job for this cluster and these environments cannot be sent at all
 * (the path or body envelope breaks the schema), or undefined when it can.
 */
export const jobEnvelopeProblem = (envelope: {
  readonly cluster: string
  readonly logicalEnvironment: string
  readonly physicalEnvironment: string
}): string | undefined => {
  const { cluster, logicalEnvironment, physicalEnvironment } = envelope
  if (!CLUSTER_PATH_PATTERN.test(cluster)) {
    return `cluster name ${JSON.stringify(cluster)} cannot be used in the jobs URL (allowed: letters, digits, '.', '_', '-')`
  }
  if (cluster.length > CLUSTER_PATH_MAX_LENGTH) {
    return `cluster name is ${cluster.length} characters; the jobs URL allows at most ${CLUSTER_PATH_MAX_LENGTH}`
  }
  if (logicalEnvironment.length === 0) return "logical_environment must not be empty"
  if (codePointLength(logicalEnvironment) > 128) return "logical_environment must be at most 128 characters"
  if (codePointLength(physicalEnvironment) > 128) return "physical_environment must be at most 128 characters"
  return undefined
}

/** The 202 body: the job, and the deployments refused while authorizing. */
export const JobAccepted = Schema.Struct({
  job_id: Schema.Int,
  errors: Schema.optional(Schema.Array(Schema.Unknown))
})
export type JobAccepted = typeof JobAccepted.Type

export const JobState = Schema.Literal("pending", "processing", "completed", "failed")
export type JobState = typeof JobState.Type

/** The GET body. `total_count` only when completed; `errors` when completed or failed. */
export const JobStatus = Schema.Struct({
  job_id: Schema.Int,
  status: JobState,
  started_at: Schema.optional(Schema.String),
  total_count: Schema.optional(Schema.Int),
  errors: Schema.optional(Schema.Array(Schema.Unknown))
})
export type JobStatus = typeof JobStatus.Type

export const isFinished = (status: JobStatus): boolean => status.status === "completed" || status.status === "failed"

const decodeText = <A, I>(schema: Schema.Schema<A, I>) => {
  const decode = Schema.decodeUnknownEither(Schema.parseJson(schema))
  return (body: string): Either.Either<A, string> =>
    decode(body).pipe(Either.mapLeft((error) => ParseResult.TreeFormatter.formatErrorSync(error)))
}

/** Parses a 202 body; Left is a readable reason. */
export const parseJobAccepted = decodeText(JobAccepted)

/** Parses a job status body; Left is a readable reason. */
export const parseJobStatus = decodeText(JobStatus)

/**
 * One entry of a job's `errors`. The description types the items only as
 * objects; GitHub's controller reads `name` and `cause` (`unauthorized`,
 * `not_found`), and other fields may identify the deployment more exactly.
 * Every field is optional: an item we cannot read is kept as `raw` for the log.
 */
export interface JobErrorEntry {
  readonly cause?: string
  readonly name?: string
  readonly deployment_name?: string
  readonly digest?: string
  readonly message?: string
  /** The item as JSON, shortened, for the log. */
  readonly raw: string
}

type JobErrorDraft = { -readonly [K in keyof JobErrorEntry]: JobErrorEntry[K] }

const STRING_FIELDS = ["cause", "name", "deployment_name", "digest", "message"] as const

export const parseJobError = (item: unknown): JobErrorEntry => {
  const json = JSON.stringify(item) ?? String(item)
  const entry: JobErrorDraft = { raw: json.length > 300 ? `${json.slice(0, 300)}...` : json }
  if (typeof item === "object" && item !== null) {
    for (const field of STRING_FIELDS) {
      const value = (item as Record<string, unknown>)[field]
      if (typeof value === "string") entry[field] = value
    }
  }
  return entry
}

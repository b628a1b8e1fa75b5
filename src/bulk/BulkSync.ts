import { Cause, Duration, Effect } from "effect"
import { Config } from "../config/Config.ts"
import { jobEnvelopeProblem, MAX_DEPLOYMENTS_PER_JOB, parseJobError } from "../github/ClusterJob.ts"
import { ClusterJobClient } from "../github/ClusterJobClient.ts"
import type { Environment } from "../metadata/trackerAnnotations.ts"
import type { DeploymentRecord } from "../record/DeploymentRecord.ts"
import { type JobItem, prepareDeployments } from "./jobDeployments.ts"
import { type AttributedError, attributeJobErrors } from "./jobResult.ts"
import { chunk } from "./chunk.ts"

/**
 * How the start-up sync ended.
 * - completed: every job completed (some deployments may still have been rejected).
 * - failed: a job ended `failed`; its records are not seen.
 * - conflict: 409, another job for this cluster is running; the submitted records count as seen.
 * - unavailable: 404, the jobs endpoint does not exist here.
 * - skipped: nothing was sent: turned off, nothing to sync, or a cluster name the URL cannot carry.
 * - dry-run: `-dry-run`: the jobs were built and logged, nothing was sent.
 * - error: a request failed, an answer did not parse, or the job did not finish in time.
 * With several jobs, the first job that did not complete decides.
 */
export type BulkSyncOutcomeKind = "completed" | "failed" | "conflict" | "unavailable" | "skipped" | "dry-run" | "error"

export type BulkSyncJobOutcome = Exclude<BulkSyncOutcomeKind, "skipped">

/** One job (at most 5000 deployments) of the sync. */
export interface BulkSyncJobReport {
  readonly outcome: BulkSyncJobOutcome
  /** GitHub's job id, when the job was accepted. */
  readonly jobId: number | undefined
  readonly submitted: number
  /** Records GitHub took (in `seen`). */
  readonly accepted: number
  /** Records named by a rejection or a processing error. */
  readonly rejected: number
  readonly reason: string
}

export interface BulkSyncCounts {
  /** Records the workloads call for (one per deployment_name). */
  readonly candidates: number
  /** Records the item schema would reject, not sent. */
  readonly invalid: number
  readonly submitted: number
  /** Records of jobs never submitted because an earlier job ended the sync (conflict, unavailable, error). */
  readonly notSent: number
  readonly seen: number
  readonly rejected: number
  readonly unknownDigests: number
}

export interface BulkSyncOutcome {
  readonly outcome: BulkSyncOutcomeKind
  /** Why, in a few words (for logs and the controller). */
  readonly reason: string
  /**
   * Records GitHub accepted (on a 409, the ones submitted), to go into the
   * seen cache as (deployed, deployment_name, digest). Everything else goes
   * through the per-record path.
   */
  readonly seen: ReadonlyArray<DeploymentRecord>
  /** Digests GitHub knows no artifact for (`not_found`): to be cached as unknown artifacts. */
  readonly unknownDigests: ReadonlyArray<string>
  readonly jobs: ReadonlyArray<BulkSyncJobReport>
  readonly counts: BulkSyncCounts
}

interface JobRun {
  readonly report: BulkSyncJobReport
  readonly seen: ReadonlyArray<DeploymentRecord>
  readonly unknownDigests: ReadonlyArray<string>
}

const ZERO_COUNTS: BulkSyncCounts = {
  candidates: 0,
  invalid: 0,
  submitted: 0,
  notSent: 0,
  seen: 0,
  rejected: 0,
  unknownDigests: 0
}

const nothingSent = (
  outcome: "skipped" | "error",
  reason: string,
  counts: Partial<BulkSyncCounts> = {}
): BulkSyncOutcome => ({
  outcome,
  reason,
  seen: [],
  unknownDigests: [],
  jobs: [],
  counts: { ...ZERO_COUNTS, ...counts }
})

/**
 * The start-up bulk sync: every running workload's records in as few
 * cluster jobs as the API allows (5000 deployments each, one after
 * another), instead of one request per record. `run` never fails: whatever
 * happens, the controller gets an outcome and sends what was not synced
 * through the per-record path.
 */
export class BulkSync extends Effect.Service<BulkSync>()("deployment-tracker/BulkSync", {
  effect: Effect.gen(function*() {
    const config = yield* Config
    const client = yield* ClusterJobClient

    const logJobErrors = (jobId: number, stage: string, errors: ReadonlyArray<AttributedError>) =>
      Effect.forEach(errors, ({ error, records }) => {
        const log = error.cause === "not_found"
          ? Effect.logInfo("No artifact found; digest cached as unknown")
          : Effect.logWarning("Deployment not recorded by the cluster job")
        return log.pipe(Effect.annotateLogs({
          job_id: jobId,
          stage,
          cause: error.cause ?? "unknown",
          deployment_name: records.length === 1 ? records[0]?.deployment_name : error.deployment_name,
          name: error.name,
          digest: error.digest ?? (records.length === 1 ? records[0]?.digest : undefined),
          ...(error.cause === undefined || records.length === 0 ? { error: error.raw } : {})
        }))
      }, { discard: true })

    const runJob = (items: ReadonlyArray<JobItem>, environment: Environment): Effect.Effect<JobRun> =>
      Effect.gen(function*() {
        const submitted = items.map((item) => item.record)
        const report = (
          outcome: BulkSyncJobOutcome,
          reason: string,
          extra: { jobId?: number; seen?: ReadonlyArray<DeploymentRecord>; rejected?: number; unknown?: ReadonlyArray<string> } =
            {}
        ): JobRun => ({
          report: {
            outcome,
            jobId: extra.jobId,
            submitted: submitted.length,
            accepted: extra.seen?.length ?? 0,
            rejected: extra.rejected ?? 0,
            reason
          },
          seen: extra.seen ?? [],
          unknownDigests: extra.unknown ?? []
        })

        const ended = (run: JobRun) => ({ _tag: "Ended", run } as const)
        const jobFailed = (reason: string) =>
          Effect.logError("Creating the cluster job failed").pipe(
            Effect.annotateLogs({ error: reason }),
            Effect.as(ended(report("error", reason)))
          )

        // What ends a job early is recovered by tag into the job's report.
        const created = yield* client.createJob({
          logical_environment: environment.logical,
          physical_environment: environment.physical,
          deployments: items.map((item) => item.deployment)
        }).pipe(
          Effect.map((accepted) => ({ _tag: "Accepted", accepted } as const)),
          Effect.catchTags({
            JobConflict: (error) =>
              Effect.logWarning("A cluster job is already in progress; start-up sync skipped, submitted records treated as posted").pipe(
                Effect.annotateLogs({ reason: error.message }),
                Effect.as(ended(report("conflict", "a job is already in progress for this cluster", { seen: submitted })))
              ),
            JobsUnavailable: (error) =>
              Effect.logInfo("Cluster jobs endpoint not available; start-up sync skipped").pipe(
                Effect.annotateLogs({ reason: error.message }),
                Effect.as(ended(report("unavailable", "the jobs endpoint answered 404")))
              ),
            ClientError: (error) =>
              Effect.logError("Creating the cluster job was refused").pipe(
                Effect.annotateLogs({ http_status: error.status, error: error.message }),
                Effect.as(ended(report("error", `HTTP ${error.status}: ${error.message}`)))
              ),
            UnexpectedResponse: (error) =>
              Effect.logError("Unexpected answer to the cluster job request").pipe(
                Effect.annotateLogs({ http_status: error.status, error: error.reason, body: error.body }),
                Effect.as(ended(report("error", error.reason)))
              ),
            HardFailure: (error) => jobFailed(error.reason),
            InvalidJobRequest: (error) => jobFailed(error.reason)
          })
        )
        if (created._tag === "Ended") return created.run

        const jobId = created.accepted.job_id
        const atSubmit = attributeJobErrors(submitted, (created.accepted.errors ?? []).map(parseJobError))
        yield* logJobErrors(jobId, "submission", atSubmit.attributed)
        yield* Effect.logInfo("Cluster job submitted").pipe(Effect.annotateLogs({
          job_id: jobId,
          deployments: submitted.length,
          rejected: atSubmit.attributed.length
        }))
        const rejectedAtSubmit = submitted.length - atSubmit.clean.length

        // Not knowing whether it will complete, its records are not marked seen:
        // re-posting them costs requests, assuming them posted could lose them.
        const waitFailed = (reason: string, body?: string) =>
          Effect.logError("Waiting for the cluster job failed; its records go through the per-record path").pipe(
            Effect.annotateLogs({ job_id: jobId, error: reason, ...(body === undefined ? {} : { body }) }),
            Effect.as(ended(report("error", reason, { jobId, rejected: rejectedAtSubmit, unknown: atSubmit.unknownDigests })))
          )
        const finished = yield* client.awaitJob(jobId).pipe(
          Effect.map((status) => ({ _tag: "Finished", status } as const)),
          Effect.catchTags({
            JobWaitTimeout: (error) => waitFailed(`job ${jobId} still ${error.lastState} after ${Duration.format(error.waited)}`),
            ClientError: (error) => waitFailed(`reading job ${jobId} failed: HTTP ${error.status}: ${error.message}`),
            UnexpectedResponse: (error) => waitFailed(`reading job ${jobId}: ${error.reason}`, error.body),
            HardFailure: (error) => waitFailed(`reading job ${jobId} failed: ${error.reason}`)
          })
        )
        if (finished._tag === "Ended") return finished.run

        const { status } = finished
        const atEnd = attributeJobErrors(atSubmit.clean, (status.errors ?? []).map(parseJobError))
        yield* logJobErrors(jobId, status.status, atEnd.attributed)
        const unknown = [...new Set([...atSubmit.unknownDigests, ...atEnd.unknownDigests])].sort()
        const rejected = submitted.length - atEnd.clean.length
        if (status.status === "failed") {
          yield* Effect.logWarning("Cluster job failed; its records go through the per-record path").pipe(
            Effect.annotateLogs({ job_id: jobId, errors: status.errors?.length ?? 0 })
          )
          return report("failed", `job ${jobId} failed`, { jobId, rejected, unknown })
        }
        yield* Effect.logInfo("Cluster job completed").pipe(Effect.annotateLogs({
          job_id: jobId,
          total_count: status.total_count,
          accepted: atEnd.clean.length,
          errors: status.errors?.length ?? 0
        }))
        yield* Effect.forEach(atEnd.clean, (record) =>
          Effect.logDebug("Synced record").pipe(Effect.annotateLogs({
            job_id: jobId,
            name: record.name,
            deployment_name: record.deployment_name,
            digest: record.digest
          })), { discard: true })
        return report("completed", `job ${jobId} completed`, { jobId, seen: atEnd.clean, rejected, unknown })
      }).pipe(Effect.annotateLogs({ deployments_in_job: items.length }))

    const logDryRun = (jobs: ReadonlyArray<PlannedJob>) =>
      Effect.forEach(jobs, ({ environment, items }, index) =>
        Effect.forEach(items, ({ deployment }) =>
          Effect.logInfo("Dry run: record not sent").pipe(Effect.annotateLogs({
            job: index + 1,
            name: deployment.name,
            deployment_name: deployment.deployment_name,
            digest: deployment.digest,
            version: deployment.version,
            tags: deployment.tags,
            runtime_risks: deployment.runtime_risks
          })), { discard: true }).pipe(
            Effect.zipRight(Effect.logInfo("Dry run: cluster job not sent").pipe(Effect.annotateLogs({
              job: index + 1,
              jobs: jobs.length,
              deployments: items.length,
              logical_environment: environment.logical,
              physical_environment: environment.physical,
              cluster: config.cluster
            })))
          ), { discard: true })

    const sync = (candidates: ReadonlyArray<DeploymentRecord>): Effect.Effect<BulkSyncOutcome> =>
      Effect.gen(function*() {
        if (!config.bulkClusterSync) return nothingSent("skipped", "BULK_CLUSTER_SYNC is off")
        const clusterProblem = jobEnvelopeProblem({
          cluster: config.cluster,
          logicalEnvironment: config.logicalEnvironment,
          physicalEnvironment: config.physicalEnvironment
        })
        if (clusterProblem !== undefined) {
          yield* Effect.logWarning("Start-up bulk sync skipped; every workload goes through the per-record path").pipe(
            Effect.annotateLogs({ reason: clusterProblem })
          )
          return nothingSent("skipped", clusterProblem, { candidates: candidates.length })
        }

        // A job carries one environment: Namespaces with environments of
        // their own (annotations) make jobs of their own.
        const jobs: Array<PlannedJob> = []
        let invalid = 0
        let prepared = 0
        for (const group of byEnvironment([...candidates].sort(byDeploymentName))) {
          const { environment, records } = group
          const problem = jobEnvelopeProblem({
            cluster: config.cluster,
            logicalEnvironment: environment.logical,
            physicalEnvironment: environment.physical
          })
          if (problem !== undefined) {
            invalid += records.length
            yield* Effect.logWarning("Records left out of the cluster jobs: their environment breaks the jobs API's schema").pipe(
              Effect.annotateLogs({ logical_environment: environment.logical, physical_environment: environment.physical, reason: problem })
            )
            continue
          }
          const ready = prepareDeployments(records)
          yield* Effect.forEach(ready.invalid, ({ field, reason, record }) =>
            Effect.logWarning("Record left out of the cluster job: the API would reject it").pipe(
              Effect.annotateLogs({ deployment_name: record.deployment_name, field, reason })
            ), { discard: true })
          yield* Effect.forEach(ready.adjustments, ({ deploymentName, note }) =>
            Effect.logInfo("Record adjusted to fit the API").pipe(
              Effect.annotateLogs({ deployment_name: deploymentName, adjustment: note })
            ), { discard: true })
          invalid += ready.invalid.length
          prepared += ready.items.length
          for (const items of chunk(ready.items, MAX_DEPLOYMENTS_PER_JOB)) jobs.push({ environment, items })
        }
        const baseCounts = { candidates: candidates.length, invalid }
        if (prepared === 0) {
          yield* Effect.logInfo("Start-up bulk sync: no records to send")
          return nothingSent("skipped", "no records to send", baseCounts)
        }

        if (config.dryRun) {
          yield* logDryRun(jobs)
          return {
            outcome: "dry-run",
            reason: "-dry-run: nothing sent",
            seen: [],
            unknownDigests: [],
            jobs: jobs.map(({ items }): BulkSyncJobReport => ({
              outcome: "dry-run",
              jobId: undefined,
              submitted: 0,
              accepted: 0,
              rejected: 0,
              reason: `${items.length} deployments not sent (-dry-run)`
            })),
            counts: { ...ZERO_COUNTS, ...baseCounts, notSent: prepared }
          } satisfies BulkSyncOutcome
        }

        // One job after another: a second job while one runs would be a 409.
        const runs: Array<JobRun> = []
        for (const [index, { environment, items }] of jobs.entries()) {
          const run = yield* runJob(items, environment).pipe(Effect.annotateLogs({ job: index + 1, jobs: jobs.length }))
          runs.push(run)
          // completed or failed: the next job is independent of this one; anything
          // else (someone else's job, no endpoint, an error) ends the sync.
          if (run.report.outcome !== "completed" && run.report.outcome !== "failed") break
        }

        const seen = runs.flatMap((run) => run.seen)
        const unknownDigests = [...new Set(runs.flatMap((run) => run.unknownDigests))].sort()
        const reports = runs.map((run) => run.report)
        const decisive = reports.find((report) => report.outcome !== "completed")
        const submitted = reports.reduce((sum, report) => sum + report.submitted, 0)
        return {
          outcome: decisive?.outcome ?? "completed",
          reason: decisive?.reason ?? `${reports.length} job(s) completed`,
          seen,
          unknownDigests,
          jobs: reports,
          counts: {
            ...baseCounts,
            submitted,
            notSent: prepared - submitted,
            seen: seen.length,
            rejected: reports.reduce((sum, report) => sum + report.rejected, 0),
            unknownDigests: unknownDigests.length
          }
        } satisfies BulkSyncOutcome
      })

    /**
     * Runs the start-up sync over the records the workloads call for
     * (status `deployed`, one per deployment_name, as the reconcile computes
     * them). Never fails; interruption (shutdown) passes.
     */
    const run = (candidates: ReadonlyArray<DeploymentRecord>): Effect.Effect<BulkSyncOutcome> =>
      sync(candidates).pipe(
        Effect.tap((outcome) =>
          Effect.logInfo("Start-up bulk sync finished").pipe(
            Effect.annotateLogs({ outcome: outcome.outcome, reason: outcome.reason, ...outcome.counts })
          )
        ),
        Effect.catchAllCause((cause) =>
          Cause.isInterruptedOnly(cause)
            ? Effect.failCause(cause)
            : Effect.logError("Start-up bulk sync failed unexpectedly", cause).pipe(
              Effect.as(nothingSent("error", `unexpected failure: ${Cause.pretty(cause).split("\n")[0] ?? ""}`, {
                candidates: candidates.length
              }))
            )
        ),
        Effect.withSpan("bulkSync.run", { attributes: { candidates: candidates.length }, captureStackTrace: false })
      )

    return { run } as const
  }),
  dependencies: [ClusterJobClient.Default]
}) {}

/** One job to send: its environment and at most 5000 deployments. */
interface PlannedJob {
  readonly environment: Environment
  readonly items: ReadonlyArray<JobItem>
}

/** Records grouped by their (logical, physical) environment, in the order the groups first appear. */
const byEnvironment = (records: ReadonlyArray<DeploymentRecord>) => {
  const groups = new Map<string, { environment: Environment; records: Array<DeploymentRecord> }>()
  for (const record of records) {
    const key = `${record.logical_environment}\n${record.physical_environment}`
    let group = groups.get(key)
    if (group === undefined) {
      groups.set(key, group = { environment: { logical: record.logical_environment, physical: record.physical_environment }, records: [] })
    }
    group.records.push(record)
  }
  return groups.values()
}

const byDeploymentName = (a: DeploymentRecord, b: DeploymentRecord): number =>
  a.deployment_name < b.deployment_name ? -1 : a.deployment_name > b.deployment_name ? 1 : 0

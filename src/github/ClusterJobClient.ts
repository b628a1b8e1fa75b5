import { Context, Data, Duration, Effect, Either, Schedule } from "effect"
import { Config } from "../config/Config.ts"
import { Metrics } from "../observability/Metrics.ts"
import { boundedBody } from "./classifyResponse.ts"
import {
  type ClusterJobRequest,
  isFinished,
  type JobAccepted,
  jobEnvelopeProblem,
  type JobStatus,
  MAX_DEPLOYMENTS_PER_JOB,
  parseJobAccepted,
  parseJobStatus
} from "./ClusterJob.ts"
import type { ClientError, HardFailure } from "./errors.ts"
import { GitHubAuth } from "./GitHubAuth.ts"
import { type GitHubResponse, GitHubRequester } from "./GitHubRequester.ts"

/** 409: a job for this cluster is already pending or processing. */
export class JobConflict extends Data.TaggedError("JobConflict")<{
  readonly message: string
}> {}

/** 404 on the jobs POST: the asynchronous endpoint is not available (GitHub's controller reads it so). */
export class JobsUnavailable extends Data.TaggedError("JobsUnavailable")<{
  readonly message: string
}> {}

/** A success status whose body is not what the description promises. */
export class UnexpectedResponse extends Data.TaggedError("UnexpectedResponse")<{
  readonly status: number
  readonly reason: string
  /** The body, shortened for the log. */
  readonly body: string
}> {}

/** The request would break the API's schema, so it was not sent. */
export class InvalidJobRequest extends Data.TaggedError("InvalidJobRequest")<{
  readonly reason: string
}> {}

/** The job was not finished when the wait ran out. */
export class JobWaitTimeout extends Data.TaggedError("JobWaitTimeout")<{
  readonly jobId: number
  readonly waited: Duration.Duration
  readonly lastState: string
}> {}

export type CreateJobError = JobConflict | JobsUnavailable | ClientError | HardFailure | UnexpectedResponse | InvalidJobRequest
export type GetJobError = ClientError | HardFailure | UnexpectedResponse
export type AwaitJobError = GetJobError | JobWaitTimeout

/**
 * Polling of a submitted job: 2 s doubling to 30 s (GitHub's controller's
 * pace; one poller, so no jitter), for at most 5 minutes.
 */
export const JOB_POLL_SCHEDULE: Schedule.Schedule<unknown> = Schedule.exponential("2 seconds").pipe(
  Schedule.union(Schedule.spaced("30 seconds"))
)
export const JOB_WAIT_LIMIT = Duration.minutes(5)

/** How a job is awaited; read when the client is built (tests provide a shorter one). */
export class JobPolling extends Context.Reference<JobPolling>()("deployment-tracker/JobPolling", {
  defaultValue: (): { readonly schedule: Schedule.Schedule<unknown>; readonly maxWait: Duration.Duration } => ({
    schedule: JOB_POLL_SCHEDULE,
    maxWait: JOB_WAIT_LIMIT
  })
}) {}

/**
 * Client of the cluster deployment-records jobs endpoints
 * (`/orgs/{org}/artifacts/metadata/deployment-record/cluster/{cluster}/jobs`),
 * through GitHubRequester like the per-record client: what the answers
 * mean and how they are counted.
 */
export class ClusterJobClient extends Effect.Service<ClusterJobClient>()("deployment-tracker/ClusterJobClient", {
  effect: Effect.gen(function*() {
    const config = yield* Config
    const metrics = yield* Metrics
    const auth = yield* GitHubAuth
    const requester = yield* GitHubRequester
    // Read once, like the rest of the configuration: a layer sets it.
    const polling = yield* JobPolling
    const jobsPath = `/orgs/${encodeURIComponent(config.org)}/artifacts/metadata/deployment-record/cluster/${
      encodeURIComponent(config.cluster)
    }/jobs`
    const retryMessage = "Cluster job request failed; retrying"

    /** A 2xx answer's body decoded, or an UnexpectedResponse. */
    const decoded = <A>(response: GitHubResponse, what: string, parse: (body: string) => Either.Either<A, string>) =>
      Either.match(parse(response.body), {
        onLeft: (reason) =>
          Effect.fail(
            new UnexpectedResponse({ status: response.status, reason: `${what} does not parse: ${reason}`, body: boundedBody(response.body) })
          ),
        onRight: Effect.succeed
      })

    /**
     * The job POST feeds the original's per-record counters as the original
     * does: accepted -> ok (even if the answer then does not parse), a client
     * error -> client_error, retries used up -> hard_fail, 404 (no jobs
     * endpoint) -> unknown_artifact; a 409 and a request never sent count
     * nothing. Soft failures and rate limits are counted per attempt by the requester.
     */
    const countJobFailure = (e: CreateJobError): void => {
      switch (e._tag) {
        case "ClientError":
          return metrics.postClientError.inc()
        case "HardFailure":
          return metrics.postHardFail.inc()
        case "JobsUnavailable":
          return metrics.postUnknownArtifact.inc()
        case "UnexpectedResponse":
          // Only 2xx answers become UnexpectedResponse: GitHub took the job.
          return metrics.postOk.inc()
        case "JobConflict":
        case "InvalidJobRequest":
          return
      }
    }

    /** Submits a job. Checks the envelope and size first: a request the schema rejects is never sent. */
    const createJob = (request: ClusterJobRequest): Effect.Effect<JobAccepted, CreateJobError> => {
      const problem = jobEnvelopeProblem({
        cluster: config.cluster,
        logicalEnvironment: request.logical_environment,
        physicalEnvironment: request.physical_environment
      }) ?? (request.deployments.length > MAX_DEPLOYMENTS_PER_JOB
        ? `${request.deployments.length} deployments; a job takes at most ${MAX_DEPLOYMENTS_PER_JOB}`
        : undefined)
      if (problem !== undefined) return Effect.fail(new InvalidJobRequest({ reason: problem }))
      return requester.send({
        method: "POST",
        path: jobsPath,
        body: request,
        credential: auth,
        retryMessage,
        refine: (e) =>
          e.status === 409
            ? new JobConflict({ message: e.message })
            : e.status === 404
            ? new JobsUnavailable({ message: e.message })
            : e
      }).pipe(
        Effect.flatMap((response) => decoded(response, "job response", parseJobAccepted)),
        Effect.tapBoth({
          onSuccess: () => Effect.sync(() => metrics.postOk.inc()),
          onFailure: (e) => Effect.sync(() => countJobFailure(e))
        }),
        Effect.withSpan("github.createClusterJob", {
          attributes: { deployments: request.deployments.length },
          captureStackTrace: false
        })
      )
    }

    /** Reads a job's status once. */
    const getJob = (jobId: number): Effect.Effect<JobStatus, GetJobError> =>
      requester.send({ method: "GET", path: `${jobsPath}/${jobId}`, credential: auth, retryMessage }).pipe(
        Effect.flatMap((response) => decoded(response, "job status", parseJobStatus))
      )

    /**
     * Polls until the job is completed or failed (JobPolling: first at once,
     * then 2 s doubling to 30 s, 5 minutes at most).
     */
    const awaitJob = (jobId: number): Effect.Effect<JobStatus, AwaitJobError> =>
      Effect.gen(function*() {
        let lastState = "unknown"
        return yield* getJob(jobId).pipe(
          Effect.tap((status) =>
            Effect.suspend(() => {
              if (status.status === lastState) return Effect.void
              lastState = status.status
              return Effect.logDebug("Cluster job status").pipe(
                Effect.annotateLogs({ job_id: jobId, job_status: status.status })
              )
            })
          ),
          // Repeats while the job runs; passthrough makes the last status the result.
          Effect.repeat(polling.schedule.pipe(
            Schedule.whileInput((status: JobStatus) => !isFinished(status)),
            Schedule.passthrough
          )),
          Effect.timeoutFail({
            duration: polling.maxWait,
            onTimeout: () => new JobWaitTimeout({ jobId, waited: polling.maxWait, lastState })
          })
        )
      }).pipe(Effect.withSpan("github.awaitClusterJob", { attributes: { job_id: jobId }, captureStackTrace: false }))

    return { createJob, getJob, awaitJob } as const
  })
}) {}

import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Clock, Context, Data, Duration, Effect, Either, Schedule } from "effect"
import { Config } from "../config/Config.ts"
import { Metrics } from "../observability/Metrics.ts"
import { classifyFailure } from "./classifyResponse.ts"
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
import { RATE_LIMIT_ROUNDS, softFailureRetry } from "./DeploymentRecordClient.ts"
import { ClientError, HardFailure, type RateLimited, SoftFailure } from "./errors.ts"
import { GitHubAuth } from "./GitHubAuth.ts"
import { boundedBody, exchange, gitHubHeaders, type GitHubResponse, makeGitHubHttpClient } from "./GitHubHttp.ts"
import { RateLimitGate } from "./RateLimitGate.ts"

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
 * (`/orgs/{org}/artifacts/metadata/deployment-record/cluster/{cluster}/jobs`).
 * Same headers, shared rate-limit gate, response classifier and retry
 * policies as the per-record client; a 401 refreshes the credential once
 * and the request is sent once more.
 */
export class ClusterJobClient extends Effect.Service<ClusterJobClient>()("deployment-tracker/ClusterJobClient", {
  scoped: Effect.gen(function*() {
    const config = yield* Config
    const metrics = yield* Metrics
    const gate = yield* RateLimitGate
    const auth = yield* GitHubAuth
    // Read once, like the rest of the configuration: a layer sets it.
    const polling = yield* JobPolling
    const http = yield* makeGitHubHttpClient(config.apiRequestTimeout, config.baseUrl, config.egress)
    const jobsUrl = `${config.baseUrl}/orgs/${encodeURIComponent(config.org)}/artifacts/metadata/deployment-record/cluster/${
      encodeURIComponent(config.cluster)
    }/jobs`

    /** One exchange with the current credential; a timed attempt. */
    const sendWithCredential = (build: () => HttpClientRequest.HttpClientRequest) =>
      Effect.gen(function*() {
        const authorization = yield* auth.authorization.pipe(
          Effect.mapError((e) => new SoftFailure({ reason: e.reason }))
        )
        const started = yield* Clock.currentTimeMillis
        return yield* exchange(http, build().pipe(HttpClientRequest.setHeaders(gitHubHeaders(authorization)))).pipe(
          Effect.ensuring(
            Clock.currentTimeMillis.pipe(Effect.map((now) => metrics.postAttemptSeconds((now - started) / 1000)))
          )
        )
      })

    /** An exchange; after a 401 the credential is refreshed and the request sent once more. */
    const sendOnce = (build: () => HttpClientRequest.HttpClientRequest) =>
      sendWithCredential(build).pipe(
        Effect.flatMap((response) =>
          response.status === 401
            ? auth.refresh.pipe(Effect.zipRight(sendWithCredential(build)))
            : Effect.succeed(response)
        )
      )

    /**
     * Sends through the shared gate with the per-record client's retries:
     * rate limits wait at the gate (a few rounds), 5xx/network errors back
     * off (3 retries). `interpret` turns a response into the result or a
     * typed failure; RateLimited and SoftFailure from it are retried.
     */
    const send = <A, E extends { readonly _tag: string }>(
      build: () => HttpClientRequest.HttpClientRequest,
      interpret: (response: GitHubResponse, receivedAt: number) => Effect.Effect<A, E | RateLimited | SoftFailure>
    ): Effect.Effect<A, E | HardFailure> =>
      gate.guard(
        sendOnce(build).pipe(
          Effect.flatMap((response) => Clock.currentTimeMillis.pipe(Effect.flatMap((now) => interpret(response, now))))
        ),
        (e) => isRateLimited(e) ? e.wait : undefined
      ).pipe(
        Effect.tapError((e) => {
          if (isRateLimited(e)) {
            return Effect.sync(() => metrics.postRateLimited.inc()).pipe(
              Effect.zipRight(Effect.logWarning("GitHub rate limit reached; all requests wait")),
              Effect.annotateLogs({ status: e.status, wait: Duration.format(e.wait), reason: e.message })
            )
          }
          if (isSoftFailure(e)) {
            return Effect.sync(() => metrics.postSoftFail.inc()).pipe(
              Effect.zipRight(Effect.logWarning("Cluster job request failed; retrying")),
              Effect.annotateLogs({ reason: e.reason })
            )
          }
          return Effect.void
        }),
        Effect.retry({ while: isRateLimited, times: RATE_LIMIT_ROUNDS - 1 }),
        Effect.retry({ while: isSoftFailure, schedule: softFailureRetry }),
        Effect.mapError((e): E | HardFailure => {
          if (isRateLimited(e)) {
            return new HardFailure({ reason: `still rate limited after ${RATE_LIMIT_ROUNDS} waits: ${e.message}` })
          }
          if (isSoftFailure(e)) return new HardFailure({ reason: `retries exhausted: ${e.reason}` })
          // Neither of the retried kinds, so one of the interpreter's own failures.
          return e as E
        })
      )

    /** Any other failure: the shared classifier (a 404 is a plain client error there). */
    const failureOf = (response: GitHubResponse, receivedAt: number) => classifyFailure({ ...response, receivedAt })

    const unexpected = (response: GitHubResponse, reason: string) =>
      new UnexpectedResponse({ status: response.status, reason, body: boundedBody(response.body) })

    /**
     * The job POST feeds the original's per-record counters as the original
     * does: accepted -> ok (even if the answer then does not parse), a client
     * error -> client_error, retries used up -> hard_fail, 404 (no jobs
     * endpoint) -> unknown_artifact; a 409 and a request never sent count
     * nothing. Soft failures and rate limits are counted per attempt in `send`.
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
      return send<JobAccepted, JobConflict | JobsUnavailable | ClientError | UnexpectedResponse>(
        () => HttpClientRequest.post(jobsUrl).pipe(HttpClientRequest.bodyUnsafeJson(request)),
        (response, receivedAt) => {
          if (response.status >= 200 && response.status < 300) {
            return Either.match(parseJobAccepted(response.body), {
              onLeft: (reason) => Effect.fail(unexpected(response, `job response does not parse: ${reason}`)),
              onRight: Effect.succeed
            })
          }
          const failure = failureOf(response, receivedAt)
          if (failure._tag === "ClientError" && response.status === 409) {
            return Effect.fail(new JobConflict({ message: failure.message }))
          }
          if (failure._tag === "ClientError" && response.status === 404) {
            return Effect.fail(new JobsUnavailable({ message: failure.message }))
          }
          return Effect.fail(failure)
        }
      ).pipe(
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
      send<JobStatus, ClientError | UnexpectedResponse>(
        () => HttpClientRequest.get(`${jobsUrl}/${jobId}`),
        (response, receivedAt) => {
          if (response.status >= 200 && response.status < 300) {
            return Either.match(parseJobStatus(response.body), {
              onLeft: (reason) => Effect.fail(unexpected(response, `job status does not parse: ${reason}`)),
              onRight: Effect.succeed
            })
          }
          return Effect.fail(failureOf(response, receivedAt))
        }
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

const isRateLimited = (e: { readonly _tag: string }): e is RateLimited => e._tag === "RateLimited"
const isSoftFailure = (e: { readonly _tag: string }): e is SoftFailure => e._tag === "SoftFailure"

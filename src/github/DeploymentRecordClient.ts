import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Clock, Duration, Effect, Option, Schedule } from "effect"
import { Config } from "../config/Config.ts"
import { describeProxy, proxyFor } from "../config/egress.ts"
import { SpanAttribute, SpanName } from "../observability/eventTrace.ts"
import { Metrics } from "../observability/Metrics.ts"
import type { DeploymentRecord } from "../record/DeploymentRecord.ts"
import { classifyFailure, errorMessage } from "./classifyResponse.ts"
import { type ClientError, HardFailure, NoArtifact, type PostError, SoftFailure } from "./errors.ts"
import { GitHubAuth } from "./GitHubAuth.ts"
import { exchange, gitHubHeaders, makeGitHubHttpClient } from "./GitHubHttp.ts"
import { RateLimitGate } from "./RateLimitGate.ts"
import { makeThrottle } from "../support/throttle.ts"

export { GITHUB_API_VERSION } from "./GitHubHttp.ts"

/**
 * Retries of one record after a soft failure: 100 ms doubling, jittered,
 * capped at 5 s, 3 retries (the original's policy). Jitter comes before the
 * cap so the cap holds.
 */
export const softFailureRetry = Schedule.exponential("100 millis").pipe(
  Schedule.jittered,
  Schedule.union(Schedule.spaced("5 seconds")),
  Schedule.intersect(Schedule.recurs(3))
)

/**
 * Rate-limit rounds for one record before the event is handed back to the
 * work queue. Each round already waits out the reset at the shared gate.
 */
export const RATE_LIMIT_ROUNDS = 5

/**
 * Requests in flight at once, whatever the number of workers: one. GitHub
 * asks integrations to send requests serially, and only then does a rate
 * limit stop everything at once: with concurrent requests, those already on
 * the wire when a 403/429 arrives land inside the limit.
 */
export const MAX_CONCURRENT_REQUESTS = 1

export class DeploymentRecordClient extends Effect.Service<DeploymentRecordClient>()(
  "deployment-tracker/DeploymentRecordClient",
  {
    scoped: Effect.gen(function*() {
      const config = yield* Config
      const metrics = yield* Metrics
      const gate = yield* RateLimitGate
      const auth = yield* GitHubAuth
      const http = yield* makeGitHubHttpClient(config.apiRequestTimeout, config.baseUrl, config.egress)
      const proxy = proxyFor(config.baseUrl, config.egress)
      if (Option.isSome(proxy)) {
        yield* Effect.logInfo("GitHub requests go through a proxy").pipe(Effect.annotateLogs({ proxy: describeProxy(proxy.value) }))
      }
      // The outgoing budget: 3/s is 900 POST points a minute, GitHub's per-endpoint secondary limit.
      const throttle = yield* makeThrottle(config.apiRatePerSecond, config.apiBurst)
      const inFlight = yield* Effect.makeSemaphore(MAX_CONCURRENT_REQUESTS)
      const renewableCredentials = config.credentials._tag === "App"
      const isRenewable401 = (e: { readonly _tag: string; readonly status?: number }) =>
        renewableCredentials && e._tag === "ClientError" && e.status === 401
      const url = `${config.baseUrl}/orgs/${encodeURIComponent(config.org)}/artifacts/metadata/deployment-record`

      const send = (record: DeploymentRecord) =>
        Effect.gen(function*() {
          const authorization = yield* auth.authorization.pipe(
            Effect.mapError((e) => new SoftFailure({ reason: e.reason }))
          )
          const request = HttpClientRequest.post(url).pipe(
            HttpClientRequest.setHeaders(gitHubHeaders(authorization)),
            HttpClientRequest.bodyUnsafeJson({ ...record, return_records: false })
          )
          const started = yield* Clock.currentTimeMillis
          const outcome = yield* exchange(http, request).pipe(
            Effect.ensuring(
              Clock.currentTimeMillis.pipe(Effect.map((now) => metrics.postAttemptSeconds((now - started) / 1000)))
            )
          )
          yield* Effect.annotateCurrentSpan(SpanAttribute.httpStatus, outcome.status)
          if (outcome.status >= 200 && outcome.status < 300) return
          // An installation token GitHub no longer takes (revoked, or expired
          // sooner than it said): the next authorization mints a new one.
          if (outcome.status === 401) yield* auth.refresh
          if (outcome.status === 404) return yield* Effect.fail(notFound(outcome.body))
          return yield* Effect.fail(classifyFailure({ ...outcome, receivedAt: yield* Clock.currentTimeMillis }))
        })

      /**
       * One HTTP request as a span of its own (no headers, no body). The
       * record's span (see post) counts the attempts, so each one knows how
       * many came before it.
       */
      const traced = <E extends { readonly _tag: string }>(record: DeploymentRecord, request: Effect.Effect<void, E>) =>
        Effect.currentSpan.pipe(
          Effect.map((recordSpan) => {
            const before = Number(recordSpan.attributes.get(SpanAttribute.attempts) ?? 0)
            recordSpan.attribute(SpanAttribute.attempts, before + 1)
            return before
          }),
          Effect.orElseSucceed(() => 0),
          Effect.flatMap((retries) =>
            request.pipe(
              Effect.tapBoth({
                onSuccess: () => Effect.annotateCurrentSpan(SpanAttribute.outcome, "ok"),
                onFailure: (e) => Effect.annotateCurrentSpan(SpanAttribute.outcome, attemptOutcome(e._tag))
              }),
              Effect.withSpan(SpanName.postAttempt, {
                kind: "client",
                attributes: {
                  [SpanAttribute.deploymentName]: record.deployment_name,
                  [SpanAttribute.httpMethod]: "POST",
                  [SpanAttribute.retryCount]: retries
                },
                captureStackTrace: false
              })
            )
          )
        )

      // One attempt: a throttle token, a concurrency permit, the shared
      // rate-limit gate, then the request; what the answer means is counted.
      const attempt = (record: DeploymentRecord) =>
        // The gate comes last, right before sending: a request that waited
        // for a token or a permit must still not go out during a limit.
        throttle(inFlight.withPermits(1)(gate.guard(traced(record, send(record)), (e) => e._tag === "RateLimited" ? e.wait : undefined))).pipe(
          Effect.tapErrorTag("RateLimited", (e) =>
            Effect.sync(() => metrics.postRateLimited.inc()).pipe(
              Effect.zipRight(Effect.logWarning("GitHub rate limit reached; all requests wait").pipe(
                Effect.annotateLogs({ status: e.status, wait: Duration.format(e.wait), reason: e.message })
              ))
            )
          ),
          Effect.tapErrorTag("SoftFailure", (e) =>
            Effect.sync(() => metrics.postSoftFail.inc()).pipe(
              Effect.zipRight(Effect.logWarning("Posting a record failed; retrying").pipe(
                Effect.annotateLogs({ deployment_name: record.deployment_name, reason: e.reason })
              ))
            )
          )
        )

      /**
       * Posts one record. Succeeds, or fails with a ClientError, NoArtifact
       * or HardFailure (after retries), each already counted.
       */
      const post = (record: DeploymentRecord): Effect.Effect<void, PostError> =>
        attempt(record).pipe(
          // A 401 (send has forced a refresh) gets one more try with a new
          // token. App credentials only: resending a PAT cannot help.
          Effect.catchIf(isRenewable401, () =>
            Effect.logWarning("GitHub refused the installation token (401); retrying with a new one").pipe(
              Effect.annotateLogs({ deployment_name: record.deployment_name }),
              Effect.zipRight(attempt(record))
            )),
          Effect.retry({ while: (e) => e._tag === "RateLimited", times: RATE_LIMIT_ROUNDS - 1 }),
          Effect.retry({ while: (e) => e._tag === "SoftFailure", schedule: softFailureRetry }),
          Effect.catchTags({
            SoftFailure: (e) => Effect.fail(new HardFailure({ reason: `retries exhausted: ${e.reason}` })),
            RateLimited: (e) =>
              Effect.fail(new HardFailure({ reason: `still rate limited after ${RATE_LIMIT_ROUNDS} waits: ${e.message}` }))
          }),
          Effect.tap(() => Effect.sync(() => metrics.postOk.inc())),
          Effect.tapError((e: ClientError | NoArtifact | HardFailure) =>
            Effect.sync(() => {
              if (e._tag === "ClientError") metrics.postClientError.inc()
              else if (e._tag === "NoArtifact") {
                metrics.postUnknownArtifact.inc()
                metrics.postNotFound(e.reason)
              } else metrics.postHardFail.inc()
            })
          ),
          Effect.withSpan(SpanName.postRecord, {
            attributes: { deployment_name: record.deployment_name, status: record.status },
            captureStackTrace: false
          })
        )

      return { post } as const
    })
  }
) {}

/**
 * Every 404 from the record endpoint: the original caches the digest as
 * unknown for an hour whatever the text, so a digest an org or token cannot
 * see is not posted again on every event. The reason keeps GitHub's "no
 * artifacts found" (no attestation) apart from any other 404.
 */
export const notFound = (body: string): NoArtifact => {
  const message = errorMessage(body).replace(/\s+/g, " ").trim()
  return /no artifacts? found/i.test(message)
    ? new NoArtifact({ reason: "no_artifacts_found", message: "no artifacts found" })
    : new NoArtifact({ reason: "other", message: `other 404: ${message.length > 200 ? `${message.slice(0, 200)}...` : message}` })
}

/** An attempt's outcome for its span: `SoftFailure` -> `soft_failure`. */
const attemptOutcome = (tag: string): string => tag.replace(/(?<=[a-z])(?=[A-Z])/g, "_").toLowerCase()

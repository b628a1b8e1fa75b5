import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Clock, Duration, Effect, Option, Redacted, Schedule } from "effect"
import { Config } from "../config/Config.ts"
import { describeProxy, proxyFor } from "../config/egress.ts"
import { annotateSpan, SpanAttribute } from "../observability/eventTrace.ts"
import { Metrics } from "../observability/Metrics.ts"
import { makeThrottle } from "../support/throttle.ts"
import { USER_AGENT } from "../version.ts"
import { classifyFailure, type ResponseFacts } from "./classifyResponse.ts"
import { type AuthUnavailable, ClientError, HardFailure, RateLimited, SoftFailure } from "./errors.ts"
import { causeOf, makeGitHubHttpClient, readBoundedText } from "./GitHubHttp.ts"
import { RateLimitGate } from "./RateLimitGate.ts"

/**
 * Every request this controller sends to GitHub goes through here: the
 * record posts, the cluster jobs and the installation token minting. The
 * policy lives in one place: URL below BASE_URL, GitHub's headers, one HTTP
 * client (proxy, CAs, timeout), bodies read up to 10 MiB, the answer sorted
 * into typed failures, and for API calls the budget, the shared rate-limit
 * gate, the credential's 401 and the retries.
 */

/** The REST API version we speak; the artifact-metadata routes are the same in both current versions. */
export const GITHUB_API_VERSION = "2022-11-28"

/**
 * Headers sent on every request: GitHub's recommended Accept, the pinned API
 * version, a User-Agent, and the credential when there is one (none: no
 * Authorization header, for a BASE_URL that adds it).
 */
export const gitHubHeaders = (authorization: Option.Option<Redacted.Redacted<string>>): Record<string, string> => ({
  accept: "application/vnd.github+json",
  "x-github-api-version": GITHUB_API_VERSION,
  "user-agent": USER_AGENT,
  ...Option.match(authorization, { onNone: () => ({}), onSome: (value) => ({ authorization: Redacted.value(value) }) })
})

/** The Authorization header value for a token or a JWT. */
export const bearer = (token: Redacted.Redacted<string>) => Redacted.make(`Bearer ${Redacted.value(token)}`)

/**
 * Retries of one request after a soft failure: 100 ms doubling, jittered,
 * capped at 5 s, 3 retries (the original's policy). Jitter comes before the
 * cap so the cap holds.
 */
export const softFailureRetry = Schedule.exponential("100 millis").pipe(
  Schedule.jittered,
  Schedule.union(Schedule.spaced("5 seconds")),
  Schedule.intersect(Schedule.recurs(3))
)

/**
 * Rate-limit rounds for one request before it fails as a HardFailure (a
 * record's event then goes back to the work queue). Each round already
 * waits out the reset at the shared gate.
 */
export const RATE_LIMIT_ROUNDS = 5

/**
 * API requests in flight at once, whatever the number of workers: one.
 * GitHub asks integrations to send requests serially, and only then does a
 * rate limit stop everything at once: with concurrent requests, those
 * already on the wire when a 403/429 arrives land inside the limit.
 */
export const MAX_CONCURRENT_REQUESTS = 1

/** A request below BASE_URL. */
export interface GitHubRequest {
  readonly method: "GET" | "POST"
  /** The path below BASE_URL, its parts already encoded. */
  readonly path: string
  /** Sent as JSON when present. */
  readonly body?: unknown
}

/** A response as the classifiers want it (status, lower-cased headers, body, when it arrived). */
export type GitHubResponse = ResponseFacts

/** What an API request needs of its credential (GitHubAuth provides it). */
export interface Credential {
  /** The Authorization header value, none without credentials; fails when none can be had right now (retried). */
  readonly authorization: Effect.Effect<Option.Option<Redacted.Redacted<string>>, AuthUnavailable>
  /** Drops the cached credential after GitHub answered 401 (the next `authorization` renews it). */
  readonly refresh: Effect.Effect<void>
  /** A 401 is worth one more try with a renewed credential (installation tokens; a PAT cannot change). */
  readonly renewable: boolean
}

type Tagged = { readonly _tag: string }

/** An API call: a request with the configured credential, and what its answers mean at its endpoint. */
export interface ApiRequest<E> extends GitHubRequest {
  readonly credential: Credential
  /** The warning logged when an attempt failed softly (5xx, network, timeout) and is retried. */
  readonly retryMessage: string
  /** What a client error (a 4xx other than 401 and rate limits) means at this endpoint; by default itself. */
  readonly refine?: (error: ClientError, response: GitHubResponse) => ClientError | E
  /** Wraps each attempt, for a span of its own. */
  readonly traceAttempt?: <A, X extends Tagged>(attempt: Effect.Effect<A, X>) => Effect.Effect<A, X>
}

const isRateLimited = (e: unknown): e is RateLimited => e instanceof RateLimited
const isSoftFailure = (e: unknown): e is SoftFailure => e instanceof SoftFailure

export class GitHubRequester extends Effect.Service<GitHubRequester>()("deployment-tracker/GitHubRequester", {
  scoped: Effect.gen(function*() {
    const config = yield* Config
    const metrics = yield* Metrics
    const gate = yield* RateLimitGate
    const http = yield* makeGitHubHttpClient(config.apiRequestTimeout, config.baseUrl, config.egress)
    const proxy = proxyFor(config.baseUrl, config.egress)
    if (Option.isSome(proxy)) {
      yield* Effect.logInfo("GitHub requests go through a proxy").pipe(Effect.annotateLogs({ proxy: describeProxy(proxy.value) }))
    }
    // The outgoing budget: 3/s is 900 POST points a minute, GitHub's per-endpoint secondary limit.
    const throttle = yield* makeThrottle(config.apiRatePerSecond, config.apiBurst)
    const inFlight = yield* Effect.makeSemaphore(MAX_CONCURRENT_REQUESTS)

    /**
     * Sends one request and reads the whole answer, whatever its status. A
     * transport failure, a timeout or an oversized body is a SoftFailure.
     * Nothing else: no gate, budget or retry (minting runs inside an API
     * request that holds them).
     */
    const exchange = (
      request: GitHubRequest,
      authorization: Option.Option<Redacted.Redacted<string>>
    ): Effect.Effect<GitHubResponse, SoftFailure> => {
      const base = HttpClientRequest.make(request.method)(`${config.baseUrl}${request.path}`).pipe(
        HttpClientRequest.setHeaders(gitHubHeaders(authorization))
      )
      return http.execute(request.body === undefined ? base : HttpClientRequest.bodyUnsafeJson(base, request.body)).pipe(
        Effect.flatMap((response) =>
          readBoundedText(response).pipe(Effect.map((body) => ({ status: response.status, headers: response.headers, body })))
        ),
        Effect.scoped,
        Effect.catchTags({
          RequestError: (e) => Effect.fail(new SoftFailure({ reason: `request failed: ${e.message}${causeOf(e.cause)}` })),
          ResponseError: (e) => Effect.fail(new SoftFailure({ reason: `reading response failed: ${e.message}` })),
          BodyTooLarge: (e) => Effect.fail(new SoftFailure({ reason: e.reason, status: e.status }))
        }),
        Effect.flatMap((response) => Effect.map(Clock.currentTimeMillis, (receivedAt) => ({ ...response, receivedAt })))
      )
    }

    /**
     * An API call with the configured credential. Each attempt takes a
     * budget token, the one permit and the shared gate (last, right before
     * sending: a request that waited for a token or the permit must still
     * not go out during a limit), and is timed. A 2xx is the result. A 401
     * drops the credential and, when it is renewable, the call is tried
     * once more; rate limits wait at the gate (RATE_LIMIT_ROUNDS), soft
     * failures back off (softFailureRetry), each counted and logged; what
     * outlasts them is a HardFailure. Client errors are never retried.
     */
    const send = <E extends Tagged = never>(
      request: ApiRequest<E>
    ): Effect.Effect<GitHubResponse, ClientError | E | HardFailure> => {
      const { credential } = request
      const once = Effect.gen(function*() {
        const authorization = yield* credential.authorization.pipe(
          Effect.mapError((e) => new SoftFailure({ reason: e.reason }))
        )
        const started = yield* Clock.currentTimeMillis
        const response = yield* exchange(request, authorization).pipe(
          Effect.ensuring(
            Clock.currentTimeMillis.pipe(Effect.map((now) => metrics.postAttemptSeconds((now - started) / 1000)))
          )
        )
        yield* annotateSpan(SpanAttribute.httpStatus, response.status)
        if (response.status >= 200 && response.status < 300) return response
        // A token GitHub no longer takes (revoked, or expired sooner than it said): the next authorization renews it.
        if (response.status === 401) yield* credential.refresh
        const failure = classifyFailure(response)
        if (failure._tag !== "ClientError" || response.status === 401 || request.refine === undefined) {
          return yield* Effect.fail(failure)
        }
        return yield* Effect.fail(request.refine(failure, response))
      })
      const traced = request.traceAttempt === undefined ? once : request.traceAttempt(once)

      const attempt = throttle(inFlight.withPermits(1)(gate.guard(traced, (e) => isRateLimited(e) ? e.wait : undefined))).pipe(
        Effect.tapError((e) => {
          if (isRateLimited(e)) {
            return Effect.sync(() => metrics.postRateLimited.inc()).pipe(
              Effect.zipRight(Effect.logWarning("GitHub rate limit reached; all requests wait")),
              Effect.annotateLogs({ status: e.status, wait: Duration.format(e.wait), reason: e.message })
            )
          }
          if (isSoftFailure(e)) {
            return Effect.sync(() => metrics.postSoftFail.inc()).pipe(
              Effect.zipRight(Effect.logWarning(request.retryMessage)),
              Effect.annotateLogs({ reason: e.reason })
            )
          }
          return Effect.void
        })
      )

      return attempt.pipe(
        Effect.catchIf(
          (e) => credential.renewable && e instanceof ClientError && e.status === 401,
          () => Effect.logWarning("GitHub refused the installation token (401); retrying with a new one").pipe(Effect.zipRight(attempt))
        ),
        Effect.retry({ while: isRateLimited, times: RATE_LIMIT_ROUNDS - 1 }),
        Effect.retry({ while: isSoftFailure, schedule: softFailureRetry }),
        Effect.mapError((e): ClientError | E | HardFailure => {
          if (isRateLimited(e)) {
            return new HardFailure({ reason: `still rate limited after ${RATE_LIMIT_ROUNDS} waits: ${e.message}` })
          }
          if (isSoftFailure(e)) return new HardFailure({ reason: `retries exhausted: ${e.reason}` })
          return e
        })
      )
    }

    return { exchange, send } as const
  })
}) {}

import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Agent } from "@effect/platform-node/Undici"
import { Duration, Effect, Redacted } from "effect"
import { USER_AGENT } from "../version.ts"
import { SoftFailure } from "./errors.ts"

/**
 * Transport pieces every GitHub API client of this controller shares (the
 * per-record client, the cluster jobs client, the installation token
 * minting): the HTTP client with the configured timeout, the headers GitHub
 * expects, and one exchange read into plain facts.
 */

/** The REST API version we speak; the artifact-metadata routes are the same in both current versions. */
export const GITHUB_API_VERSION = "2022-11-28"

/** Headers sent on every request: GitHub's recommended Accept, the pinned API version, a User-Agent, the credential. */
export const gitHubHeaders = (authorization: Redacted.Redacted<string>): Record<string, string> => ({
  accept: "application/vnd.github+json",
  "x-github-api-version": GITHUB_API_VERSION,
  "user-agent": USER_AGENT,
  authorization: Redacted.value(authorization)
})

/**
 * An HTTP client for GitHub with its own undici Agent, scoped. undici
 * enforces the timeout (connect, headers and body); the platform client asks
 * undici for none, so an interceptor sets ours on every request (far cheaper
 * than a timer fiber per request). A timeout surfaces as a RequestError. No
 * trace headers go to GitHub and there is no generic client span: clients
 * trace each attempt with their own span.
 */
export const makeGitHubHttpClient = (timeout: Duration.Duration) =>
  Effect.acquireRelease(
    Effect.sync(() => new Agent({ connect: { timeout: Duration.toMillis(timeout) } })),
    (agent) => Effect.promise(() => agent.close())
  ).pipe(
    Effect.map((agent) => {
      const millis = Duration.toMillis(timeout)
      const withTimeouts = agent.compose((dispatch) => (options, handler) =>
        dispatch({ ...options, headersTimeout: millis, bodyTimeout: millis }, handler)
      )
      return NodeHttpClient.makeUndici(withTimeouts).pipe(
        HttpClient.withTracerPropagation(false),
        HttpClient.withTracerDisabledWhen(() => true)
      )
    })
  )

/** A response as the classifiers want it: status, lower-cased headers, the body text. */
export interface GitHubResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly body: string
}

/** Sends one request and reads the whole answer; a transport failure or timeout is a SoftFailure. */
export const exchange = (
  http: HttpClient.HttpClient,
  request: HttpClientRequest.HttpClientRequest
): Effect.Effect<GitHubResponse, SoftFailure> =>
  http.execute(request).pipe(
    Effect.flatMap((response) =>
      response.text.pipe(Effect.map((body) => ({ status: response.status, headers: response.headers, body })))
    ),
    Effect.catchTags({
      RequestError: (e) => Effect.fail(new SoftFailure({ reason: `request failed: ${e.message}` })),
      ResponseError: (e) => Effect.fail(new SoftFailure({ reason: `reading response failed: ${e.message}` }))
    })
  )

/** At most this many characters of a response body go into a log line or an error. */
export const LOGGED_BODY_LIMIT = 500

/** A body shortened for a log line. */
export const boundedBody = (body: string, limit: number = LOGGED_BODY_LIMIT): string =>
  body.length > limit ? `${body.slice(0, limit)}... (${body.length} characters)` : body

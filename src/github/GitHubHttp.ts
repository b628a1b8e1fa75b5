import * as HttpClient from "@effect/platform/HttpClient"
import type { ResponseError } from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { EnvHttpProxyAgent } from "@effect/platform-node/Undici"
import { Data, Duration, Effect, Option, Redacted, Stream } from "effect"
import { type EgressSettings, proxyFor, trustedCertificates } from "../config/egress.ts"
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

/**
 * The undici dispatcher for connections to `target` (the GitHub base URL):
 * undici's EnvHttpProxyAgent, given the proxy Go's rules pick for that URL
 * (none: every connection is direct) and NO_PROXY, and never reading the
 * process environment itself; TLS trusts Node's CAs plus SSL_CERT_FILE /
 * SSL_CERT_DIR, towards GitHub and towards an https:// proxy alike.
 */
export const makeGitHubDispatcher = (timeout: Duration.Duration, target: string, egress: EgressSettings | undefined) => {
  const ca = trustedCertificates(egress)
  const tls = { timeout: Duration.toMillis(timeout), ...(ca === undefined ? {} : { ca: [...ca] }) }
  const proxy = Option.match(proxyFor(target, egress), { onNone: () => "", onSome: Redacted.value })
  return new EnvHttpProxyAgent({
    httpProxy: proxy,
    httpsProxy: proxy,
    noProxy: egress?.noProxy ?? "",
    connect: tls,
    requestTls: tls,
    proxyTls: tls
  })
}

/**
 * An HTTP client for GitHub with its own dispatcher (makeGitHubDispatcher),
 * scoped. undici enforces the timeout (connect, headers and body); the
 * platform client asks undici for none, so an interceptor sets ours on
 * every request (far cheaper than a timer fiber per request). A timeout
 * surfaces as a RequestError. No trace headers go to GitHub and there is no
 * generic client span: clients trace each attempt with their own span.
 */
export const makeGitHubHttpClient = (timeout: Duration.Duration, target: string, egress: EgressSettings | undefined) =>
  Effect.acquireRelease(
    Effect.sync(() => makeGitHubDispatcher(timeout, target, egress)),
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

/**
 * At most this much of a response body is read (the original's cap, 10 MiB).
 * GitHub's answers here are a few hundred bytes; anything near this is not
 * GitHub (a captive portal, a misrouted proxy), and holding it would cost
 * the controller its memory limit.
 */
export const MAX_RESPONSE_BYTES = 10 * 1024 * 1024

/** The body was larger than MAX_RESPONSE_BYTES; reading stopped there. */
export class BodyTooLarge extends Data.TaggedError("BodyTooLarge")<{
  readonly status: number
  readonly limit: number
}> {
  get reason(): string {
    return `the HTTP ${this.status} response body is larger than ${this.limit} bytes (${
      this.limit / (1024 * 1024)
    } MiB); it was not read further (is BASE_URL or the proxy answering instead of GitHub?)`
  }
}

/**
 * Reads a response body as text, at most `limit` bytes: a Content-Length
 * over the limit fails at the first byte, a body that grows past it fails
 * as soon as it does (the rest is never read; the connection is dropped).
 */
export const readBoundedText = (
  response: HttpClientResponse.HttpClientResponse,
  limit: number = MAX_RESPONSE_BYTES
): Effect.Effect<string, BodyTooLarge | ResponseError> => {
  const declared = Number(response.headers["content-length"])
  // Announced as too large: fail at the first byte. Reading through the
  // stream (rather than not at all) closes it, which drops the connection.
  const announcedTooLarge = Number.isFinite(declared) && declared > limit
  const allowed = announcedTooLarge ? 0 : limit
  const tooLarge = new BodyTooLarge({ status: response.status, limit })
  return response.stream.pipe(
    Stream.runFoldEffect({ chunks: [] as Array<Uint8Array>, size: 0 }, (read, chunk) => {
      const size = read.size + chunk.length
      if (size > allowed) return Effect.fail(tooLarge)
      read.chunks.push(chunk)
      return Effect.succeed({ chunks: read.chunks, size })
    }),
    Effect.filterOrFail(() => !announcedTooLarge, () => tooLarge),
    Effect.map(({ chunks }) => new TextDecoder().decode(Buffer.concat(chunks)))
  )
}

/**
 * What a transport failure says underneath (a refused certificate, a proxy
 * answering 407, a timeout), up to two causes deep: the platform's own
 * message names only the request.
 */
export const causeOf = (cause: unknown): string => {
  const parts: Array<string> = []
  let current: unknown = cause
  while (current instanceof Error && parts.length < 2) {
    const code = (current as { code?: unknown }).code
    parts.push(typeof code === "string" && !current.message.includes(code) ? `${current.message} (${code})` : current.message)
    current = current.cause
  }
  return parts.length === 0 ? "" : `: ${parts.join(": ")}`
}

/** Sends one request and reads the whole answer; a transport failure, timeout or oversized body is a SoftFailure. */
export const exchange = (
  http: HttpClient.HttpClient,
  request: HttpClientRequest.HttpClientRequest
): Effect.Effect<GitHubResponse, SoftFailure> =>
  http.execute(request).pipe(
    Effect.flatMap((response) =>
      readBoundedText(response).pipe(Effect.map((body) => ({ status: response.status, headers: response.headers, body })))
    ),
    Effect.scoped,
    Effect.catchTags({
      RequestError: (e) => Effect.fail(new SoftFailure({ reason: `request failed: ${e.message}${causeOf(e.cause)}` })),
      ResponseError: (e) => Effect.fail(new SoftFailure({ reason: `reading response failed: ${e.message}` })),
      BodyTooLarge: (e) => Effect.fail(new SoftFailure({ reason: e.reason, status: e.status }))
    })
  )

/** At most this many characters of a response body go into a log line or an error. */
export const LOGGED_BODY_LIMIT = 500

/** A body shortened for a log line. */
export const boundedBody = (body: string, limit: number = LOGGED_BODY_LIMIT): string =>
  body.length > limit ? `${body.slice(0, limit)}... (${body.length} characters)` : body

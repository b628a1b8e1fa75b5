import * as HttpClient from "@effect/platform/HttpClient"
import type { ResponseError } from "@effect/platform/HttpClientError"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { EnvHttpProxyAgent } from "@effect/platform-node/Undici"
import { Data, Duration, Effect, Option, Redacted, Stream } from "effect"
import { type EgressSettings, proxyFor, trustedCertificates } from "../config/egress.ts"

/**
 * The transport under GitHubRequester: the HTTP client with the configured
 * timeout, proxy and CAs, and a response body read up to a bound.
 */

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
  // Announced within the limit (GitHub's usual answer): the HTTP parser
  // reads exactly that many bytes, so the whole body is read at once. The
  // stream below costs more: ending it aborts the request's controller,
  // which makes a DOMException with a stack trace for every response.
  if (Number.isFinite(declared) && declared >= 0 && declared <= limit) return response.text
  // Announced as too large: fail at the first byte. Reading through the
  // stream (rather than not at all) closes it, which drops the connection.
  const announcedTooLarge = Number.isFinite(declared) && declared > limit
  const allowed = announcedTooLarge ? 0 : limit
  // Made only when needed: an error captures a stack trace, which cost more
  // than reading a record's answer.
  const tooLarge = () => new BodyTooLarge({ status: response.status, limit })
  return response.stream.pipe(
    Stream.runFoldEffect({ chunks: [] as Array<Uint8Array>, size: 0 }, (read, chunk) => {
      const size = read.size + chunk.length
      if (size > allowed) return Effect.fail(tooLarge())
      read.chunks.push(chunk)
      return Effect.succeed({ chunks: read.chunks, size })
    }),
    Effect.filterOrFail(() => !announcedTooLarge, tooLarge),
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

import { Duration } from "effect"
import { ClientError, RateLimited, SoftFailure } from "./errors.ts"

/**
 * Wait when GitHub signals a rate limit but gives no usable time: no
 * Retry-After and no reset in the future (its docs, and the original: at
 * least a minute).
 */
export const DEFAULT_RATE_LIMIT_WAIT = Duration.minutes(1)

export interface ResponseFacts {
  readonly status: number
  /** Lower-cased header names. */
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly body: string
  /** When the response arrived, epoch ms (for x-ratelimit-reset). */
  readonly receivedAt: number
}

/**
 * GitHub error bodies carry `message` as a string, but the artifact-metadata
 * endpoints also send an object (`{cause, repositories}`); accept both.
 */
export const errorMessage = (body: string): string => {
  try {
    const parsed: unknown = JSON.parse(body)
    if (typeof parsed === "object" && parsed !== null && "message" in parsed) {
      const message = (parsed as { message: unknown }).message
      if (typeof message === "string") return message
      if (typeof message === "object" && message !== null) {
        const cause = (message as { cause?: unknown }).cause
        return typeof cause === "string" ? cause : JSON.stringify(message)
      }
    }
  } catch {
    // not JSON: fall through to the raw text
  }
  return body.slice(0, 500)
}

/** GitHub's message from an error body on one line, at most 200 characters: for an error a person reads. */
export const shortMessage = (body: string): string => {
  const message = errorMessage(body).replace(/\s+/g, " ").trim()
  return message.length > 200 ? `${message.slice(0, 200)}...` : message
}

/** At most this many characters of a response body go into a log line or an error. */
export const LOGGED_BODY_LIMIT = 500

/** A body shortened for a log line. */
export const boundedBody = (body: string, limit: number = LOGGED_BODY_LIMIT): string =>
  body.length > limit ? `${body.slice(0, limit)}... (${body.length} characters)` : body

const secondaryLimit = /secondary rate limit|abuse/i

/** Seconds from Retry-After (delta seconds or an HTTP date), if it parses. */
const retryAfterMillis = (value: string | undefined, now: number): number | undefined => {
  if (value === undefined || value.trim() === "") return undefined
  const seconds = Number(value)
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000)
  const date = Date.parse(value)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

/**
 * Milliseconds until x-ratelimit-reset, only when that is in the future. A
 * reset already past (our clock ahead of GitHub's, or the answer sent in
 * the reset second) says nothing about how long the limit lasts: retrying
 * at once would repeat requests inside the limit.
 */
const resetMillis = (value: string | undefined, now: number): number | undefined => {
  if (value === undefined) return undefined
  const epochSeconds = Number(value)
  if (!Number.isFinite(epochSeconds)) return undefined
  const wait = epochSeconds * 1000 - now
  return wait > 0 ? wait : undefined
}

/**
 * Sorts a non-2xx response into the typed failures. A 403/429 is a rate
 * limit when it has Retry-After, `x-ratelimit-remaining: 0`, or GitHub's
 * secondary-limit message; the wait is the larger of Retry-After and a reset
 * time in the future, or one minute when there is neither. A 404 is a
 * ClientError here: what it means depends on the endpoint (see
 * DeploymentRecordClient and ClusterJobClient).
 */
export const classifyFailure = (
  facts: ResponseFacts
): ClientError | RateLimited | SoftFailure => {
  const { body, headers, receivedAt, status } = facts
  const message = errorMessage(body)
  if (status === 403 || status === 429) {
    const retryAfter = retryAfterMillis(headers["retry-after"], receivedAt)
    const exhausted = headers["x-ratelimit-remaining"] === "0"
    if (retryAfter !== undefined || exhausted || secondaryLimit.test(body)) {
      const reset = resetMillis(headers["x-ratelimit-reset"], receivedAt)
      const waits = [retryAfter, exhausted ? reset : undefined].filter((n): n is number => n !== undefined)
      const wait = waits.length > 0 ? Duration.millis(Math.max(...waits)) : DEFAULT_RATE_LIMIT_WAIT
      return new RateLimited({ status, wait, message })
    }
    return new ClientError({ status, message })
  }
  if (status === 408 || status >= 500) return new SoftFailure({ reason: `HTTP ${status}: ${message}`, status })
  return new ClientError({ status, message })
}

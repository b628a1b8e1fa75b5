// The primary rate-limit bucket behind the x-ratelimit-* headers, and the
// "limited until" deadline set by a 403/429 (injected or from exhausting the
// bucket). A request that arrives before that deadline is a client bug: it
// is answered with the same limit again and reported as a violation.

export interface RateLimitOptions {
  /** Requests per window (GitHub: 5,000/h for a PAT or a small installation). */
  readonly limit: number
  readonly windowMs: number
  /** Slack for clock rounding when deciding whether a request came too early. */
  readonly toleranceMs: number
}

export interface ImposedLimit {
  readonly status: 403 | 429
  readonly secondary: boolean
  /** Epoch ms before which the client must not send. */
  readonly untilMs: number
  /** High-resolution epoch ms at which the limit was imposed (its response decided). */
  readonly sinceMs?: number
  /** Whether the limiting response carried Retry-After / x-ratelimit-reset. */
  readonly retryAfter: boolean
  readonly resetEpochSeconds: number | undefined
}

export class RateLimits {
  readonly #options: RateLimitOptions
  #windowStart: number | undefined
  #used = 0
  #imposed: ImposedLimit | undefined

  constructor(options: RateLimitOptions) {
    this.#options = options
  }

  /** The limit in force for a request arriving now, if it came too early. */
  activeLimit(nowMs: number): ImposedLimit | undefined {
    const imposed = this.#imposed
    if (imposed === undefined || nowMs >= imposed.untilMs - this.#options.toleranceMs) return undefined
    return imposed
  }

  /** Counts one request; false when the bucket was already empty. */
  consume(nowMs: number): boolean {
    this.#roll(nowMs)
    if (this.#used >= this.#options.limit) return false
    this.#used++
    return true
  }

  /** Epoch seconds at which the current window ends. */
  windowReset(nowMs: number): number {
    this.#roll(nowMs)
    return Math.ceil(((this.#windowStart ?? nowMs) + this.#options.windowMs) / 1000)
  }

  impose(limit: ImposedLimit, nowMs: number): void {
    if (this.#imposed === undefined || limit.untilMs > this.#imposed.untilMs || nowMs >= this.#imposed.untilMs) {
      this.#imposed = { ...limit, sinceMs: preciseNow() }
    }
  }

  /**
   * Whether a request that arrived at `arrivedMs` (high resolution) was
   * already on its way when the limit was imposed: a concurrent request the
   * client sent before it could know. It is still answered with the limit,
   * but it is not a violation; anything that arrives later is.
   */
  wasInFlight(limit: ImposedLimit, arrivedMs: number): boolean {
    return limit.sinceMs !== undefined && arrivedMs < limit.sinceMs
  }

  /** The x-ratelimit-* headers every API response carries. */
  headers(nowMs: number): Record<string, string> {
    this.#roll(nowMs)
    return {
      "x-ratelimit-limit": String(this.#options.limit),
      "x-ratelimit-remaining": String(Math.max(0, this.#options.limit - this.#used)),
      "x-ratelimit-used": String(this.#used),
      "x-ratelimit-reset": String(this.windowReset(nowMs)),
      "x-ratelimit-resource": "core"
    }
  }

  /** Headers for a rate-limited response, given the limit in force. */
  limitedHeaders(limit: ImposedLimit, nowMs: number): Record<string, string> {
    const headers = this.headers(nowMs)
    if (limit.retryAfter) headers["retry-after"] = String(Math.max(0, Math.ceil((limit.untilMs - nowMs) / 1000)))
    if (limit.resetEpochSeconds !== undefined) {
      headers["x-ratelimit-remaining"] = "0"
      headers["x-ratelimit-reset"] = String(limit.resetEpochSeconds)
    }
    return headers
  }

  reset(): void {
    this.#windowStart = undefined
    this.#used = 0
    this.#imposed = undefined
  }

  #roll(nowMs: number): void {
    if (this.#windowStart === undefined || nowMs >= this.#windowStart + this.#options.windowMs) {
      this.#windowStart = nowMs
      this.#used = 0
    }
  }
}

export function rateLimitMessage(limit: { readonly secondary: boolean }): { message: string; documentation_url: string } {
  return limit.secondary
    ? {
        message: "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
        documentation_url:
          "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits"
      }
    : {
        message: "API rate limit exceeded. (The simulator's primary rate limit; wait for x-ratelimit-reset.)",
        documentation_url: "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api"
      }
}

/** Epoch milliseconds with sub-millisecond resolution. */
export const preciseNow = (): number => performance.timeOrigin + performance.now()

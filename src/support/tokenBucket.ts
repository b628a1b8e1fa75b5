/**
 * A token bucket as plain data, asked without waiting: whether a token is
 * there now, and when the next one will be. For limits checked by a loop
 * that has other work to do meanwhile (support/throttle.ts waits instead).
 */
export interface TokenBucketRule {
  /** Tokens when full (what may go at once). */
  readonly burst: number
  /** Milliseconds to refill one token. */
  readonly refillMillis: number
}

export interface TokenBucket {
  tokens: number
  updatedAt: number
}

export const fullBucket = (rule: TokenBucketRule, now: number): TokenBucket => ({ tokens: rule.burst, updatedAt: now })

// Refills are fractions: keep rounding from leaving a bucket a hair short of a token at its ready time.
const EPSILON = 1e-9

const refill = (rule: TokenBucketRule, bucket: TokenBucket, now: number): void => {
  if (now > bucket.updatedAt) {
    bucket.tokens = Math.min(rule.burst, bucket.tokens + (now - bucket.updatedAt) / rule.refillMillis)
    bucket.updatedAt = now
  }
}

/** When a token is there: `now` or later. */
export const readyAt = (rule: TokenBucketRule, bucket: TokenBucket, now: number): number => {
  refill(rule, bucket, now)
  return bucket.tokens >= 1 - EPSILON ? now : now + Math.ceil((1 - bucket.tokens) * rule.refillMillis)
}

/** Takes a token if there is one. */
export const tryTake = (rule: TokenBucketRule, bucket: TokenBucket, now: number): boolean => {
  refill(rule, bucket, now)
  if (bucket.tokens < 1 - EPSILON) return false
  bucket.tokens = Math.max(0, bucket.tokens - 1)
  return true
}

/** Full again: nothing to remember about it. */
export const isFull = (rule: TokenBucketRule, bucket: TokenBucket, now: number): boolean => {
  refill(rule, bucket, now)
  return bucket.tokens >= rule.burst
}

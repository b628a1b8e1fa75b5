import { Clock, Duration, Effect } from "effect"

/**
 * A set whose members expire after a fixed time, on the Effect Clock (so
 * tests step it with TestClock). Used for the original's best-effort caches:
 * records posted in the last 2 minutes, digests GitHub had no attestation
 * for in the last hour. Expired members are swept as the set grows, so it
 * never holds more than what was added within one lifetime.
 */
export interface ExpiringSet {
  readonly has: (key: string) => Effect.Effect<boolean>
  readonly add: (key: string) => Effect.Effect<void>
  readonly delete: (key: string) => Effect.Effect<void>
  readonly size: Effect.Effect<number>
}

export const makeExpiringSet = (lifetime: Duration.DurationInput): Effect.Effect<ExpiringSet> =>
  Effect.sync(() => {
    const ttl = Duration.toMillis(Duration.decode(lifetime))
    const expiries = new Map<string, number>()
    let sweepAt = 1024

    const sweep = (now: number) => {
      for (const [key, expiry] of expiries) if (expiry <= now) expiries.delete(key)
      sweepAt = Math.max(1024, expiries.size * 2)
    }

    return {
      has: (key) =>
        Clock.currentTimeMillis.pipe(Effect.map((now) => {
          const expiry = expiries.get(key)
          if (expiry === undefined) return false
          if (expiry > now) return true
          expiries.delete(key)
          return false
        })),
      add: (key) =>
        Clock.currentTimeMillis.pipe(Effect.map((now) => {
          expiries.delete(key) // re-insert so iteration order stays oldest-first
          expiries.set(key, now + ttl)
          if (expiries.size >= sweepAt) sweep(now)
        })),
      delete: (key) => Effect.sync(() => void expiries.delete(key)),
      size: Effect.sync(() => expiries.size)
    }
  })

import { Clock, Duration, Effect, Ref } from "effect"

/**
 * One process-wide "not before" time for GitHub requests. When any request
 * is rate limited, every worker waits until the reset instead of spending
 * more of the budget (continuing to send while limited can get the token
 * banned). The deadline only ever moves later.
 */
export class RateLimitGate extends Effect.Service<RateLimitGate>()("deployment-tracker/RateLimitGate", {
  effect: Effect.gen(function*() {
    const notBefore = yield* Ref.make(0)

    /** Suspends until the gate is open. */
    const wait = Effect.gen(function*() {
      // Loop: the deadline may move later while we sleep.
      for (;;) {
        const now = yield* Clock.currentTimeMillis
        const until = yield* Ref.get(notBefore)
        if (until <= now) return
        yield* Effect.sleep(Duration.millis(until - now))
      }
    })

    /** Closes the gate for `wait` from now (never shortens an existing wait). */
    const closeFor = (wait: Duration.Duration) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const until = now + Duration.toMillis(wait)
        return yield* Ref.updateAndGet(notBefore, (current) => Math.max(current, until))
      })

    return { wait, closeFor, openAt: Ref.get(notBefore) } as const
  })
}) {}

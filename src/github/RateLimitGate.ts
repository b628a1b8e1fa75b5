import { Cause, Clock, Deferred, Duration, Effect, Exit, Option } from "effect"

/**
 * One process-wide gate in front of every GitHub request. When a request
 * is rate limited the gate closes until the advertised reset (the deadline
 * only ever moves later), and every worker waits: continuing to send while
 * limited can get the token banned. When the reset comes, one request goes
 * first as a probe; the others wait until it has been answered without a
 * limit, so a herd of workers never wakes into a limit that is still on.
 */
export class RateLimitGate extends Effect.Service<RateLimitGate>()("deployment-tracker/RateLimitGate", {
  effect: Effect.gen(function*() {
    let notBefore = 0
    let limited = false
    let probeInFlight = false
    // Completed (and replaced) whenever the state changes, waking waiters.
    let changed = yield* Deferred.make<void>()

    const notify = Effect.suspend(() => {
      const previous = changed
      return Deferred.make<void>().pipe(
        Effect.tap((next) => Effect.sync(() => (changed = next))),
        Effect.zipRight(Deferred.succeed(previous, undefined))
      )
    })

    /** Waits for the gate; `true` when this request is the probe after a limit. */
    const enter: Effect.Effect<boolean> = Effect.gen(function*() {
      for (;;) {
        const now = yield* Clock.currentTimeMillis
        if (notBefore > now) {
          // Sleep until the reset, or until the reset moves.
          yield* Effect.raceFirst(Effect.sleep(Duration.millis(notBefore - now)), Deferred.await(changed))
          continue
        }
        if (!limited) return false
        if (!probeInFlight) {
          probeInFlight = true
          return true
        }
        yield* Deferred.await(changed)
      }
    })

    /** Closes the gate for `wait` from now (never shortens an existing wait). */
    const closeFor = (wait: Duration.Duration) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        notBefore = Math.max(notBefore, now + Duration.toMillis(wait))
        limited = true
        yield* notify
        return notBefore
      })

    const leaveProbe = (stillLimited: boolean) =>
      Effect.suspend(() => {
        probeInFlight = false
        if (!stillLimited) limited = false
        return notify
      })

    /**
     * Runs one request through the gate. `rateLimitWait` tells whether its
     * failure was a rate limit, and for how long to close the gate.
     */
    const guard = <A, E, R>(
      request: Effect.Effect<A, E, R>,
      rateLimitWait: (error: E) => Duration.Duration | undefined
    ): Effect.Effect<A, E, R> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const probe = yield* restore(enter)
          const exit = yield* Effect.exit(restore(request))
          const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
          const wait = Option.isSome(failure) ? rateLimitWait(failure.value) : undefined
          if (wait !== undefined) yield* closeFor(wait)
          if (probe) yield* leaveProbe(wait !== undefined)
          return yield* exit
        })
      )

    return { guard, closeFor, openAt: Effect.sync(() => notBefore) } as const
  })
}) {}

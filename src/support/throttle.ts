import { Duration, Effect, RateLimiter, type Scope } from "effect"

/** Runs an effect within a request budget. */
export type Throttle = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>

/**
 * A token bucket: `burst` requests may go at once, refilled at `perSecond`;
 * a rate of 0 lifts the limit (benchmarks, simulators).
 */
export const makeThrottle = (perSecond: number, burst: number): Effect.Effect<Throttle, never, Scope.Scope> =>
  perSecond <= 0
    ? Effect.succeed((effect) => effect)
    : RateLimiter.make({ limit: burst, interval: Duration.millis((burst / perSecond) * 1000), algorithm: "token-bucket" })

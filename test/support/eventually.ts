import { Duration, Effect, Schedule } from "effect"

/**
 * Polls `check` until it succeeds or the deadline passes (then fails with
 * the last error). For conditions reached by real I/O; never a fixed sleep.
 */
export const eventually = <A, E>(
  check: Effect.Effect<A, E>,
  deadline: Duration.DurationInput = Duration.seconds(10)
) =>
  check.pipe(
    Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo(deadline)))
  )

/** Fails (for `eventually`) unless `condition` holds. */
export const expectTrue = (condition: boolean, what: string) =>
  condition ? Effect.void : Effect.fail(new Error(`not yet: ${what}`))

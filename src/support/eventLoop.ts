import { Effect } from "effect"

/**
 * Lets the event loop run its pending I/O (probe requests, socket reads)
 * before going on. Effect.yieldNow only yields to other fibers, which may
 * run in the same macrotask; setImmediate runs after the loop's I/O phase.
 */
export const yieldToEventLoop: Effect.Effect<void> = Effect.async<void>((resume) => {
  const pending = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(pending))
})

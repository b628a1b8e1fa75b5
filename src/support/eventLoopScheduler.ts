import { Scheduler } from "effect"
import type { RuntimeFiber } from "effect/Fiber"

/**
 * Longest stretch of fiber work chained on the microtask queue before the
 * event loop gets a turn (I/O: probe requests, socket reads, timers).
 */
export const DEFAULT_SLICE_MILLIS = 10

/**
 * An Effect scheduler that bounds how long fibers keep the event loop.
 *
 * Effect's default scheduler runs a fiber that yields (every 2,048
 * operations) again in a microtask, up to 2,048 times in a row before it
 * falls back to a timer: a busy fiber can hold the loop for seconds. That is
 * what kept `/healthz` and `/readyz` waiting up to half a second at 100,000
 * pods, while the workers reconciled a thousand workloads after the caches
 * synced. Here a chain of microtask drains goes on only while this turn of
 * the event loop has run less than `sliceMillis`; past that, the next drain
 * waits for setImmediate, after the loop's I/O.
 *
 * A turn starts when the first drain of it is scheduled; a setImmediate
 * armed then marks its end, so fibers woken by I/O in a later turn start a
 * fresh slice without a hop of their own.
 */
export const makeEventLoopScheduler = (
  sliceMillis: number = DEFAULT_SLICE_MILLIS,
  now: () => number = () => performance.now()
): Scheduler.Scheduler => {
  let sliceStartedAt = 0
  let inTurn = false
  const endTurn = () => void (inTurn = false)

  const runnerOf = Scheduler.SchedulerRunner.cached((depth, drain) => {
    if (!inTurn) {
      inTurn = true
      sliceStartedAt = now()
      setImmediate(endTurn)
    }
    if (now() - sliceStartedAt < sliceMillis) {
      queueMicrotask(() => drain(depth + 1))
      return
    }
    setImmediate(() => {
      // This callback runs in a new turn: its slice starts now.
      inTurn = true
      sliceStartedAt = now()
      setImmediate(endTurn)
      drain(0)
    })
  })

  const fallback = Scheduler.defaultScheduler
  return {
    shouldYield: (fiber: RuntimeFiber<unknown, unknown>) => fallback.shouldYield(fiber),
    scheduleTask: (task, priority, fiber) => runnerOf(fiber).scheduleTask(task, priority)
  }
}

import { describe, expect, it } from "@effect/vitest"
import { Effect, Scheduler } from "effect"
import { makeEventLoopScheduler } from "../../src/support/eventLoopScheduler.ts"

// A busy fiber that yields often (as Effect code does every 2,048
// operations) must still let the event loop run timers and I/O.

/** Spins for `millis` of wall time: synchronous work the loop cannot interrupt. */
const spin = (millis: number) =>
  Effect.sync(() => {
    const until = performance.now() + millis
    while (performance.now() < until) {
      // busy
    }
  })

/** The longest wait of a 1 ms interval timer while `work` runs. */
const longestTimerWait = (work: Effect.Effect<void>, scheduler: Scheduler.Scheduler) =>
  Effect.promise(async () => {
    let longest = 0
    let last = performance.now()
    const ticker = setInterval(() => {
      const now = performance.now()
      longest = Math.max(longest, now - last)
      last = now
    }, 1)
    try {
      await Effect.runPromise(work.pipe(Effect.withScheduler(scheduler)))
    } finally {
      clearInterval(ticker)
    }
    return Math.max(longest, performance.now() - last)
  })

/** 200 steps of 2 ms of work, each followed by a yield: about 400 ms in all. */
const busyFiber = Effect.forEach(Array.from({ length: 200 }), () => Effect.zipRight(spin(2), Effect.yieldNow()), { discard: true })

describe("the event-loop scheduler", () => {
  it.live("a busy, yielding fiber lets timers run at least every slice (plus one step of work)", () =>
    Effect.gen(function*() {
      const longest = yield* longestTimerWait(busyFiber, makeEventLoopScheduler(10))
      // 10 ms slices; the margin is for a loaded machine descheduling the test process.
      expect(longest).toBeLessThan(150)
    }))

  it.live("two busy fibers together still leave the loop its turns", () =>
    Effect.gen(function*() {
      const both = Effect.all([busyFiber, busyFiber], { concurrency: 2, discard: true })
      const longest = yield* longestTimerWait(both, makeEventLoopScheduler(10))
      expect(longest).toBeLessThan(150)
    }))

  it.live("Effect's default scheduler keeps the loop for the whole run (why this scheduler exists)", () =>
    Effect.gen(function*() {
      const longest = yield* longestTimerWait(busyFiber, Scheduler.defaultScheduler)
      expect(longest).toBeGreaterThan(300)
    }))

  it.live("work and results are the same as with the default scheduler", () =>
    Effect.gen(function*() {
      const sum = Effect.reduce(Array.from({ length: 5_000 }, (_, i) => i), 0, (acc, i) => Effect.succeed(acc + i))
      const result = yield* Effect.promise(() => Effect.runPromise(sum.pipe(Effect.withScheduler(makeEventLoopScheduler(1)))))
      expect(result).toBe(12_497_500)
    }))
})

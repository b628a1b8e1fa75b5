import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Option, Schedule, TestClock } from "effect"
import { makeWorkQueue, requeueBackoff } from "../../src/controller/WorkQueue.ts"

// A deterministic backoff for tests: 1 s, 2 s, 4 s, ...
const exactBackoff = Schedule.exponential("1 second")

/** Whether `fiber` finished within the current (test) instant. */
const isDone = <A, E>(fiber: Fiber.RuntimeFiber<A, E>) =>
  Effect.yieldNow().pipe(Effect.zipRight(fiber.poll), Effect.map(Option.isSome))

describe("WorkQueue", () => {
  it.scoped("a key already waiting is not queued twice", () =>
    Effect.gen(function*() {
      const q = yield* makeWorkQueue<string>({ capacity: 10 })
      yield* q.add("a")
      yield* q.add("b")
      yield* q.add("a")
      expect(yield* q.size).toBe(2)
      expect(yield* q.take).toBe("a")
      expect(yield* q.take).toBe("b")
      const third = yield* Effect.fork(q.take)
      expect(yield* isDone(third)).toBe(false)
    }))

  it.scoped("a key is never handed to two workers at once; re-adds during processing come back after done", () =>
    Effect.gen(function*() {
      const q = yield* makeWorkQueue<string>({ capacity: 10 })
      yield* q.add("a")
      expect(yield* q.take).toBe("a")
      // Re-added while a worker holds it: must not be handed out now.
      yield* q.add("a")
      yield* q.add("a")
      const second = yield* Effect.fork(q.take)
      expect(yield* isDone(second)).toBe(false)
      yield* q.done("a")
      expect(yield* Fiber.join(second)).toBe("a")
      yield* q.done("a")
      expect(yield* q.size).toBe(0)
    }))

  it.scoped("keys come out in the order they were added", () =>
    Effect.gen(function*() {
      const q = yield* makeWorkQueue<number>({ capacity: 100 })
      yield* Effect.forEach([5, 3, 9, 1], q.add)
      const out = yield* Effect.forEach([1, 2, 3, 4], () => q.take)
      expect(out).toEqual([5, 3, 9, 1])
    }))

  it.scoped("when full, add waits (backpressure) and nothing is dropped", () =>
    Effect.gen(function*() {
      const q = yield* makeWorkQueue<string>({ capacity: 2 })
      yield* q.add("a")
      yield* q.add("b")
      const blocked = yield* Effect.fork(q.add("c"))
      expect(yield* isDone(blocked)).toBe(false)
      // Adding a key that already waits does not need room.
      yield* q.add("a")
      expect(yield* q.take).toBe("a")
      yield* Fiber.join(blocked)
      expect(yield* q.take).toBe("b")
      expect(yield* q.take).toBe("c")
    }))

  it.scoped("a key re-added while processing holds room in the queue", () =>
    Effect.gen(function*() {
      const q = yield* makeWorkQueue<string>({ capacity: 1 })
      yield* q.add("a")
      expect(yield* q.take).toBe("a")
      yield* q.add("a") // dirty while processing: takes the only slot
      const blocked = yield* Effect.fork(q.add("b"))
      expect(yield* isDone(blocked)).toBe(false)
      yield* q.done("a")
      expect(yield* q.take).toBe("a")
      yield* Fiber.join(blocked)
      expect(yield* q.take).toBe("b")
    }))

  it.scoped("failures are requeued after a per-key exponential delay, reset by forget", () =>
    Effect.gen(function*() {
      const q = yield* makeWorkQueue<string>({ capacity: 10, backoff: exactBackoff })
      yield* q.add("a")
      yield* q.take
      yield* q.done("a")
      yield* q.addRateLimited("a")
      expect(yield* q.numRequeues("a")).toBe(1)

      const next = yield* Effect.fork(q.take)
      yield* TestClock.adjust(Duration.millis(999))
      expect(yield* isDone(next)).toBe(false)
      yield* TestClock.adjust(Duration.millis(1))
      expect(yield* Fiber.join(next)).toBe("a")
      yield* q.done("a")

      // Second failure: 2 s.
      yield* q.addRateLimited("a")
      const again = yield* Effect.fork(q.take)
      yield* TestClock.adjust(Duration.millis(1999))
      expect(yield* isDone(again)).toBe(false)
      yield* TestClock.adjust(Duration.millis(1))
      expect(yield* Fiber.join(again)).toBe("a")
      yield* q.done("a")

      // After forget the delay starts from the beginning again.
      yield* q.forget("a")
      expect(yield* q.numRequeues("a")).toBe(0)
      yield* q.addRateLimited("a")
      const fresh = yield* Effect.fork(q.take)
      yield* TestClock.adjust(Duration.seconds(1))
      expect(yield* Fiber.join(fresh)).toBe("a")
    }))

  it.effect("the default requeue backoff grows from 1 s and is capped at 5 minutes, with jitter", () =>
    Effect.gen(function*() {
      const delays = yield* Schedule.run(Schedule.delays(requeueBackoff), 0, Array.from({ length: 14 }, () => undefined))
      const ms = Array.from(delays, Duration.toMillis)
      // Jitter is 0.8-1.2x of 1 s * 2^n, and the cap is a hard 5 minutes.
      expect(ms[0]).toBeGreaterThanOrEqual(800)
      expect(ms[0]).toBeLessThanOrEqual(1200)
      expect(ms[3]).toBeGreaterThanOrEqual(6400)
      expect(ms[3]).toBeLessThanOrEqual(9600)
      expect(Math.max(...ms)).toBeLessThanOrEqual(300_000)
      expect(ms[13]).toBe(300_000)
    }))

  it.scoped("drain gives delayed keys one more try now and completes when idle", () =>
    Effect.gen(function*() {
      const q = yield* makeWorkQueue<string>({ capacity: 10, backoff: exactBackoff })
      yield* q.addRateLimited("slow")
      yield* q.add("b")
      const drained = yield* Effect.fork(q.drain)
      expect(yield* q.take).toBe("b")
      expect(yield* q.take).toBe("slow") // no need to wait out its delay
      expect(yield* isDone(drained)).toBe(false)
      yield* q.done("b")
      expect(yield* isDone(drained)).toBe(false)
      yield* q.done("slow")
      yield* Fiber.join(drained)
    }))
})

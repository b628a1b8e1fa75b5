import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber } from "effect"
import { makeKeyedMutex } from "../../src/controller/KeyedMutex.ts"

describe("KeyedMutex", () => {
  it.effect("one effect per key at a time; other keys are not held up; keys are released", () =>
    Effect.gen(function*() {
      const mutex = yield* makeKeyedMutex
      const gate = yield* Deferred.make<void>()
      const log: Array<string> = []
      const step = (name: string, key: string, wait?: Deferred.Deferred<void>) =>
        Effect.sync(() => log.push(`start ${name}`)).pipe(
          Effect.zipRight(wait === undefined ? Effect.void : Deferred.await(wait)),
          Effect.zipRight(Effect.sync(() => log.push(`end ${name}`))),
          mutex.withKey(key)
        )
      const a1 = yield* Effect.fork(step("a1", "a", gate))
      yield* Effect.yieldNow()
      const a2 = yield* Effect.fork(step("a2", "a"))
      const b1 = yield* Effect.fork(step("b1", "b"))
      yield* Fiber.join(b1)
      expect(log).toEqual(["start a1", "start b1", "end b1"])
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(a1)
      yield* Fiber.join(a2)
      expect(log).toEqual(["start a1", "start b1", "end b1", "end a1", "start a2", "end a2"])
      expect(mutex.size()).toBe(0)
    }))

  it.effect("a failing effect releases its key", () =>
    Effect.gen(function*() {
      const mutex = yield* makeKeyedMutex
      yield* Effect.exit(Effect.fail("boom").pipe(mutex.withKey("k")))
      expect(yield* Effect.succeed(1).pipe(mutex.withKey("k"))).toBe(1)
    }))
})

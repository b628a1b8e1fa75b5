import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber, TestClock } from "effect"
import { allocateOnCppHeap, CPP_HEAP_ALLOCATION_INTERVAL, memoryReducerAid } from "../../src/support/v8MemoryReducer.ts"

describe("the aid to V8's memory reducer", () => {
  it.effect("allocates on the C++ heap at once, then every 30 s", () =>
    Effect.gen(function*() {
      let allocations = 0
      const fiber = yield* Effect.fork(memoryReducerAid(() => void allocations++))
      yield* TestClock.adjust(Duration.millis(1))
      expect(allocations).toBe(1)
      yield* TestClock.adjust(CPP_HEAP_ALLOCATION_INTERVAL)
      expect(allocations).toBe(2)
      yield* TestClock.adjust(Duration.times(CPP_HEAP_ALLOCATION_INTERVAL, 3))
      expect(allocations).toBe(5)
      yield* Fiber.interrupt(fiber)
    }))

  it("the allocation itself compiles a script and keeps nothing", () => {
    expect(() => allocateOnCppHeap()).not.toThrow()
  })
})

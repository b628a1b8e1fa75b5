import { describe, expect, it } from "@effect/vitest"
import { Data, Deferred, Duration, Effect, Fiber, TestClock } from "effect"
import { RateLimitGate } from "../../src/github/RateLimitGate.ts"

class Limited extends Data.TaggedError("Limited")<{ readonly seconds: number }> {}

const waitOf = (e: Limited) => Duration.seconds(e.seconds)

/**
 * A fake GitHub: each request takes the next scripted answer, in the
 * order requests actually go out, and is remembered.
 */
const fakeApi = (gate: RateLimitGate, answers: Array<Effect.Effect<void, Limited>>) => {
  const sent: Array<string> = []
  const send = (name: string) =>
    gate.guard(
      Effect.suspend(() => {
        sent.push(name)
        return answers.shift() ?? Effect.void
      }),
      waitOf
    )
  return { sent, send }
}

describe("RateLimitGate", () => {
  it.effect("after a limit, nothing passes before the reset; then one probe goes first, the rest after it succeeds", () =>
    Effect.gen(function*() {
      const gate = yield* RateLimitGate
      const probeAnswer = yield* Deferred.make<void>()
      const api = fakeApi(gate, [Effect.fail(new Limited({ seconds: 10 })), Deferred.await(probeAnswer)])
      yield* Effect.exit(api.send("first"))
      const waiting = yield* Effect.forEach(["a", "b", "c"], (n) => Effect.fork(api.send(n)))
      yield* TestClock.adjust(Duration.millis(9999))
      expect(api.sent).toEqual(["first"])
      yield* TestClock.adjust(Duration.millis(1))
      // Exactly one probe is out; the others hold back until it is answered.
      expect(api.sent).toHaveLength(2)
      yield* Deferred.succeed(probeAnswer, undefined)
      yield* Effect.forEach(waiting, Fiber.join)
      expect(api.sent.slice(1).sort()).toEqual(["a", "b", "c"])
    }).pipe(Effect.provide(RateLimitGate.Default)))

  it.effect("a probe that is limited again closes the gate again", () =>
    Effect.gen(function*() {
      const gate = yield* RateLimitGate
      const api = fakeApi(gate, [Effect.fail(new Limited({ seconds: 5 })), Effect.fail(new Limited({ seconds: 5 }))])
      yield* Effect.exit(api.send("first"))
      const fibers = yield* Effect.forEach(["x", "y"], (n) => Effect.fork(Effect.exit(api.send(n))))
      yield* TestClock.adjust(Duration.seconds(5))
      expect(api.sent).toHaveLength(2) // the probe, limited again
      yield* TestClock.adjust(Duration.millis(4999))
      expect(api.sent).toHaveLength(2)
      yield* TestClock.adjust(Duration.millis(1))
      yield* Effect.forEach(fibers, Fiber.join)
      expect(api.sent).toHaveLength(3)
    }).pipe(Effect.provide(RateLimitGate.Default)))

  it.effect("without a limit requests pass at once and concurrently", () =>
    Effect.gen(function*() {
      const gate = yield* RateLimitGate
      const release = yield* Deferred.make<void>()
      const api = fakeApi(gate, [Deferred.await(release), Deferred.await(release)])
      const fibers = yield* Effect.forEach(["a", "b"], (n) => Effect.fork(api.send(n)))
      yield* Effect.yieldNow()
      expect(api.sent).toHaveLength(2)
      yield* Deferred.succeed(release, undefined)
      yield* Effect.forEach(fibers, Fiber.join)
    }).pipe(Effect.provide(RateLimitGate.Default)))

  it.effect("the deadline only moves later", () =>
    Effect.gen(function*() {
      const gate = yield* RateLimitGate
      yield* gate.closeFor(Duration.seconds(60))
      const at = yield* gate.openAt
      yield* gate.closeFor(Duration.seconds(1))
      expect(yield* gate.openAt).toBe(at)
    }).pipe(Effect.provide(RateLimitGate.Default)))
})

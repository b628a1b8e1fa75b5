import { describe, expect, it } from "@effect/vitest"
import { Clock, Deferred, Duration, Effect, Exit, Fiber, Scope, TestClock } from "effect"
import { DEFAULT_LIVENESS_BOUNDS, Liveness } from "../../src/observability/Liveness.ts"

const bounds = { watchStall: Duration.minutes(5), workStall: Duration.minutes(30) }
const withLiveness = Effect.provide(Liveness.layer(bounds))

const live = Effect.flatMap(Liveness, (l) => l.check).pipe(Effect.map((r) => r.live))

describe("Liveness", () => {
  it("defaults: a watch stalls after 5 minutes, a worker after 30 (both above what normal operation produces)", () => {
    expect(Duration.toMinutes(DEFAULT_LIVENESS_BOUNDS.watchStall)).toBe(5)
    expect(Duration.toMinutes(DEFAULT_LIVENESS_BOUNDS.workStall)).toBe(30)
  })

  it.scoped("nothing registered is live", () =>
    Effect.gen(function*() {
      const report = yield* Effect.flatMap(Liveness, (l) => l.check)
      expect(report).toMatchObject({ live: true, problems: [], watches: [], workers: [], heldUpUntil: null })
      expect(report.bounds).toEqual({ watchStallSeconds: 300, workStallSeconds: 1800 })
    }).pipe(withLiveness))

  it.scoped("a watch waiting on the server without progress for longer than the bound is stalled", () =>
    Effect.gen(function*() {
      const liveness = yield* Liveness
      const watch = yield* liveness.watch("pods")
      yield* TestClock.adjust(Duration.minutes(4))
      yield* watch.progressed
      yield* TestClock.adjust(Duration.minutes(5))
      expect(yield* live).toBe(true)
      yield* TestClock.adjust(Duration.seconds(1))
      const report = yield* liveness.check
      expect(report.live).toBe(false)
      expect(report.problems).toEqual(["watch pods: no list page, event or bookmark for 301 s"])
      expect(report.watches).toEqual([{ name: "pods", state: "waiting-for-server", silentSeconds: 301 }])
      // A bookmark (any progress) makes it live again.
      yield* watch.progressed
      expect(yield* live).toBe(true)
    }).pipe(withLiveness))

  it.scoped("time with the consumer is not a stall of the watch; the clock restarts at the next pull", () =>
    Effect.gen(function*() {
      const liveness = yield* Liveness
      const watch = yield* liveness.watch("pods")
      yield* watch.handedOver
      yield* TestClock.adjust(Duration.minutes(20))
      const report = yield* liveness.check
      expect(report.live).toBe(true)
      expect(report.watches).toEqual([{ name: "pods", state: "with-consumer", heldSeconds: 1200 }])
      yield* watch.pulled
      yield* TestClock.adjust(Duration.minutes(5))
      expect(yield* live).toBe(true)
      yield* TestClock.adjust(Duration.seconds(1))
      expect(yield* live).toBe(false)
    }).pipe(withLiveness))

  it.scoped("a consumer that holds its watch beyond the work bound is wedged", () =>
    Effect.gen(function*() {
      const liveness = yield* Liveness
      const watch = yield* liveness.watch("pods")
      yield* watch.handedOver
      yield* TestClock.adjust(Duration.minutes(31))
      const report = yield* liveness.check
      expect(report.live).toBe(false)
      expect(report.problems).toEqual(["watch pods: its consumer has not pulled for 1860 s"])
    }).pipe(withLiveness))

  it.scoped("a worker busy with one key beyond the bound is wedged; an idle worker never is", () =>
    Effect.gen(function*() {
      const liveness = yield* Liveness
      const idle = yield* liveness.worker("worker-0")
      const stuck = yield* liveness.worker("worker-1")
      void idle
      const release = yield* Deferred.make<void>()
      const busy = yield* stuck.handling("default/web-1")(Deferred.await(release)).pipe(Effect.fork)
      yield* TestClock.adjust(Duration.minutes(30))
      expect(yield* live).toBe(true)
      yield* TestClock.adjust(Duration.seconds(1))
      const report = yield* liveness.check
      expect(report.live).toBe(false)
      expect(report.problems).toEqual(["worker worker-1: busy with default/web-1 for 1801 s"])
      expect(report.workers).toEqual([
        { name: "worker-0", state: "idle" },
        { name: "worker-1", state: "busy", key: "default/web-1", busySeconds: 1801 }
      ])
      // Finishing the key ends the wedge.
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(busy)
      expect(yield* live).toBe(true)
    }).pipe(withLiveness))

  it.scoped("a declared hold-up (a rate limit) excuses the wait, and the clock restarts when it ends", () =>
    Effect.gen(function*() {
      const liveness = yield* Liveness
      const worker = yield* liveness.worker("worker-0")
      // A rate limit reset 50 minutes from now, as the gate would report it.
      const start = yield* Clock.currentTimeMillis
      const resetAt = start + Duration.toMillis(Duration.minutes(50))
      yield* liveness.holdUp(Effect.succeed(resetAt))
      yield* worker.handling("default/web-1")(Effect.never).pipe(Effect.fork)
      yield* TestClock.adjust(Duration.minutes(45))
      const during = yield* liveness.check
      expect(during.live).toBe(true)
      expect(during.heldUpUntil).toBe(new Date(resetAt).toISOString())
      // 30 minutes after the reset, still busy with the same key: wedged.
      yield* TestClock.adjust(Duration.minutes(35))
      expect(yield* live).toBe(true)
      yield* TestClock.adjust(Duration.seconds(1))
      expect(yield* live).toBe(false)
    }).pipe(withLiveness))

  it.effect("a hold-up no longer counts once its scope is closed", () =>
    Effect.gen(function*() {
      const liveness = yield* Liveness
      const worker = yield* liveness.worker("worker-0")
      const holdUpScope = yield* Scope.make()
      const forever = Number.MAX_SAFE_INTEGER
      yield* liveness.holdUp(Effect.succeed(forever)).pipe(Scope.extend(holdUpScope))
      yield* worker.handling("default/web-1")(Effect.never).pipe(Effect.fork)
      yield* TestClock.adjust(Duration.hours(2))
      expect(yield* live).toBe(true)
      yield* Scope.close(holdUpScope, Exit.void)
      expect(yield* live).toBe(false)
    }).pipe(Effect.scoped, withLiveness))

  it.effect("a loop that dies or ends is stopped (not live); one interrupted (shutdown) is forgotten", () =>
    Effect.gen(function*() {
      const liveness = yield* Liveness
      // The watch loop dies with a defect: its scope closes with that failure.
      yield* liveness.watch("pods").pipe(Effect.zipRight(Effect.die("boom")), Effect.scoped, Effect.exit)
      // A worker interrupted at shutdown.
      const worker = yield* liveness.worker("worker-0").pipe(Effect.zipRight(Effect.never), Effect.scoped, Effect.fork)
      yield* TestClock.adjust(Duration.millis(1))
      expect((yield* liveness.check).workers).toEqual([{ name: "worker-0", state: "idle" }])
      yield* Fiber.interrupt(worker)
      const report = yield* liveness.check
      expect(report.live).toBe(false)
      expect(report.problems).toEqual(["watch pods stopped: the loop died"])
      expect(report.workers).toEqual([])
      // A loop that simply returns is stopped too: these loops never end on their own.
      yield* liveness.worker("worker-1").pipe(Effect.scoped)
      expect((yield* liveness.check).problems).toContain("worker worker-1 stopped: the loop ended")
    }).pipe(withLiveness))
})

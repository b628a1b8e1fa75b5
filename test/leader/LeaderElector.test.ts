import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, Exit, Fiber, Option, Ref, TestClock } from "effect"
import { KubeApi } from "../../src/kube/KubeApi.ts"
import { type ElectionTiming, makeLeaderElector } from "../../src/leader/LeaderElector.ts"
import { formatMicroTime } from "../../src/leader/leaseRecord.ts"
import { whileLeading } from "../../src/leader/whileLeading.ts"
import { type FakeLeaseApi, LEASE, makeFakeLeaseApi } from "./fakeLeaseApi.ts"

// client-go's defaults: 15 s / 10 s / 2 s.
const TIMING: ElectionTiming = {
  leaseDuration: Duration.seconds(15),
  renewDeadline: Duration.seconds(10),
  retryPeriod: Duration.seconds(2)
}
/** The longest wait between acquire attempts: retry period × (1 + 1.2). */
const MAX_ACQUIRE_WAIT_MS = 2_000 * 2.2
const T0 = Date.parse("2025-01-01T00:00:00Z")

const electorFor = (fake: FakeLeaseApi, identity: string) =>
  makeLeaderElector({ lease: LEASE, identity, ...TIMING }).pipe(Effect.provideService(KubeApi, fake.api))

/** Milliseconds since T0 on the test clock. */
const elapsed = Effect.map(Clock.currentTimeMillis, (now) => now - T0)

/** Advances the test clock in small steps until `done` holds or `limitMs` passed; the time it held, or None. */
const advanceUntil = (done: Effect.Effect<boolean>, limitMs: number, stepMs = 100) =>
  Effect.gen(function*() {
    const until = (yield* elapsed) + limitMs
    while ((yield* elapsed) <= until) {
      if (yield* done) return Option.some(yield* elapsed)
      yield* TestClock.adjust(Duration.millis(stepMs))
    }
    return Option.none<number>()
  })

const isDone = <A, E>(fiber: Fiber.Fiber<A, E>) => Effect.map(fiber.poll, Option.isSome)

/** A guarded work that counts how many run at once and remembers who ran. */
const makeWorkTracker = Effect.gen(function*() {
  const running = yield* Ref.make(0)
  const maxRunning = yield* Ref.make(0)
  const started = yield* Ref.make<ReadonlyArray<string>>([])
  const work = (who: string) =>
    Effect.acquireRelease(
      Ref.updateAndGet(running, (n) => n + 1).pipe(
        Effect.tap((n) => Ref.update(maxRunning, (m) => Math.max(m, n))),
        Effect.zipRight(Ref.update(started, (s) => [...s, who]))
      ),
      () => Ref.update(running, (n) => n - 1)
    ).pipe(Effect.zipRight(Effect.never), Effect.scoped)
  return { work, running: Ref.get(running), maxRunning: Ref.get(maxRunning), started: Ref.get(started) } as const
})

const startAt = TestClock.setTime(T0)

describe("LeaderElector.release", () => {
  it.effect("a renewal that reached the server unseen (stale version: 409) is read again and released if still ours", () =>
    Effect.gen(function*() {
      yield* startAt
      const fake = yield* makeFakeLeaseApi
      const a = yield* electorFor(fake, "pod-a")
      yield* a.tryAcquireOrRenew
      // The server holds a newer version of our own Lease (a renewal whose answer was cut off).
      yield* fake.seed({ holderIdentity: "pod-a", leaseDurationSeconds: 15, renewTime: formatMicroTime(T0 + 2_000), leaseTransitions: 0 })
      const before = (yield* fake.calls).length
      expect(yield* a.release).toBe(true)
      expect((yield* fake.calls).slice(before).map((c) => `${c.method} ${c.status}`)).toEqual(["PUT 409", "GET 200", "PUT 200"])
      const spec = Option.getOrThrow(yield* fake.spec)
      expect(spec.holderIdentity).toBe("")
      expect(spec.leaseDurationSeconds).toBe(1)
    }))

  it.effect("a Lease another replica took meanwhile is left alone", () =>
    Effect.gen(function*() {
      yield* startAt
      const fake = yield* makeFakeLeaseApi
      const a = yield* electorFor(fake, "pod-a")
      yield* a.tryAcquireOrRenew
      yield* fake.seed({ holderIdentity: "pod-b", leaseDurationSeconds: 15, renewTime: formatMicroTime(T0), leaseTransitions: 1 })
      expect(yield* a.release).toBe(false)
      expect(Option.getOrThrow(yield* fake.spec).holderIdentity).toBe("pod-b")
    }))
})

describe("LeaderElector.tryAcquireOrRenew", () => {
  it.effect("creates the Lease when there is none: acquireTime = renewTime = now, no transition", () =>
    Effect.gen(function*() {
      yield* startAt
      const fake = yield* makeFakeLeaseApi
      const a = yield* electorFor(fake, "pod-a")
      expect(yield* a.tryAcquireOrRenew).toBe(true)
      expect(yield* a.isLeader).toBe(true)
      expect(yield* fake.spec).toEqual(Option.some({
        holderIdentity: "pod-a",
        leaseDurationSeconds: 15,
        acquireTime: "2025-01-01T00:00:00.000000Z",
        renewTime: "2025-01-01T00:00:00.000000Z",
        leaseTransitions: 0
      }))
      expect((yield* fake.calls).map((c) => `${c.method} ${c.status}`)).toEqual(["GET 404", "POST 200"])
    }))

  it.effect("renews by the fast path (one PUT, no read), keeping acquireTime and transitions", () =>
    Effect.gen(function*() {
      yield* startAt
      const fake = yield* makeFakeLeaseApi
      const a = yield* electorFor(fake, "pod-a")
      yield* a.tryAcquireOrRenew
      yield* TestClock.adjust("2 seconds")
      expect(yield* a.tryAcquireOrRenew).toBe(true)
      const spec = Option.getOrThrow(yield* fake.spec)
      expect(spec.acquireTime).toBe("2025-01-01T00:00:00.000000Z")
      expect(spec.renewTime).toBe("2025-01-01T00:00:02.000000Z")
      expect(spec.leaseTransitions).toBe(0)
      expect((yield* fake.calls).map((c) => c.method)).toEqual(["GET", "POST", "PUT"])
    }))

  it.effect("a failed fast path (someone wrote meanwhile: 409) falls back to reading and then respects the new holder", () =>
    Effect.gen(function*() {
      yield* startAt
      const fake = yield* makeFakeLeaseApi
      const a = yield* electorFor(fake, "pod-a")
      yield* a.tryAcquireOrRenew
      // Another process overwrote the Lease (e.g. an operator handing it over).
      yield* fake.seed({ holderIdentity: "pod-b", leaseDurationSeconds: 15, renewTime: formatMicroTime(T0), leaseTransitions: 1 })
      yield* TestClock.adjust("2 seconds")
      expect(yield* a.tryAcquireOrRenew).toBe(false)
      expect(yield* a.isLeader).toBe(false)
      expect((yield* fake.calls).slice(2).map((c) => `${c.method} ${c.status}`)).toEqual(["PUT 409", "GET 200"])
      expect(Option.getOrThrow(yield* fake.spec).holderIdentity).toBe("pod-b")
    }))
})

describe("LeaderElector: standby and takeover", () => {
  it.effect("a standby does not take over before leaseDuration by its own observation, even if renewTime is old (clock skew)", () =>
    Effect.gen(function*() {
      yield* startAt
      const fake = yield* makeFakeLeaseApi
      // The holder's clock is a year behind ours: its renewTime must not count.
      yield* fake.seed({
        holderIdentity: "pod-a",
        leaseDurationSeconds: 15,
        acquireTime: "2024-01-01T00:00:00.000000Z",
        renewTime: "2024-01-01T00:00:00.000000Z",
        leaseTransitions: 0
      })
      const b = yield* electorFor(fake, "pod-b")
      const acquiring = yield* Effect.fork(b.acquire)
      const at = yield* advanceUntil(isDone(acquiring), 30_000)
      expect(Option.isSome(at)).toBe(true)
      const ms = Option.getOrThrow(at)
      expect(ms).toBeGreaterThanOrEqual(15_000)
      expect(ms).toBeLessThanOrEqual(15_000 + MAX_ACQUIRE_WAIT_MS)
    }))

  it.effect("a standby that starts later waits a full leaseDuration from its first observation", () =>
    Effect.gen(function*() {
      yield* startAt
      const fake = yield* makeFakeLeaseApi
      const a = yield* electorFor(fake, "pod-a")
      yield* a.tryAcquireOrRenew
      // pod-a dies right away; pod-b starts 10 s later and sees a 10 s old renewTime.
      yield* TestClock.adjust("10 seconds")
      const b = yield* electorFor(fake, "pod-b")
      const acquiring = yield* Effect.fork(b.acquire)
      const ms = Option.getOrThrow(yield* advanceUntil(isDone(acquiring), 40_000))
      expect(ms).toBeGreaterThanOrEqual(25_000)
      expect(ms).toBeLessThanOrEqual(25_000 + MAX_ACQUIRE_WAIT_MS)
    }))

  it.effect("takeover after expiry increments leaseTransitions and sets a new acquireTime", () =>
    Effect.gen(function*() {
      yield* startAt
      const fake = yield* makeFakeLeaseApi
      const a = yield* electorFor(fake, "pod-a")
      yield* a.acquire
      const b = yield* electorFor(fake, "pod-b")
      const acquiring = yield* Effect.fork(b.acquire)
      const ms = Option.getOrThrow(yield* advanceUntil(isDone(acquiring), 30_000))
      const spec = Option.getOrThrow(yield* fake.spec)
      expect(spec.holderIdentity).toBe("pod-b")
      expect(spec.leaseTransitions).toBe(1)
      expect(spec.acquireTime).toBe(spec.renewTime)
      // Written when the takeover happened (advanceUntil notices it up to one 100 ms step later).
      expect(Date.parse(spec.acquireTime!) - T0).toBeGreaterThan(ms - 100)
      expect(Date.parse(spec.acquireTime!) - T0).toBeLessThanOrEqual(ms)
      expect(yield* b.isLeader).toBe(true)
    }))

  it.effect("a leader that keeps renewing is never taken over", () =>
    Effect.gen(function*() {
      yield* startAt
      const fake = yield* makeFakeLeaseApi
      const a = yield* electorFor(fake, "pod-a")
      yield* a.acquire
      const renewing = yield* Effect.fork(a.keepRenewing)
      const b = yield* electorFor(fake, "pod-b")
      const acquiring = yield* Effect.fork(b.acquire)
      expect(Option.isNone(yield* advanceUntil(isDone(acquiring), 120_000, 250))).toBe(true)
      const spec = Option.getOrThrow(yield* fake.spec)
      expect(spec.holderIdentity).toBe("pod-a")
      expect(spec.leaseTransitions).toBe(0)
      expect(Date.parse(spec.renewTime!) - T0).toBeGreaterThan(115_000)
      yield* Fiber.interrupt(acquiring)
      yield* Fiber.interrupt(renewing)
    }))
})

describe("LeaderElector: races", () => {
  it.effect("two candidates updating the same version: one wins, the other gets 409; one transition", () =>
    Effect.gen(function*() {
      yield* startAt
      const fake = yield* makeFakeLeaseApi
      yield* fake.seed({ holderIdentity: "", leaseDurationSeconds: 1, leaseTransitions: 4, renewTime: formatMicroTime(T0) })
      yield* fake.setReadDelay("1 second") // both read version 1 before either writes
      const a = yield* electorFor(fake, "pod-a")
      const b = yield* electorFor(fake, "pod-b")
      const both = yield* Effect.fork(Effect.all([a.tryAcquireOrRenew, b.tryAcquireOrRenew], { concurrency: 2 }))
      yield* TestClock.adjust("1 second")
      const [aWon, bWon] = yield* Fiber.join(both)
      expect([aWon, bWon].filter(Boolean)).toHaveLength(1)
      const spec = Option.getOrThrow(yield* fake.spec)
      expect(spec.holderIdentity).toBe(aWon ? "pod-a" : "pod-b")
      expect(spec.leaseTransitions).toBe(5)
      expect((yield* fake.calls).filter((c) => c.method === "PUT").map((c) => c.status).sort()).toEqual([200, 409])
      expect([yield* a.isLeader, yield* b.isLeader]).toEqual([aWon, bWon])
    }))

  it.effect("two candidates creating the Lease at once: one gets 409 AlreadyExists", () =>
    Effect.gen(function*() {
      yield* startAt
      const fake = yield* makeFakeLeaseApi
      yield* fake.setReadDelay("1 second")
      const a = yield* electorFor(fake, "pod-a")
      const b = yield* electorFor(fake, "pod-b")
      const both = yield* Effect.fork(Effect.all([a.tryAcquireOrRenew, b.tryAcquireOrRenew], { concurrency: 2 }))
      yield* TestClock.adjust("1 second")
      const results = yield* Fiber.join(both)
      expect(results.filter(Boolean)).toHaveLength(1)
      expect((yield* fake.calls).filter((c) => c.method === "POST").map((c) => c.status).sort()).toEqual([200, 409])
    }))

  it.effect("two replicas running the guarded work: exactly one works at any time, through a lease loss and a restart", () =>
    Effect.gen(function*() {
      yield* startAt
      const fake = yield* makeFakeLeaseApi
      yield* fake.setReadDelay("300 millis") // overlapping reads, so writes do race
      const tracker = yield* makeWorkTracker
      const run = (identity: string) =>
        electorFor(fake, identity).pipe(Effect.flatMap((e) => whileLeading(e, tracker.work(identity))), Effect.fork)
      const a = yield* run("pod-a")
      const b = yield* run("pod-b")
      expect(Option.isSome(yield* advanceUntil(Effect.map(tracker.running, (n) => n === 1), 5_000))).toBe(true)
      yield* advanceUntil(Effect.succeed(false), 30_000, 250)
      expect(yield* tracker.running).toBe(1)
      // An outage longer than the renew deadline: the leader stops; after it ends, one leader again.
      yield* fake.setOutage(503)
      yield* advanceUntil(Effect.succeed(false), 20_000, 250)
      expect(yield* tracker.running).toBe(0)
      yield* fake.setOutage(undefined)
      const leader = (yield* tracker.started)[0]!
      const survivor = leader === "pod-a" ? b : a
      const lost = leader === "pod-a" ? a : b
      expect(Exit.isFailure(Option.getOrThrow(yield* lost.poll))).toBe(true)
      expect(Option.isSome(yield* advanceUntil(Effect.map(tracker.running, (n) => n === 1), 30_000))).toBe(true)
      // The process that lost restarts as a standby (the pod restarted).
      const restarted = yield* run(`${leader}-restarted`)
      yield* advanceUntil(Effect.succeed(false), 60_000, 250)
      expect(yield* tracker.running).toBe(1)
      expect(yield* tracker.maxRunning).toBe(1)
      yield* Fiber.interrupt(survivor)
      yield* Fiber.interrupt(restarted)
    }))
})

describe("whileLeading", () => {
  it.effect("renew deadline exceeded: onLost runs, the work stops, LeadershipLost — before a standby could take over", () =>
    Effect.gen(function*() {
      yield* startAt
      const fake = yield* makeFakeLeaseApi
      const a = yield* electorFor(fake, "pod-a")
      const lostAt = yield* Ref.make(Option.none<number>())
      const stoppedAt = yield* Ref.make(Option.none<number>())
      const work = Effect.never.pipe(Effect.onInterrupt(() => Effect.flatMap(elapsed, (t) => Ref.set(stoppedAt, Option.some(t)))))
      const leading = yield* Effect.fork(
        whileLeading(a, work, { onLost: () => Effect.flatMap(elapsed, (t) => Ref.set(lostAt, Option.some(t))) })
      )
      yield* TestClock.adjust("5 seconds") // renewed at 2 s and 4 s
      const lastRenewMs = Date.parse(Option.getOrThrow(yield* fake.spec).renewTime!) - T0
      expect(lastRenewMs).toBe(4_000)
      yield* fake.setOutage(503)
      yield* advanceUntil(isDone(leading), 30_000)
      const exit = Option.getOrThrow(yield* leading.poll)
      expect(Exit.isFailure(exit) && Exit.causeOption(exit).pipe(Option.map(String), Option.getOrElse(() => ""))).toContain(
        "LeadershipLost"
      )
      // The renewal starting at 6 s kept failing for the 10 s deadline.
      expect(yield* Ref.get(lostAt)).toEqual(Option.some(16_000))
      expect(yield* Ref.get(stoppedAt)).toEqual(Option.some(16_000))
      // A standby saw the 4 s renewal at the earliest at 4 s: it cannot take over before 19 s.
      expect(16_000).toBeLessThan(lastRenewMs + 15_000)
      // No release after a loss.
      expect((yield* fake.calls).filter((c) => c.method === "PUT" && c.holder === "")).toEqual([])
    }))

  it.effect("shutdown: the work stops first (renewing meanwhile, even past the lease duration), then the lease is released and a standby takes over at once", () =>
    Effect.gen(function*() {
      yield* startAt
      const fake = yield* makeFakeLeaseApi
      const a = yield* electorFor(fake, "pod-a")
      const b = yield* electorFor(fake, "pod-b")
      const holderWhenStopped = yield* Ref.make(Option.none<string>())
      // A drain of 20 s: longer than the 15 s lease.
      const work = Effect.never.pipe(Effect.onInterrupt(() =>
        Effect.sleep("20 seconds").pipe(
          Effect.zipRight(fake.spec),
          Effect.flatMap((spec) => Ref.set(holderWhenStopped, Option.map(spec, (s) => s.holderIdentity ?? "")))
        )
      ))
      const leading = yield* Effect.fork(whileLeading(a, work))
      yield* TestClock.adjust("1 second")
      const standby = yield* Effect.fork(whileLeading(b, Effect.never))
      yield* TestClock.adjust("10 seconds")
      const transitions = Option.getOrThrow(yield* fake.spec).leaseTransitions ?? 0
      const stopping = yield* Effect.fork(Fiber.interrupt(leading))
      const stoppedAt = Option.getOrThrow(yield* advanceUntil(isDone(stopping), 30_000))
      expect(yield* Ref.get(holderWhenStopped)).toEqual(Option.some("pod-a"))
      expect(stoppedAt - 11_000).toBeGreaterThanOrEqual(20_000)
      const released = Option.getOrThrow(yield* fake.spec)
      expect(released.holderIdentity).toBe("")
      expect(released.leaseDurationSeconds).toBe(1)
      expect(released.leaseTransitions).toBe(transitions)
      expect(yield* b.isLeader).toBe(false)
      // The standby takes the free lease at its next attempt, not a lease duration later.
      const tookOver = Option.getOrThrow(yield* advanceUntil(b.isLeader, 10_000))
      expect(tookOver - stoppedAt).toBeLessThanOrEqual(MAX_ACQUIRE_WAIT_MS)
      const spec = Option.getOrThrow(yield* fake.spec)
      expect(spec.holderIdentity).toBe("pod-b")
      expect(spec.leaseTransitions).toBe(transitions + 1)
      yield* Fiber.interrupt(standby)
    }))

  it.effect("every time written is a MicroTime with six fractional digits (the fake API refuses others with 400)", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(T0 + 123)
      const fake = yield* makeFakeLeaseApi
      const a = yield* electorFor(fake, "pod-a")
      const leading = yield* Effect.fork(whileLeading(a, Effect.never))
      yield* TestClock.adjust("7 seconds")
      yield* Fiber.interrupt(leading)
      const calls = yield* fake.calls
      expect(calls.filter((c) => c.method !== "GET").map((c) => c.status)).toEqual([200, 200, 200, 200, 200])
      expect(Option.getOrThrow(yield* fake.spec).renewTime).toBe("2025-01-01T00:00:07.123000Z")
    }))
})

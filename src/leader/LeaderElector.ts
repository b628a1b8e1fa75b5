import { Clock, Data, Duration, Effect, Option, Ref, Schedule } from "effect"
import type { KubeApi } from "../kube/KubeApi.ts"
import type { VersionedObjectError } from "../kube/VersionedObject.ts"
import { type LeaseLock, type LeaseRef, makeLeaseLock } from "./LeaseLock.ts"
import { formatMicroTime, type LeaseRecord, sameRecord, wholeSeconds } from "./leaseRecord.ts"

/** The renewals failed for longer than the renew deadline: the guarded work must stop at once. */
export class LeadershipLost extends Data.TaggedError("LeadershipLost")<{
  readonly identity: string
  readonly lease: string
  readonly message: string
}> {}

/** client-go's three durations; config validation guarantees leaseDuration > renewDeadline > 1.2 × retryPeriod. */
export interface ElectionTiming {
  readonly leaseDuration: Duration.Duration
  readonly renewDeadline: Duration.Duration
  readonly retryPeriod: Duration.Duration
}

export interface ElectorOptions extends ElectionTiming {
  readonly lease: LeaseRef
  readonly identity: string
}

/**
 * One candidate for one Lease (client-go's LeaderElector). Every decision is
 * taken from what this process observed, timed by its own clock: another
 * host's renewTime is never compared with ours, so clock skew between
 * replicas does not matter (a clock running at a different *rate* would).
 */
export interface LeaderElector {
  readonly identity: string
  readonly lease: string
  /** One round of client-go's tryAcquireOrRenew: true when this candidate holds the lease afterwards. */
  readonly tryAcquireOrRenew: Effect.Effect<boolean>
  /** Tries every retry period (jittered by up to 1.2 × the period, as client-go) until this candidate leads. */
  readonly acquire: Effect.Effect<void>
  /**
   * Renews every retry period; fails with LeadershipLost when one renewal
   * has kept failing for the renew deadline. Never succeeds.
   */
  readonly keepRenewing: Effect.Effect<never, LeadershipLost>
  /**
   * Gives the lease up (holder "", leaseDurationSeconds 1, transitions kept)
   * so a standby takes over at its next attempt. Call it only after the
   * guarded work has stopped. False when this candidate was not leading or
   * the write failed.
   */
  readonly release: Effect.Effect<boolean>
  /** Whether the last record this candidate observed (or wrote) names it as holder. */
  readonly isLeader: Effect.Effect<boolean>
}

/** client-go's JitterFactor for acquire: each wait is the retry period plus up to 1.2 × it. */
export const ACQUIRE_JITTER_FACTOR = 1.2

/** The wait between acquire attempts: `retryPeriod × [1, 1 + 1.2)`, as wait.JitterUntil(period, 1.2). */
export const acquireSchedule = (retryPeriod: Duration.Duration) =>
  Schedule.spaced(retryPeriod).pipe(Schedule.jitteredWith({ min: 1, max: 1 + ACQUIRE_JITTER_FACTOR }))

/** What this candidate last saw of the lease and when, by its own clock. */
interface Observation {
  readonly record: LeaseRecord
  readonly atMillis: number
}

export const makeLeaderElector = (options: ElectorOptions): Effect.Effect<LeaderElector, never, KubeApi> =>
  Effect.gen(function*() {
    const lock = yield* makeLeaseLock(options.lease)
    return yield* makeElectorWithLock(lock, options)
  })

/** The elector over any lock (tests use the real LeaseLock over a fake API). */
export const makeElectorWithLock = (lock: LeaseLock, options: ElectorOptions): Effect.Effect<LeaderElector> =>
  Effect.gen(function*() {
    const { identity } = options
    const leaseDurationSeconds = wholeSeconds(options.leaseDuration)
    const observedRef = yield* Ref.make(Option.none<Observation>())
    const reportedHolder = yield* Ref.make(Option.none<string>())

    const leads = (observed: Option.Option<Observation>) =>
      Option.exists(observed, (o) => o.record.holderIdentity === identity)
    const validAt = (observed: Option.Option<Observation>, now: number) =>
      Option.exists(observed, (o) => o.atMillis + o.record.leaseDurationSeconds * 1000 > now)

    const observe = (record: LeaseRecord, atMillis: number) =>
      Ref.set(observedRef, Option.some({ record, atMillis })).pipe(
        Effect.zipRight(reportHolder(record.holderIdentity))
      )

    /** One log line per change of holder as seen from here (client-go's "new leader elected"). */
    const reportHolder = (holder: string) =>
      Ref.getAndSet(reportedHolder, Option.some(holder)).pipe(
        Effect.flatMap((before) =>
          Option.contains(before, holder)
            ? Effect.void
            : Effect.logInfo(holder === "" ? "Lease is free" : holder === identity ? "This replica holds the lease" : "Lease held by another replica")
              .pipe(Effect.annotateLogs({ lease: lock.describe, holder, identity }))
        )
      )

    const logFailure = (what: string) => (e: VersionedObjectError) =>
      (e.status === 409 ? Effect.logDebug(what) : Effect.logWarning(what)).pipe(
        Effect.annotateLogs({ lease: lock.describe, operation: e.operation, status: e.status, error: e.message }),
        Effect.as(false)
      )

    const tryAcquireOrRenew: Effect.Effect<boolean> = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const nowText = formatMicroTime(now)
      const mine: LeaseRecord = {
        holderIdentity: identity,
        leaseDurationSeconds,
        acquireTime: nowText,
        renewTime: nowText,
        leaseTransitions: 0
      }

      // 1. Fast path: still the holder by our own observation, so write
      //    without reading first. The lock sends the resourceVersion we last
      //    saw: if anyone wrote since, this fails and the slow path decides.
      const before = yield* Ref.get(observedRef)
      if (leads(before) && validAt(before, now) && Option.isSome(before)) {
        const renewal = { ...mine, acquireTime: before.value.record.acquireTime, leaseTransitions: before.value.record.leaseTransitions }
        const renewed = yield* lock.update(renewal).pipe(
          Effect.as(true),
          Effect.catchAll(logFailure("Optimistic lease renewal failed; reading the lease"))
        )
        if (renewed) {
          yield* observe(renewal, now)
          return true
        }
      }

      // 2. Read the lease; create it when there is none.
      const read = yield* lock.get.pipe(
        Effect.map((lease) => ({ _tag: "Read", lease } as const)),
        Effect.catchTag("VersionedObjectError", (e) =>
          logFailure("Cannot read the lease")(e).pipe(Effect.as({ _tag: "Unreadable" } as const)))
      )
      if (read._tag === "Unreadable") return false
      if (Option.isNone(read.lease)) {
        const created = yield* lock.create(mine).pipe(Effect.as(true), Effect.catchAll(logFailure("Cannot create the lease")))
        if (created) yield* observe(mine, now)
        return created
      }
      const current = read.lease.value

      // 3. A record we have not seen before restarts our observation: its
      //    holder gets a full lease duration from *now*, whatever its
      //    renewTime says.
      const seen = yield* Ref.get(observedRef)
      if (!Option.exists(seen, (o) => sameRecord(o.record, current))) yield* observe(current, now)
      const observed = yield* Ref.get(observedRef)
      if (current.holderIdentity !== "" && validAt(observed, now) && !leads(observed)) return false

      // 4. Take it (expired or free), or renew it (ours): a takeover counts a transition.
      const next: LeaseRecord = leads(observed)
        ? { ...mine, acquireTime: current.acquireTime, leaseTransitions: current.leaseTransitions }
        : { ...mine, leaseTransitions: current.leaseTransitions + 1 }
      const written = yield* lock.update(next).pipe(Effect.as(true), Effect.catchAll(logFailure("Cannot update the lease")))
      if (written) yield* observe(next, now)
      return written
    })

    // An attempt that hangs (a half-open connection) must not stall acquisition forever.
    const boundedAttempt = tryAcquireOrRenew.pipe(
      Effect.timeoutTo({ duration: options.renewDeadline, onTimeout: () => false, onSuccess: (ok) => ok })
    )

    const acquire = Effect.logInfo("Waiting to acquire the lease").pipe(
      Effect.zipRight(boundedAttempt.pipe(Effect.repeat({ schedule: acquireSchedule(options.retryPeriod), until: (ok) => ok }))),
      Effect.zipRight(Effect.logInfo("Acquired the lease")),
      Effect.annotateLogs({ lease: lock.describe, identity })
    )

    // One renewal: retried every retry period until it succeeds or the
    // deadline passes (which also cuts an attempt still in flight).
    const renewOnce = tryAcquireOrRenew.pipe(
      Effect.repeat({ schedule: Schedule.spaced(options.retryPeriod), until: (ok) => ok }),
      Effect.timeoutFail({
        duration: options.renewDeadline,
        onTimeout: () =>
          new LeadershipLost({
            identity,
            lease: lock.describe,
            message: `could not renew the lease within ${Duration.format(options.renewDeadline)}`
          })
      })
    )

    const keepRenewing = Effect.sleep(options.retryPeriod).pipe(Effect.zipRight(renewOnce), Effect.forever)

    const release = Effect.gen(function*() {
      const observed = yield* Ref.get(observedRef)
      if (!leads(observed) || Option.isNone(observed)) return false
      const nowText = formatMicroTime(yield* Clock.currentTimeMillis)
      const released: LeaseRecord = {
        holderIdentity: "",
        leaseDurationSeconds: 1,
        acquireTime: nowText,
        renewTime: nowText,
        leaseTransitions: observed.value.record.leaseTransitions
      }
      // A 409 here usually means the last renewal reached the server although
      // its answer was cut off by the shutdown, so our remembered version is
      // one behind: read the Lease again and, if it is still ours, release
      // that version.
      const releaseCurrent = lock.get.pipe(
        Effect.flatMap(Option.match({
          onNone: () => Effect.succeed(false),
          onSome: (current) =>
            current.holderIdentity === identity
              ? lock.update({ ...released, leaseTransitions: current.leaseTransitions }).pipe(Effect.as(true))
              : Effect.succeed(false)
        }))
      )
      const done = yield* lock.update(released).pipe(
        Effect.as(true),
        Effect.catchIf((e) => e.status === 409, () => releaseCurrent),
        Effect.catchAll(logFailure("Cannot release the lease")),
        Effect.timeoutTo({ duration: options.renewDeadline, onTimeout: () => false, onSuccess: (ok) => ok })
      )
      if (done) {
        yield* observe(released, yield* Clock.currentTimeMillis)
        yield* Effect.logInfo("Released the lease").pipe(Effect.annotateLogs({ lease: lock.describe, identity }))
      }
      return done
    })

    return {
      identity,
      lease: lock.describe,
      tryAcquireOrRenew,
      acquire,
      keepRenewing,
      release,
      isLeader: Effect.map(Ref.get(observedRef), leads)
    } satisfies LeaderElector
})

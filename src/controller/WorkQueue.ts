import { Deferred, type Duration, Effect, FiberMap, Queue, Schedule, type Scope } from "effect"

/**
 * A keyed work queue with client-go's semantics:
 * - a key already waiting is not queued twice (the dirty set);
 * - a key is never handed to two workers at once (the processing set): an
 *   `add` during processing only marks it dirty and `done` queues it again;
 * - failures are requeued after a per-key exponential delay (`addRateLimited`,
 *   reset by `forget`).
 *
 * Unlike client-go it is bounded: at most `capacity` keys wait at once and
 * `add` of a new key suspends while the queue is full, which stops the watch
 * stream feeding it (backpressure) instead of dropping anything.
 */
export interface WorkQueue<K> {
  /** Queue `key` unless it is already waiting. Suspends while the queue is full. */
  readonly add: (key: K) => Effect.Effect<void>
  /** Queue `key` again after its own backoff delay (the n-th failure waits longer). */
  readonly addRateLimited: (key: K) => Effect.Effect<void>
  /** Queue `key` again after `delay` (a check to repeat later); an earlier pending delay wins. */
  readonly addAfter: (key: K, delay: Duration.DurationInput) => Effect.Effect<void>
  /** Reset the failure count of `key` (after a success or a final outcome). */
  readonly forget: (key: K) => Effect.Effect<void>
  /** How many times `key` has been requeued since the last `forget`. */
  readonly numRequeues: (key: K) => Effect.Effect<number>
  /** The next key to process; suspends while none is ready. */
  readonly take: Effect.Effect<K>
  /** Mark `key` as processed; a key re-added meanwhile becomes ready again. */
  readonly done: (key: K) => Effect.Effect<void>
  /** Keys waiting or being processed. */
  readonly size: Effect.Effect<number>
  /** Keys waiting for their backoff delay to pass. */
  readonly delayedCount: Effect.Effect<number>
  /**
   * Stop waiting out backoff delays (delayed keys get one more try now) and
   * complete when nothing is waiting or being processed.
   */
  readonly drain: Effect.Effect<void>
}

/**
 * Per-key requeue delay: 1 s doubling to at most 5 minutes. Jitter comes
 * before the cap so the cap stays a hard cap and many keys failing together
 * (GitHub down) do not come back in lock step.
 */
export const requeueBackoff: Schedule.Schedule<unknown> = Schedule.exponential("1 second").pipe(
  Schedule.jittered,
  Schedule.union(Schedule.spaced("5 minutes"))
)

export interface WorkQueueOptions {
  readonly capacity: number
  readonly backoff?: Schedule.Schedule<unknown>
}

export const makeWorkQueue = <K>(options: WorkQueueOptions): Effect.Effect<WorkQueue<K>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const backoff = options.backoff ?? requeueBackoff
    // Keys handed to workers in FIFO order. Its length never exceeds
    // `capacity` because every queued key holds one permit.
    const ready = yield* Queue.unbounded<K>()
    const permits = yield* Effect.makeSemaphore(options.capacity)
    const delayed = yield* FiberMap.make<K>()

    // Plain sets are safe here: every read-modify-write below runs inside one
    // synchronous step, and fibers only interleave at effect boundaries.
    const dirty = new Set<K>()
    const processing = new Set<K>()
    const drivers = new Map<K, Schedule.ScheduleDriver<unknown, unknown, never>>()
    const failures = new Map<K, number>()
    let draining = false
    let idle: Deferred.Deferred<void> | undefined

    const signalIfIdle = Effect.suspend(() =>
      idle !== undefined && dirty.size === 0 && processing.size === 0
        ? Deferred.succeed(idle, undefined)
        : Effect.void
    )

    // Marks a key dirty once it holds a permit; returns the permit when the
    // key turned out to be dirty already (another add won the race).
    const enqueueHoldingPermit = (key: K) =>
      Effect.suspend(() => {
        if (dirty.has(key)) return permits.release(1)
        dirty.add(key)
        return processing.has(key) ? Effect.void : Queue.offer(ready, key)
      })

    const add = (key: K): Effect.Effect<void> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.suspend(() =>
          dirty.has(key)
            ? Effect.void
            : restore(permits.take(1)).pipe(Effect.zipRight(enqueueHoldingPermit(key)))
        )
      )

    const take: Effect.Effect<K> = Effect.uninterruptibleMask((restore) =>
      restore(Queue.take(ready)).pipe(
        Effect.tap((key) =>
          Effect.suspend(() => {
            dirty.delete(key)
            processing.add(key)
            return permits.release(1)
          })
        )
      )
    )

    const done = (key: K): Effect.Effect<void> =>
      Effect.suspend(() => {
        processing.delete(key)
        return dirty.has(key) ? Queue.offer(ready, key) : signalIfIdle
      }).pipe(Effect.asVoid)

    const driverFor = (key: K) =>
      Effect.suspend(() => {
        const existing = drivers.get(key)
        if (existing !== undefined) return Effect.succeed(existing)
        return Schedule.driver(backoff).pipe(Effect.tap((d) => Effect.sync(() => drivers.set(key, d))))
      })

    const addRateLimited = (key: K): Effect.Effect<void> =>
      Effect.gen(function*() {
        failures.set(key, (failures.get(key) ?? 0) + 1)
        if (draining) return yield* add(key)
        const driver = yield* driverFor(key)
        // The first delay wins while one is pending (client-go keeps the
        // earliest ready time), so repeated failures never push a key out.
        yield* FiberMap.run(
          delayed,
          key,
          driver.next(undefined).pipe(Effect.ignore, Effect.zipRight(add(key))),
          { onlyIfMissing: true }
        )
      })

    const addAfter = (key: K, delay: Duration.DurationInput): Effect.Effect<void> =>
      Effect.suspend(() =>
        draining
          ? Effect.void
          : FiberMap.run(delayed, key, Effect.sleep(delay).pipe(Effect.zipRight(add(key))), { onlyIfMissing: true }).pipe(Effect.asVoid)
      )

    const forget = (key: K): Effect.Effect<void> =>
      Effect.sync(() => {
        drivers.delete(key)
        failures.delete(key)
      })

    const drain: Effect.Effect<void> = Effect.gen(function*() {
      draining = true
      const waiting = Array.from(delayed, ([key]) => key)
      yield* FiberMap.clear(delayed)
      yield* Effect.forEach(waiting, add, { discard: true })
      const latch = yield* Deferred.make<void>()
      idle = latch
      yield* signalIfIdle
      yield* Deferred.await(latch)
    })

    return {
      add,
      addRateLimited,
      addAfter,
      forget,
      numRequeues: (key) => Effect.sync(() => failures.get(key) ?? 0),
      take,
      done,
      size: Effect.sync(() => dirty.size + processing.size),
      delayedCount: FiberMap.size(delayed),
      drain
    } satisfies WorkQueue<K>
  })

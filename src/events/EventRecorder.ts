import { hostname } from "node:os"
import { Clock, Data, Duration, Effect, Either, Layer, Option, Schedule, type Scope } from "effect"
import { Config } from "../config/Config.ts"
import { type WorkloadOutcome, WorkloadEvents } from "./WorkloadEvents.ts"
import { Metrics } from "../observability/Metrics.ts"
import { fullBucket, readyAt, type TokenBucket, type TokenBucketRule, tryTake } from "../support/tokenBucket.ts"
import type { WorkloadOwner } from "../kube/ObjectIdentity.ts"
import {
  aggregationKey,
  type EventContent,
  eventBody,
  eventContent,
  eventName,
  type EventOccurrences,
  type EventOrigin,
  objectKey,
  REPORTING_INSTANCE_LIMIT,
  seriesPatch
} from "./eventContent.ts"
import { KubeApi, KubeApiError } from "../kube/KubeApi.ts"
import { eventsPath } from "../kube/resources.ts"

export const REPORTING_CONTROLLER = "deployment-tracker"
export const EVENT_ACTION = "Report"

export interface EventRecorderLimits {
  /** Distinct Events remembered for aggregation (client-go's LRU size); the least recently seen goes first. */
  readonly maxEvents: number
  /** A series' count and last time are written at most this often per Event. */
  readonly seriesUpdateInterval: Duration.Duration
  /** An Event not seen again for this long, with nothing left to write, is forgotten: a later occurrence is a new Event. */
  readonly seriesEnd: Duration.Duration
  /** New Events about one workload object. */
  readonly perObject: TokenBucketRule
  /** Every write of this recorder. */
  readonly overall: TokenBucketRule
  /** One write's answer. */
  readonly writeTimeout: Duration.Duration
  /** At shutdown, what is still to write gets this long. */
  readonly flushDeadline: Duration.Duration
}

/**
 * client-go's recorders, where they have a figure: the LRU of 4096, the
 * spam filter's burst of 25 then one per 5 minutes per object, the
 * 6-minute end of a series. Series updates go every 5 minutes rather than
 * client-go's 30-minute heartbeat: `kubectl describe` then shows a count
 * and a last time at most 5 minutes old (12 writes an hour for an Event
 * that keeps repeating), well within the API server's 1-hour event TTL.
 * All writes together: 50 at once, then 5 a second (a kubelet's default is
 * 50 a second).
 */
export const EVENT_RECORDER_LIMITS: EventRecorderLimits = {
  maxEvents: 4096,
  seriesUpdateInterval: Duration.minutes(5),
  seriesEnd: Duration.minutes(6),
  perObject: { burst: 25, refillMillis: 5 * 60_000 },
  overall: { burst: 50, refillMillis: 200 },
  writeTimeout: Duration.seconds(10),
  flushDeadline: Duration.seconds(3)
}

/** A write that may go through when tried again: no answer, 429, 5xx. */
export class EventWriteFailed extends Data.TaggedError("EventWriteFailed")<{
  readonly status: number
  readonly reason: string
  readonly message: string
}> {}

/** Retries of one write: 12 attempts in all (client-go's maxTriesPerEvent), backing off to a minute. */
export const EVENT_WRITE_RETRY = Schedule.exponential("1 second").pipe(
  Schedule.jittered,
  Schedule.union(Schedule.spaced("1 minute")),
  Schedule.intersect(Schedule.recurs(11))
)

const isTransient = (error: KubeApiError): boolean => error.status === 0 || error.status === 429 || error.status >= 500

/**
 * RBAC's (or another authorizer's) refusal, as opposed to other 403s such
 * as a namespace being terminated: only this one turns Events off.
 */
export const isAuthorizationDenial = (error: KubeApiError): boolean =>
  error.status === 403 && / cannot (create|patch) resource /.test(error.message)

/** One aggregated Event: what it says, how often it happened, how much of that the API server has. */
interface Aggregate {
  readonly key: string
  readonly object: string
  readonly regarding: WorkloadOwner
  readonly content: EventContent
  /** Chosen at the first create attempt; kept while the Event exists. */
  name: string | undefined
  readonly firstNanos: bigint
  lastNanos: bigint
  lastSeen: number
  count: number
  /** Occurrences the API server has (0: no Event yet). */
  written: number
  lastWrite: number
}

type Step =
  | { readonly _tag: "Write"; readonly aggregate: Aggregate }
  | { readonly _tag: "Wait"; readonly until: number | undefined }

/**
 * Kubernetes Events (events.k8s.io/v1) on the workload objects, aggregated
 * and rate-limited like client-go's recorders:
 *
 * - `report` only updates an in-memory map and returns: it never waits for
 *   the API server (a stuck API server only stalls the writer fiber);
 * - identical outcomes (same object, type, reason and note) are one Event:
 *   the first creates it, repeats increment its series, written at most
 *   every 5 minutes (a burst of any size in between costs one write);
 * - new Events per object and all writes are token-bucket limited; what
 *   waits stays in the map, whose size is capped (least recently seen
 *   first out, counted as dropped);
 * - a write that fails is retried with backoff, a refused one given up,
 *   each kind of failure logged once; a 403 from RBAC turns Events off with
 *   one warning;
 * - at shutdown what is still to write gets `flushDeadline`.
 */
export const makeEventRecorder = (
  limits: EventRecorderLimits = EVENT_RECORDER_LIMITS
): Effect.Effect<WorkloadEvents["Type"], never, KubeApi | Metrics | Config | Scope.Scope> =>
  Effect.gen(function*() {
    const api = yield* KubeApi
    const metrics = yield* Metrics
    const config = yield* Config
    const origin: EventOrigin = {
      reportingController: REPORTING_CONTROLLER,
      reportingInstance: Option.getOrElse(config.podName, () => hostname()).slice(0, REPORTING_INSTANCE_LIMIT),
      action: EVENT_ACTION
    }
    const seriesUpdateMillis = Duration.toMillis(limits.seriesUpdateInterval)
    const seriesEndMillis = Duration.toMillis(limits.seriesEnd)

    // Least recently seen first (re-inserted on every occurrence).
    const aggregates = new Map<string, Aggregate>()
    // New-Event budgets of objects that used some recently; a missing one is full.
    const objectBuckets = new Map<string, TokenBucket>()
    const overall = fullBucket(limits.overall, yield* Clock.currentTimeMillis)
    // Opened when something new is to write; the writer closes it before it looks.
    const wake = yield* Effect.makeLatch(false)
    let on = true
    let writing: string | undefined
    let lastStamp = 0n
    const failuresLogged = new Set<string>()
    const totals = { outcomes: 0, created: 0, writes: 0 }

    /** Counts an occurrence; true when it gives the writer something new to do. */
    const observe = (regarding: WorkloadOwner, content: EventContent, nanos: bigint): boolean => {
      const key = aggregationKey(regarding, content)
      const now = Number(nanos / 1_000_000n)
      const known = aggregates.get(key)
      const settled = known !== undefined && known.count === known.written
      // A series that ended (not seen for `seriesEnd`, all written) starts over as a new Event.
      if (known !== undefined && !(settled && now - known.lastSeen >= seriesEndMillis)) {
        known.count += 1
        known.lastNanos = nanos
        known.lastSeen = now
        aggregates.delete(key)
        aggregates.set(key, known)
        return settled
      }
      aggregates.delete(key)
      aggregates.set(key, {
        key,
        object: objectKey(regarding),
        regarding,
        content,
        name: undefined,
        firstNanos: nanos,
        lastNanos: nanos,
        lastSeen: now,
        count: 1,
        written: 0,
        lastWrite: 0
      })
      if (aggregates.size > limits.maxEvents) evictLeastRecent()
      return true
    }

    const evictLeastRecent = () => {
      for (const aggregate of aggregates.values()) {
        if (aggregate.key === writing) continue
        aggregates.delete(aggregate.key)
        if (aggregate.count > aggregate.written) metrics.kubeEventDropped("evicted")
        return
      }
    }

    const objectBucket = (object: string, now: number): TokenBucket => {
      let bucket = objectBuckets.get(object)
      if (bucket === undefined) {
        bucket = fullBucket(limits.perObject, now)
        objectBuckets.set(object, bucket)
        // A forgotten budget counts as full again: lenient, and bounded.
        if (objectBuckets.size > limits.maxEvents) objectBuckets.delete(objectBuckets.keys().next().value!)
      }
      return bucket
    }

    /** When the aggregate's next write may go: a create when its object has budget, a series update after the interval. */
    const dueAt = (aggregate: Aggregate, now: number, flushing: boolean): number => {
      if (aggregate.written === 0) {
        const bucket = objectBuckets.get(aggregate.object)
        return bucket === undefined ? now : readyAt(limits.perObject, bucket, now)
      }
      return flushing ? now : aggregate.lastWrite + seriesUpdateMillis
    }

    /** The write due first (the least recently seen among equals), or how long to wait for one. */
    const nextStep = (now: number, flushing: boolean): Step => {
      let best: Aggregate | undefined
      let bestDue = Number.POSITIVE_INFINITY
      for (const aggregate of aggregates.values()) {
        if (aggregate.count === aggregate.written) {
          if (!flushing && now - aggregate.lastSeen >= seriesEndMillis) aggregates.delete(aggregate.key)
          continue
        }
        const due = dueAt(aggregate, now, flushing)
        if (due < bestDue) {
          best = aggregate
          bestDue = due
        }
      }
      if (best === undefined) return { _tag: "Wait", until: undefined }
      if (bestDue > now) return { _tag: "Wait", until: bestDue }
      if (best.written === 0) tryTake(limits.perObject, objectBucket(best.object, now), now)
      return { _tag: "Write", aggregate: best }
    }

    const takeOverallToken = Effect.gen(function*() {
      for (;;) {
        const now = yield* Clock.currentTimeMillis
        if (tryTake(limits.overall, overall, now)) return
        yield* Effect.sleep(Duration.millis(readyAt(limits.overall, overall, now) - now))
      }
    })

    /** A unique stamp for a name: the clock in nanoseconds, never the same twice. */
    const nextStamp = Effect.map(Clock.currentTimeNanos, (nanos) => (lastStamp = nanos > lastStamp ? nanos : lastStamp + 1n))

    const logFailure = (kind: string, message: string, aggregate: Aggregate, error: KubeApiError) => {
      const annotated = (log: Effect.Effect<void>) =>
        log.pipe(Effect.annotateLogs({
          namespace: aggregate.regarding.namespace,
          event: aggregate.name ?? "",
          reason: aggregate.content.reason,
          status: error.status,
          error: error.message
        }))
      if (failuresLogged.has(kind)) return annotated(Effect.logDebug(message))
      failuresLogged.add(kind)
      return annotated(Effect.logWarning(`${message} (logged once for this kind of failure)`))
    }

    const turnOff = (aggregate: Aggregate, error: KubeApiError) => {
      on = false
      aggregates.clear()
      objectBuckets.clear()
      return Effect.logWarning(
        "Kubernetes events are off: this service account may not write events.k8s.io Events; grant create and patch on them (see the README's Permissions) or set -kube-events=false"
      ).pipe(Effect.annotateLogs({ namespace: aggregate.regarding.namespace, error: error.message }))
    }

    /** What a failed write means for the aggregate; fails only when trying again may help. */
    const failed = (aggregate: Aggregate, creating: boolean, count: number, error: KubeApiError, now: number) =>
      Effect.gen(function*() {
        if (isAuthorizationDenial(error)) {
          metrics.kubeEventWrite("forbidden")
          return yield* turnOff(aggregate, error)
        }
        if (creating && error.status === 409) {
          // Our own name: an earlier attempt landed, its answer was lost.
          metrics.kubeEventWrite("exists")
          aggregate.written = 1
          aggregate.lastWrite = now
          return
        }
        if (!creating && error.status === 404) {
          // Expired (the API server's event TTL) or deleted: created again, with its series.
          metrics.kubeEventWrite("not_found")
          aggregate.written = 0
          aggregate.name = undefined
          return
        }
        if (isTransient(error)) {
          metrics.kubeEventWrite("failed")
          yield* logFailure(`failed ${error.status} ${error.reason}`, "Could not write a Kubernetes Event; trying again", aggregate, error)
          return yield* new EventWriteFailed({ status: error.status, reason: error.reason, message: error.message })
        }
        metrics.kubeEventWrite("rejected")
        yield* logFailure(`rejected ${error.status} ${error.reason}`, "The API server refused a Kubernetes Event; not tried again", aggregate, error)
        if (creating) aggregates.delete(aggregate.key)
        else aggregate.written = count
      })

    /** One write of the aggregate's current state: its create, or its series update. */
    const attempt = (key: string): Effect.Effect<void, EventWriteFailed> =>
      Effect.gen(function*() {
        if (!on || aggregates.get(key) === undefined) return
        yield* takeOverallToken
        const aggregate = aggregates.get(key)
        if (!on || aggregate === undefined || aggregate.count === aggregate.written) return
        const creating = aggregate.written === 0
        const name = aggregate.name ?? (aggregate.name = eventName(aggregate.regarding.name, yield* nextStamp))
        const occurrences: EventOccurrences = {
          name,
          firstNanos: aggregate.firstNanos,
          lastNanos: aggregate.lastNanos,
          count: aggregate.count
        }
        const namespace = aggregate.regarding.namespace
        writing = key
        totals.writes += 1
        const result = yield* (creating
          ? api.send("POST", eventsPath(namespace), eventBody(aggregate.regarding, aggregate.content, origin, occurrences))
          : api.send("PATCH", eventsPath(namespace, name), seriesPatch(occurrences))).pipe(
            Effect.timeoutFail({
              duration: limits.writeTimeout,
              onTimeout: () => new KubeApiError({ status: 0, reason: "Timeout", message: "no answer from the API server in time" })
            }),
            Effect.either,
            Effect.ensuring(Effect.sync(() => (writing = undefined)))
          )
        const now = yield* Clock.currentTimeMillis
        if (Either.isLeft(result)) return yield* failed(aggregate, creating, occurrences.count, result.left, now)
        metrics.kubeEventWrite(creating ? "created" : "series_updated")
        if (creating) totals.created += 1
        aggregate.written = occurrences.count
        aggregate.lastWrite = now
      })

    const giveUp = (key: string) =>
      Effect.sync(() => {
        if (aggregates.delete(key)) metrics.kubeEventDropped("retries")
      })

    const writer = Effect.gen(function*() {
      while (on) {
        yield* wake.close
        const now = yield* Clock.currentTimeMillis
        const step = nextStep(now, false)
        if (step._tag === "Write") {
          const key = step.aggregate.key
          yield* attempt(key).pipe(Effect.retry(EVENT_WRITE_RETRY), Effect.catchTag("EventWriteFailed", () => giveUp(key)))
          continue
        }
        yield* step.until === undefined
          ? wake.await
          : Effect.raceFirst(wake.await, Effect.sleep(Duration.millis(step.until - now)))
      }
    })

    /** At shutdown: pending series updates at once, creates within their budgets; one attempt each. */
    const flush = Effect.gen(function*() {
      while (on) {
        const step = nextStep(yield* Clock.currentTimeMillis, true)
        if (step._tag === "Wait") return
        const failedAttempt = yield* attempt(step.aggregate.key).pipe(
          Effect.as(false),
          Effect.catchTag("EventWriteFailed", () => Effect.succeed(true))
        )
        if (failedAttempt) return
      }
    })

    // Finalizers run uninterruptibly: the flush must be interruptible for its deadline to cut it short.
    const stop = Effect.interruptible(flush).pipe(
      Effect.timeoutOption(limits.flushDeadline),
      Effect.zipRight(Effect.suspend(() => {
        let unwritten = 0
        for (const aggregate of aggregates.values()) {
          if (aggregate.count > aggregate.written) {
            unwritten += 1
            metrics.kubeEventDropped("shutdown")
          }
        }
        return Effect.logInfo("Kubernetes events stopped").pipe(Effect.annotateLogs({
          outcomes: totals.outcomes,
          events_created: totals.created,
          api_writes: totals.writes,
          not_written: unwritten
        }))
      }))
    )

    // Finalizers run last-in first-out: the writer is interrupted first, then the flush runs.
    yield* Effect.addFinalizer(() => stop)
    yield* Effect.forkScoped(writer)

    const report = (regarding: WorkloadOwner, outcome: WorkloadOutcome): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (!on || regarding.namespace === "") return Effect.void
        return Effect.flatMap(Clock.currentTimeNanos, (nanos) => {
          const content = eventContent(outcome)
          totals.outcomes += 1
          metrics.kubeEventOutcome(content.reason)
          return observe(regarding, content, nanos) ? wake.open : Effect.void
        })
      })

    return { report }
  })

/** Events on: the recorder, built before the controller and stopped after it (its last reports are flushed). */
export const EventRecorderLive: Layer.Layer<WorkloadEvents, never, KubeApi | Metrics | Config> = Layer.scoped(
  WorkloadEvents,
  makeEventRecorder()
)

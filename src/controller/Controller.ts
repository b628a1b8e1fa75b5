import { Cause, Clock, Data, Duration, Effect, FiberSet, Layer, Schedule, Stream } from "effect"
import { BulkSync } from "../bulk/BulkSync.ts"
import { Config } from "../config/Config.ts"
import { makePodWatch } from "../kube/PodWatch.ts"
import type { Delta } from "../kube/Reflector.ts"
import { podKey, type SlimPod } from "../kube/SlimPod.ts"
import { RateLimitGate } from "../github/RateLimitGate.ts"
import { Liveness } from "../observability/Liveness.ts"
import { continueTrace, type EventTrace, traceAbandoned, traceReceipt, traceRequeue } from "../observability/eventTrace.ts"
import { Metrics } from "../observability/Metrics.ts"
import { Readiness } from "../observability/Readiness.ts"
import { DeployedStatePersistence } from "../state/DeployedStatePersistence.ts"
import { eventForChange, eventForDelete } from "./eventRules.ts"
import { EventProcessor } from "./EventProcessor.ts"
import { WorkloadWatches } from "../workload/WorkloadWatches.ts"
import type { ObjectMeta } from "../workload/ObjectMeta.ts"
import { appendEvent } from "./pendingEvents.ts"
import type { EventType, WorkEvent } from "./PodEvent.ts"
import { makeWorkQueue } from "./WorkQueue.ts"

export class CacheSyncTimeout extends Data.TaggedError("CacheSyncTimeout")<{
  readonly message: string
}> {}

/** The original's bound on the first cache sync. */
export const CACHE_SYNC_TIMEOUT = Duration.seconds(60)

/**
 * Keys that may wait in the work queue at once. Beyond it the watch stream
 * waits: a relist of a big cluster then flows at the workers' pace instead
 * of piling up in memory.
 */
export const WORK_QUEUE_CAPACITY = 10_000

/** Queue key of a workload's deletion: one per workload object. */
const workloadKey = (workload: ObjectMeta) => `workload:${workload.uid}`

/**
 * The controller: pod and workload watches -> event rules -> keyed work
 * queue -> workers -> records -> GitHub. Events wait per key (a pod, or a
 * deleted workload) in `pending` (in order, consecutive events of the same
 * type coalesced to the newest snapshot); the queue carries the keys, so a
 * key is never handled by two workers at once and a burst of updates to one
 * pod costs one queue slot. Every event gets a receipt number, which the
 * processor uses to order records of one workload across pods.
 *
 * Each event is traced from its receipt (see eventTrace.ts): the trace of
 * an event waiting in `pending` is kept in `traces`, by the event object
 * itself, so the coalescing rule stays the plain one of pendingEvents.ts.
 */
export const ControllerLive = Layer.scopedDiscard(Effect.gen(function*() {
  const config = yield* Config
  const metrics = yield* Metrics
  const readiness = yield* Readiness
  const processor = yield* EventProcessor
  const bulk = yield* BulkSync
  const persistence = yield* DeployedStatePersistence
  const liveness = yield* Liveness
  const gate = yield* RateLimitGate
  const pods = yield* makePodWatch
  const workloads = yield* WorkloadWatches
  const queue = yield* makeWorkQueue<string>({ capacity: WORK_QUEUE_CAPACITY })
  const pending = new Map<string, ReadonlyArray<WorkEvent>>()
  // The open trace of every event waiting in `pending` (or put back there).
  const traces = new Map<WorkEvent, EventTrace>()
  const watchFibers = yield* FiberSet.make()
  const workerFibers = yield* FiberSet.make()
  // Receipt order across all watches; only this layer's fibers touch it.
  let received = 0

  /**
   * Sets the events waiting for `key` to `waiting` followed by `arriving`,
   * coalesced; an event a newer one replaced ends its trace there.
   */
  const setPending = (key: string, waiting: ReadonlyArray<WorkEvent>, arriving: ReadonlyArray<WorkEvent>) =>
    Effect.suspend(() => {
      const kept = arriving.reduce(appendEvent, waiting)
      pending.set(key, kept)
      const replaced = [...waiting, ...arriving].filter((event) => !kept.includes(event))
      return Effect.forEach(replaced, (event) => {
        const trace = traces.get(event)
        traces.delete(event)
        return trace === undefined ? Effect.void : traceAbandoned(trace, "coalesced")
      }, { discard: true })
    })

  const enqueue = (key: string, makeEvent: (seq: number) => WorkEvent) =>
    Effect.gen(function*() {
      const event = makeEvent(++received)
      const trace = yield* traceReceipt(event)
      if (trace !== undefined) traces.set(event, trace)
      yield* setPending(key, pending.get(key) ?? [], [event])
      yield* queue.add(key)
    })

  const handlePodDelta = (delta: Delta<SlimPod>): Effect.Effect<void> => {
    switch (delta._tag) {
      case "Synced":
        return Effect.void
      case "Upsert": {
        const type = eventForChange(delta.previous, delta.current)
        return type === undefined ? Effect.void : enqueue(podKey(delta.current), (seq) => ({ type, pod: delta.current, seq }))
      }
      case "Delete": {
        const type = eventForDelete(delta.last)
        return type === undefined ? Effect.void : enqueue(podKey(delta.last), (seq) => ({ type, pod: delta.last, seq }))
      }
    }
  }

  /** A workload deleted, or marked for deletion (foreground cascading deletion), is gone. */
  const handleWorkloadDelta = (delta: Delta<ObjectMeta>): Effect.Effect<void> => {
    switch (delta._tag) {
      case "Synced":
        return Effect.void
      case "Upsert": {
        const { current, previous } = delta
        return current.deleting && previous?.deleting !== true
          ? enqueue(workloadKey(current), (seq) => ({ type: "WORKLOAD_DELETED", workload: current, seq }))
          : Effect.void
      }
      case "Delete": {
        const { last } = delta
        return enqueue(workloadKey(last), (seq) => ({ type: "WORKLOAD_DELETED", workload: last, seq }))
      }
    }
  }

  const eventType = (event: WorkEvent): EventType => event.type

  /**
   * Puts `events` back in front of anything that arrived for the key
   * meanwhile, so events for a pod are always handled in the order they
   * happened. The first one was started and waits again, in the same trace
   * (`trace`); the others were not, so their first wait goes on.
   */
  const putBack = (key: string, events: ReadonlyArray<WorkEvent>, trace: EventTrace | undefined) =>
    Effect.gen(function*() {
      const first = events[0]
      if (first !== undefined && trace !== undefined) traces.set(first, yield* traceRequeue(trace))
      yield* setPending(key, events, pending.get(key) ?? [])
    })

  /** Handles every pending event of one key, in order; stops at the first that must be retried. */
  const processKey = (key: string) =>
    Effect.gen(function*() {
      const events = pending.get(key) ?? []
      pending.delete(key)
      for (let i = 0; i < events.length; i++) {
        const event = events[i]!
        const trace = traces.get(event)
        traces.delete(event)
        const handle = processor.process(event)
        const started = yield* Clock.currentTimeMillis
        const outcome = yield* (trace === undefined ? handle : continueTrace(trace)(handle)).pipe(
          // A defect (the worker boundary logs it and retries the key) must
          // not lose this event and the ones after it. Interruption is
          // shutdown: the traces of what is left end there.
          Effect.onError((cause) => Cause.isInterruptedOnly(cause) ? Effect.void : putBack(key, events.slice(i), trace))
        )
        const finished = yield* Clock.currentTimeMillis
        metrics.eventProcessed(eventType(event), outcome === "done", (finished - started) / 1000)
        if (outcome === "retry") {
          yield* putBack(key, events.slice(i), trace)
          return yield* queue.addRateLimited(key)
        }
      }
      yield* queue.forget(key)
    })

  /**
   * The start-up bulk sync: every pod the list found that would be
   * reported (Running with a supported owner, or a finished Job pod)
   * becomes a candidate; what GitHub accepts counts as posted.
   */
  const startupSync = Effect.gen(function*() {
    const started = [...pods.values()].filter((pod) => eventForChange(undefined, pod) === "CREATED")
    const candidates = (yield* Effect.forEach(
      started,
      (pod) =>
        processor.startupRecords(pod).pipe(
          Effect.map((records) => records.map((record) => ({ record, podStartedAt: pod.createdAt, podRunning: pod.phase === "Running" })))
        ),
      { concurrency: 4 }
    )).flat()
    // BulkSync logs its own outcome and counts.
    const result = yield* bulk.run(candidates)
    yield* processor.settleStartup(result.seen, result.unknownDigests)
    const { counts } = result
    metrics.bulkSync(result.outcome, {
      submitted: counts.submitted,
      seen: counts.seen,
      rejected: counts.rejected,
      invalid: counts.invalid,
      not_sent: counts.notSent
    })
  })

  // Each worker reports the key it holds, so one stuck on a key turns /healthz red.
  const worker = (name: string) =>
    Effect.gen(function*() {
      const slot = yield* liveness.worker(name)
      return yield* queue.take.pipe(
        Effect.flatMap((key) =>
          processKey(key).pipe(
            slot.handling(key),
            // The worker boundary: a defect in one key's handling is logged and
            // the key retried later; it never stops the worker.
            Effect.catchAllCause((cause) =>
              Cause.isInterruptedOnly(cause)
                ? Effect.failCause(cause)
                : Effect.logError("Unexpected failure handling an event; will retry", cause).pipe(
                  Effect.zipRight(queue.addRateLimited(key))
                )
            ),
            Effect.ensuring(queue.done(key)),
            Effect.annotateLogs({ key })
          )
        ),
        Effect.forever
      )
    }).pipe(Effect.scoped)

  const updateGauges = Effect.gen(function*() {
    metrics.workQueueDepth.set(yield* queue.size)
    metrics.cachedPods.set(pods.size())
    metrics.cachedWorkloads.set(workloads.size())
  }).pipe(Effect.repeat(Schedule.spaced("5 seconds")))

  // Waiting out a GitHub rate limit is not a wedged worker.
  yield* liveness.holdUp(gate.openAt)
  yield* FiberSet.run(watchFibers, pods.deltas.pipe(Stream.runForEach(handlePodDelta)))
  yield* FiberSet.run(watchFibers, workloads.deltas.pipe(Stream.runForEach(handleWorkloadDelta)))
  yield* FiberSet.run(watchFibers, updateGauges)

  // Shutdown order: stop watching, let the workers finish what is queued
  // (within the deadline), then stop them. Runs before the FiberSets'
  // own finalizers, which were registered earlier.
  yield* Effect.addFinalizer(() =>
    Effect.gen(function*() {
      yield* Effect.logInfo("Shutting down: watch stopped, draining the work queue")
      yield* FiberSet.clear(watchFibers)
      const drained = yield* queue.drain.pipe(Effect.interruptible, Effect.timeoutOption(config.shutdownDrainTimeout))
      if (drained._tag === "None") {
        yield* Effect.logWarning("Shutdown deadline reached with work still queued").pipe(
          Effect.annotateLogs({ keys: yield* queue.size })
        )
      }
      yield* FiberSet.clear(workerFibers)
      // Events never handled end their traces here, so the flush still exports them.
      const unhandled = [...traces.values()]
      traces.clear()
      yield* Effect.forEach(unhandled, (trace) => traceAbandoned(trace, "shutdown"), { discard: true })
    })
  )

  yield* Effect.all([pods.synced, workloads.synced], { concurrency: "unbounded", discard: true }).pipe(
    Effect.timeoutFail({
      duration: CACHE_SYNC_TIMEOUT,
      onTimeout: () =>
        new CacheSyncTimeout({
          message: `the caches did not sync within ${
            Duration.format(CACHE_SYNC_TIMEOUT)
          }: check that the API server is reachable and that RBAC lets this service account list and watch pods, deployments, daemonsets, statefulsets, jobs and cronjobs`
        })
    })
  )
  // What an earlier run reported as deployed goes back into the ledger
  // before any event is handled; remembered workloads that are gone get
  // their decommissions in the background (src/state). Persistence is
  // released after this layer, so its last write follows the drain.
  yield* persistence.restore(processor.deployedNames)
  // Until the workers start, events wait in the queue: the start-up sync
  // reports the cluster in bulk first, and the held-back events then find
  // their records already posted. Nothing that happened meanwhile is lost.
  if (config.bulkClusterSync) yield* startupSync
  for (let i = 0; i < config.workers; i++) {
    yield* FiberSet.run(workerFibers, worker(`worker-${i}`).pipe(Effect.annotateLogs({ worker: i })))
  }
  yield* readiness.markSynced
  yield* Effect.logInfo("Caches synced; controller running").pipe(
    Effect.annotateLogs({ pods: pods.size(), workloads: workloads.size(), workers: config.workers })
  )
}))

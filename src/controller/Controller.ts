import { Cause, Chunk, Clock, Data, Deferred, Duration, Effect, FiberSet, Layer, Schedule, Stream } from "effect"
import { BulkSync } from "../bulk/BulkSync.ts"
import { Config } from "../config/Config.ts"
import { RateLimitGate } from "../github/RateLimitGate.ts"
import type { KubeApiError } from "../kube/KubeApi.ts"
import type { ObjectMeta } from "../kube/ObjectMeta.ts"
import { controllingOwner } from "../kube/ownerReferences.ts"
import { PodWatch } from "../kube/PodWatch.ts"
import type { Delta } from "../kube/Reflector.ts"
import { type SlimOwnerReference, type SlimPod } from "../kube/SlimPod.ts"
import { NamespaceWatch } from "../kube/NamespaceWatch.ts"
import { WATCHED_KINDS } from "../kube/resources.ts"
import { WorkloadWatches } from "../kube/WorkloadWatches.ts"
import { DeploymentLedger } from "../ledger/DeploymentLedger.ts"
import { annotateSpan, continueTrace, type EventTrace, SpanAttribute, SpanName, traceAbandoned, traceReceipt, traceRequeue, withExportedSpan } from "../observability/eventTrace.ts"
import { Liveness } from "../observability/Liveness.ts"
import { Metrics } from "../observability/Metrics.ts"
import { Readiness } from "../observability/Readiness.ts"
import { DeployedStatePersistence } from "../state/DeployedStatePersistence.ts"
import { yieldToEventLoop } from "../support/eventLoop.ts"
import { type Attribution, workloadKey } from "../workload/Attribution.ts"
import { makePodAttributor, NEEDS_READ } from "../workload/PodAttributor.ts"
import type { DesiredRecord } from "./planChanges.ts"
import { Reconciler } from "./Reconciler.ts"
import { RecordSender } from "./RecordSender.ts"
import { countTrigger, mergeCounts, namespaceChanged, podTrigger, type Trigger, type TriggerCounts, workloadTrigger } from "./triggers.ts"
import { makeWorkQueue } from "./WorkQueue.ts"
import { WorkloadIndex } from "./WorkloadIndex.ts"

export class CacheSyncTimeout extends Data.TaggedError("CacheSyncTimeout")<{
  readonly message: string
}> {}

/** The original's bound on the first cache sync. */
export const CACHE_SYNC_TIMEOUT = Duration.seconds(60)

/**
 * Workload keys that may wait in the work queue at once. Beyond it the
 * watches wait: a relist of a big cluster then flows at the workers' pace
 * instead of piling up in memory.
 */
export const WORK_QUEUE_CAPACITY = 10_000

/**
 * A workload of a kind that is not watched (an Argo Rollout, a bare
 * ReplicaSet) with no pod left but still there is read again this often:
 * its deletion sends no event.
 */
export const RECHECK_INTERVAL = Duration.minutes(10)

/** Owner reads in flight at once for one chunk of pod events (each is cached and within -kube-api-qps). */
export const ATTRIBUTION_CONCURRENCY = 8

/**
 * A pod whose owner cannot be read because the API keeps failing is named
 * from the caches and names alone after this (the original's naming),
 * rather than holding the pod watch for ever.
 */
export const attributionRetry = Schedule.exponential("500 millis").pipe(
  Schedule.jittered,
  Schedule.union(Schedule.spaced("30 seconds")),
  Schedule.upTo("5 minutes")
)

/** What waits with a queued key: the events it stands for, and their trace. */
interface PendingWork {
  readonly counts: TriggerCounts
  trace: EventTrace | undefined
}

/** Workload keys whose start-up records are computed between two turns of the event loop. */
const STARTUP_KEYS_PER_TURN = 10

/** An update that changes the pod's identity, owner or anything the desired state reads. */
const isRelevantUpsert = (previous: SlimPod | undefined, current: SlimPod): boolean =>
  previous === undefined || previous.uid !== current.uid || podTrigger(previous, current) !== undefined

/** What indexing a pod delta asks for next, in order: a key to queue (and why), or the end of a list. */
type PodFollowUp = { readonly key: string; readonly reason: Trigger } | "indexed"

/**
 * The reconcile loop. Watch events only say which workload key changed:
 * pods (attributed to their workload as they arrive, remembered while they
 * live) and watched workloads queue keys; a worker then reconciles the key
 * (Reconciler: desired state from the caches against what GitHub was told).
 * A rollout of 100 replicas is one key, not 100 events, and nothing but
 * keys and their event counts waits in memory.
 *
 * Start-up: the caches sync, the deployed state of the last run is
 * restored, the bulk sync sends what runs (the same computation over every
 * key), then the workers start with every key queued once. Every
 * `-resync-period` every key is queued again, so a missed event or a lost
 * answer heals without a restart.
 */
export const ControllerLive = Layer.scopedDiscard(Effect.gen(function*() {
  const config = yield* Config
  const metrics = yield* Metrics
  const readiness = yield* Readiness
  const liveness = yield* Liveness
  const gate = yield* RateLimitGate
  const pods = yield* PodWatch
  const workloads = yield* WorkloadWatches
  const namespaces = yield* NamespaceWatch
  const index = yield* WorkloadIndex
  const ledger = yield* DeploymentLedger
  const reconciler = yield* Reconciler
  const sender = yield* RecordSender
  const bulk = yield* BulkSync
  const persistence = yield* DeployedStatePersistence
  const attributor = yield* makePodAttributor
  const queue = yield* makeWorkQueue<string>({ capacity: WORK_QUEUE_CAPACITY })
  const pending = new Map<string, PendingWork>()
  const watchFibers = yield* FiberSet.make()
  const workerFibers = yield* FiberSet.make()
  const podsIndexed = yield* Deferred.make<void>()
  // Until the workers start, events are counted but no key is queued:
  // every key is queued once at start.
  let started = false

  /**
   * Counts the event on the key's pending work (made when there is none)
   * and queues the key once the workers run. A key already pending is
   * counted at once, without an effect to run before the start: a list of
   * 100,000 pods is 100,000 such calls, and their garbage set the start-up
   * peak of memory.
   */
  const trigger = (key: string, reason: Trigger): Effect.Effect<void> => {
    const waiting = pending.get(key)
    if (waiting !== undefined) {
      countTrigger(waiting.counts, reason)
      return started ? queue.add(key) : Effect.void
    }
    return Effect.gen(function*() {
      let work = pending.get(key)
      if (work === undefined) {
        work = { counts: {}, trace: yield* traceReceipt({ key, trigger: reason }) }
        pending.set(key, work)
      }
      countTrigger(work.counts, reason)
      if (started) yield* queue.add(key)
    })
  }

  const ownerUid = (pod: SlimPod) => controllingOwner(pod.ownerReferences)?.uid ?? ""

  /** The attribution a pod's current owner gives, read from the API (a ReplicaSet, a custom owner). */
  const readAttribution = (pod: SlimPod, owner: SlimOwnerReference): Effect.Effect<Attribution | undefined> =>
    attributor.attribute(pod, owner).pipe(
      Effect.tapError((e: KubeApiError) =>
        Effect.logWarning("Could not read the owner of a pod; retrying").pipe(
          Effect.annotateLogs({ namespace: pod.namespace, pod: pod.name, owner: `${owner.kind}/${owner.name}`, error: e.message })
        )
      ),
      Effect.retry(attributionRetry),
      Effect.orElseSucceed(() => attributor.attributeFromNames(pod, owner))
    )

  /**
   * A chunk of pod deltas: attributions from the caches where they tell
   * (nearly always: no effect per delta), the few that need a read made
   * concurrently, then the deltas applied in order. Watch sessions hand
   * over at most MAX_STEPS_PER_CHUNK deltas at a time (a list's too), so a
   * chunk is a millisecond or two of work between turns of the event loop.
   */
  const applyPodChunk = (chunk: Chunk.Chunk<Delta<SlimPod>>): Effect.Effect<void> =>
    Effect.gen(function*() {
      const deltas = Chunk.toReadonlyArray(chunk)
      const attributions = new Array<Attribution | undefined>(deltas.length)
      const reads: Array<number> = []
      const relevant = new Array<boolean>(deltas.length)
      // Replicas come together: one owner's attribution is made once per chunk.
      const fromCaches = new Map<string, Attribution | undefined>()
      for (let i = 0; i < deltas.length; i++) {
        const delta = deltas[i]!
        // Most events of a running cluster change nothing the desired state
        // reads (status conditions, resourceVersions): nothing to do at all.
        relevant[i] = delta._tag !== "Upsert" || isRelevantUpsert(delta.previous, delta.current)
        if (delta._tag !== "Upsert" || !relevant[i]) continue
        const owner = controllingOwner(delta.current.ownerReferences)
        if (owner === undefined) continue
        let known = index.ofOwner(owner.uid) ?? fromCaches.get(owner.uid)
        if (known === undefined) {
          const found = attributor.attributeFromCaches(delta.current, owner)
          if (found === NEEDS_READ) {
            reads.push(i)
            continue
          }
          fromCaches.set(owner.uid, known = found)
        }
        attributions[i] = known
      }
      if (reads.length > 0) {
        yield* Effect.forEach(reads, (i) => {
          const pod = (deltas[i] as Extract<Delta<SlimPod>, { _tag: "Upsert" }>).current
          return readAttribution(pod, controllingOwner(pod.ownerReferences)!).pipe(
            Effect.map((attribution) => void (attributions[i] = attribution))
          )
        }, { concurrency: ATTRIBUTION_CONCURRENCY, discard: true })
      }
      const followUps: Array<PodFollowUp> = []
      for (let i = 0; i < deltas.length; i++) {
        if (relevant[i]) indexPod(deltas[i]!, attributions[i], followUps)
      }
      for (const followUp of followUps) {
        if (followUp === "indexed") yield* Deferred.succeed(podsIndexed, undefined)
        else {
          const queued = trigger(followUp.key, followUp.reason)
          if (queued !== Effect.void) yield* queued
        }
      }
    })

  /**
   * Stage two, in order: the index follows the pods; the keys they touch
   * (and the end of a list) are added to `followUps`.
   */
  const indexPod = (delta: Delta<SlimPod>, attribution: Attribution | undefined, followUps: Array<PodFollowUp>): void => {
    switch (delta._tag) {
      case "Synced":
        followUps.push("indexed")
        return
      case "Delete": {
        const gone = index.release(delta.key)
        if (gone !== undefined) followUps.push({ key: gone.key, reason: "DELETED" })
        return
      }
      case "Upsert": {
        const { current, key } = delta
        let previous = delta.previous
        if (previous !== undefined && previous.uid !== current.uid) {
          // Deleted and recreated under the same name while the watch was away.
          const gone = index.release(key)
          if (gone !== undefined) followUps.push({ key: gone.key, reason: "DELETED" })
          previous = undefined
        }
        if (attribution !== undefined) {
          const before = index.assign(key, ownerUid(current), attribution)
          if (before !== undefined) followUps.push({ key: before, reason: "UPDATED" })
        }
        // A pod that lost its owner (orphaned) keeps the workload it ran under.
        const under = index.attributionOf(key)
        const reason = podTrigger(previous, current)
        if (under !== undefined && reason !== undefined) followUps.push({ key: under.key, reason })
        return
      }
    }
  }

  /** A Job's key is its CronJob's when it has one: a CronJob's Jobs come and go with every run. */
  const keyOfWorkload = (meta: ObjectMeta) =>
    meta.kind === "Job" && meta.controller?.kind === "CronJob"
      ? workloadKey(meta.namespace, meta.controller.name)
      : workloadKey(meta.namespace, meta.name)

  /** Before the workers start, the start-up pass covers every workload (no events are counted for their lists). */
  const applyWorkloadDelta = (delta: Delta<ObjectMeta>): Effect.Effect<void> => {
    if (!started) return Effect.void
    switch (delta._tag) {
      case "Synced":
        return Effect.void
      case "Upsert": {
        const reason = workloadTrigger(delta.previous, delta.current)
        return reason === undefined ? Effect.void : trigger(keyOfWorkload(delta.current), reason)
      }
      case "Delete":
        return trigger(keyOfWorkload(delta.last), "WORKLOAD_DELETED")
    }
  }

  /**
   * A Namespace changed (its environments, its opt-out, whether the
   * selector takes it): every workload key in it is reconciled again.
   */
  const applyNamespaceDelta = (delta: Delta<ObjectMeta>): Effect.Effect<void> => {
    if (!started || delta._tag === "Synced") return Effect.void
    if (delta._tag === "Upsert" && delta.previous !== undefined && !namespaceChanged(delta.previous, delta.current)) return Effect.void
    const name = delta._tag === "Upsert" ? delta.current.name : delta.last.name
    const prefix = workloadKey(name, "")
    return Effect.forEach(
      [...allKeys()].filter((key) => key.startsWith(prefix)),
      (key) => trigger(key, delta._tag === "Delete" ? "NAMESPACE_DELETED" : "NAMESPACE_UPDATED"),
      { discard: true }
    )
  }

  /** Every key the loop knows: of running pods, of names reported, and of events waiting. */
  const allKeys = () => new Set([...index.keys(), ...ledger.keys(), ...pending.keys()])

  const queueAll = (reason: Trigger) =>
    Effect.suspend(() => Effect.forEach(allKeys(), (key) => trigger(key, reason), { discard: true }))

  /** At start: every key once; keys whose events were counted while the caches filled stand for those. */
  const queueAtStart = Effect.suspend(() =>
    Effect.forEach(allKeys(), (key) => pending.has(key) ? queue.add(key) : trigger(key, "RESYNC"), { discard: true })
  )

  /** Puts a key's events back after a failed reconcile, in front of what arrived meanwhile. */
  const putBack = (key: string, work: PendingWork) =>
    Effect.gen(function*() {
      const newer = pending.get(key)
      const trace = work.trace === undefined ? undefined : yield* traceRequeue(work.trace)
      if (newer === undefined) {
        pending.set(key, { counts: work.counts, trace })
        return
      }
      mergeCounts(newer.counts, work.counts)
      if (trace !== undefined) {
        if (newer.trace !== undefined) yield* traceAbandoned(newer.trace, "coalesced")
        newer.trace = trace
      }
    })

  const countEvents = (counts: TriggerCounts, ok: boolean) => {
    for (const [reason, count] of Object.entries(counts) as Array<[Trigger, number]>) metrics.eventsProcessed(reason, ok, count)
  }

  const processKey = (key: string) =>
    Effect.gen(function*() {
      const work = pending.get(key) ?? { counts: {}, trace: undefined }
      pending.delete(key)
      const reconcile = reconciler.reconcile(key).pipe(
        Effect.tap((outcome) => annotateSpan(SpanAttribute.outcome, outcome)),
        withExportedSpan(SpanName.reconcile, () => ({
          attributes: { [SpanAttribute.workload]: key, [SpanAttribute.events]: JSON.stringify(work.counts) },
          captureStackTrace: false
        }))
      )
      const [elapsed, outcome] = yield* (work.trace === undefined ? reconcile : continueTrace(work.trace)(reconcile)).pipe(
        Effect.timed,
        // A defect (the worker boundary logs it and retries the key) must
        // not lose the key's events. Interruption is shutdown.
        Effect.onError((cause) => Cause.isInterruptedOnly(cause) ? Effect.void : putBack(key, work))
      )
      countEvents(work.counts, outcome !== "retry")
      metrics.reconciled(outcome !== "retry", Duration.toSeconds(elapsed))
      if (outcome === "retry") {
        yield* putBack(key, work)
        return yield* queue.addRateLimited(key)
      }
      yield* queue.forget(key)
      if (outcome === "recheck") yield* queue.addAfter(key, RECHECK_INTERVAL)
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
                : Effect.logError("Unexpected failure reconciling a workload; will retry", cause).pipe(
                  Effect.zipRight(queue.addRateLimited(key))
                )
            ),
            Effect.ensuring(queue.done(key)),
            Effect.annotateLogs({ workload: key })
          )
        ),
        Effect.forever
      )
    }).pipe(Effect.scoped)

  /**
   * The start-up bulk sync: the records every key calls for, computed as a
   * reconcile computes them, sent as cluster jobs; what GitHub accepts goes
   * into the ledger, so the first reconciles find it reported.
   */
  const startupSync = Effect.gen(function*() {
    const byName = new Map<string, { readonly key: string; readonly desired: DesiredRecord }>()
    let computed = 0
    for (const key of [...index.keys()]) {
      // Probes are answered while the records of a large cluster are computed.
      if (++computed % STARTUP_KEYS_PER_TURN === 0) yield* yieldToEventLoop
      for (const desired of yield* reconciler.startupRecords(key)) {
        if (!byName.has(desired.record.deployment_name)) byName.set(desired.record.deployment_name, { key, desired })
      }
    }
    // BulkSync logs its own outcome.
    const result = yield* bulk.run([...byName.values()].map(({ desired }) => desired.record))
    const now = yield* Clock.currentTimeMillis
    for (const record of result.seen) {
      const found = byName.get(record.deployment_name)
      if (found !== undefined) ledger.put({ key: found.key, owner: found.desired.owner, record, since: now })
    }
    yield* sender.markUnknown(result.unknownDigests)
    const { counts } = result
    metrics.bulkSync(result.outcome, {
      submitted: counts.submitted,
      seen: counts.seen,
      rejected: counts.rejected,
      invalid: counts.invalid,
      not_sent: counts.notSent
    })
  })

  const updateGauges = Effect.sync(() => {
    metrics.cachedPods.set(pods.size())
    metrics.cachedWorkloads.set(workloads.size())
    metrics.trackedWorkloads.set(index.workloads())
    metrics.reportedNames.set(ledger.size())
  }).pipe(Effect.zipRight(queue.size.pipe(Effect.map((size) => metrics.workQueueDepth.set(size)))))

  // Waiting out a GitHub rate limit is not a wedged worker.
  yield* liveness.holdUp(gate.openAt)
  yield* FiberSet.run(watchFibers, workloads.deltas.pipe(Stream.runForEach(applyWorkloadDelta)))
  yield* FiberSet.run(watchFibers, namespaces.deltas.pipe(Stream.runForEach(applyNamespaceDelta)))
  yield* metrics.onScrape(updateGauges)

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
      // Keys never reconciled end their traces here, so the flush still exports them.
      const unhandled = [...pending.values()].flatMap((work) => work.trace === undefined ? [] : [work.trace])
      pending.clear()
      yield* Effect.forEach(unhandled, (trace) => traceAbandoned(trace, "shutdown"), { discard: true })
    })
  )

  const syncTimeout = new CacheSyncTimeout({
    message: `the caches did not sync: no answer from the API server for ${
      Duration.format(CACHE_SYNC_TIMEOUT)
    }; check that it is reachable and that RBAC lets this service account list and watch pods, namespaces, deployments, daemonsets, statefulsets, jobs and cronjobs`
  })
  /**
   * The original bounds the first sync at 60 s. A cluster of 100,000 pods
   * may take longer to list on a busy node while every page arrives: only
   * a watch that has heard nothing for 60 s (no list page, no event)
   * fails the start, pointing at RBAC and reachability.
   */
  const awaitSync = (synced: Effect.Effect<void>, watches: ReadonlyArray<string>): Effect.Effect<void, CacheSyncTimeout> =>
    synced.pipe(
      Effect.timeoutOption(CACHE_SYNC_TIMEOUT),
      Effect.flatMap((done) =>
        done._tag === "Some"
          ? Effect.void
          : liveness.check.pipe(Effect.flatMap((report) => {
            const awaited = report.watches.filter((watch) => watches.includes(watch.name))
            const stalled = awaited.some((watch) =>
              watch.state === "stopped" ||
              (watch.state === "waiting-for-server" && watch.silentSeconds >= Duration.toSeconds(CACHE_SYNC_TIMEOUT))
            )
            return stalled || awaited.length === 0 ? Effect.fail(syncTimeout) : awaitSync(synced, watches)
          }))
      )
    )
  // Workloads first: pods are attributed from their caches (a Deployment's
  // pods need no read at all once its Deployment is cached).
  yield* awaitSync(
    Effect.all([workloads.synced, namespaces.synced], { concurrency: "unbounded", discard: true }),
    [...WATCHED_KINDS.map((kind) => kind.plural), "namespaces"]
  )
  yield* FiberSet.run(
    watchFibers,
    pods.deltas.pipe(Stream.runForEachChunk(applyPodChunk))
  )
  yield* awaitSync(pods.synced, ["pods"])
  // Reads of owners may still be going on for the last pods of the list.
  yield* Deferred.await(podsIndexed)
  // What an earlier run reported as deployed goes back into the ledger:
  // a remembered name whose workload is gone is decommissioned by its first
  // reconcile. Persistence is released after this layer, so its last write
  // follows the drain.
  yield* persistence.restore
  if (config.bulkClusterSync) yield* startupSync
  started = true
  for (let i = 0; i < config.workers; i++) {
    yield* FiberSet.run(workerFibers, worker(`worker-${i}`).pipe(Effect.annotateLogs({ worker: i })))
  }
  // Every key once; the queue's bound applies (this fiber waits, nothing else does).
  yield* FiberSet.run(watchFibers, queueAtStart)
  if (config.resyncPeriod._tag === "Some") {
    const period = config.resyncPeriod.value
    yield* FiberSet.run(watchFibers, queueAll("RESYNC").pipe(Effect.delay(period), Effect.forever))
  }
  yield* readiness.markSynced
  yield* Effect.logInfo("Caches synced; controller running").pipe(
    Effect.annotateLogs({
      pods: pods.size(),
      workloads: workloads.size(),
      workload_keys: index.workloads(),
      reported_names: ledger.size(),
      workers: config.workers
    })
  )
}))

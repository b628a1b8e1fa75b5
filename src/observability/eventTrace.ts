import { Clock, Context, Effect, Exit, Option, Tracer } from "effect"

// One trace per reconcile of a workload key: from the watch event that
// queued the key (later events for the key while it waits join it, counted
// on the root) to what was sent. The rest hang under the root whenever (and
// on whichever fiber) they happen:
//
//   deployment_tracker.watch_receipt       root, ends at once (the moment the first event queued the key)
//   ├─ deployment_tracker.queue_wait       receipt (or requeue) -> a worker takes the key
//   └─ controller.reconcile                the worker's reconcile of the key
//      ├─ deployment_tracker.record_build  the desired records, from the caches
//      └─ github.postDeploymentRecord      one record, all its attempts
//         └─ github.post_record.attempt    one HTTP request: status, retry_count, outcome
//
// The root ends at receipt rather than when the reconcile ends: a key may be
// requeued or never handled (shutdown), and a root that never ends would
// lose the whole trace.

/** The span names, shared by the controller and the GitHub client. */
export const SpanName = {
  watchReceipt: "deployment_tracker.watch_receipt",
  queueWait: "deployment_tracker.queue_wait",
  reconcile: "controller.reconcile",
  recordBuild: "deployment_tracker.record_build",
  postRecord: "github.postDeploymentRecord",
  postAttempt: "github.post_record.attempt"
} as const

/**
 * Span attribute names. The plain ones are the keys the JSON logs use, so a
 * trace and its log lines can be matched; HTTP ones follow OpenTelemetry's
 * semantic conventions. Never a token, header or record body.
 */
export const SpanAttribute = {
  /** The first event's trigger: `CREATED`, `DELETED`, `RESYNC`... */
  eventType: "event_type",
  /** Events the reconcile covers (later ones join a waiting key). */
  events: "events",
  /** The workload key: `namespace/name`. */
  workload: "workload",
  deploymentName: "deployment_name",
  /** On a record's span: `deployed` or `decommissioned`. */
  recordStatus: "status",
  /** How often the event went back to the work queue before this wait (0 the first time). */
  requeueCount: "requeue_count",
  /** Changes the reconcile found to send (deploy, decommission, adopt). */
  recordCount: "record_count",
  httpMethod: "http.request.method",
  httpStatus: "http.response.status_code",
  /** On an attempt: attempts of the same record before it (0 for the first request). */
  retryCount: "retry_count",
  /** On a record's span: the HTTP requests it took. */
  attempts: "attempts",
  /** What an attempt or event came to, e.g. `ok`, `soft_failure`, `coalesced`. */
  outcome: "outcome"
} as const

/** What a trace is about: a workload key and the trigger that first queued it. */
export interface TracedKey {
  readonly key: string
  readonly trigger: string
}

/**
 * What travels with an event from the watch to a worker: the trace's
 * root and the open queue-wait span. Holding it costs two span objects; a
 * trace whose queue wait never ends is simply not exported.
 */
export interface EventTrace {
  readonly receipt: Tracer.Span
  readonly queueWait: Tracer.Span
  readonly requeues: number
}

/** Who the trace is about; on the receipt and the reconcile span. */
export const keyAttributes = (traced: TracedKey): Record<string, string> => ({
  [SpanAttribute.workload]: traced.key,
  [SpanAttribute.eventType]: traced.trigger
})

const openQueueWait = (receipt: Tracer.Span, requeues: number) =>
  Effect.makeSpan(SpanName.queueWait, {
    parent: receipt,
    attributes: { [SpanAttribute.requeueCount]: requeues },
    captureStackTrace: false
  })

const endSpan = (span: Tracer.Span) =>
  Clock.currentTimeNanos.pipe(Effect.map((now) => span.end(now, Exit.void)))

/**
 * Whether an exporting tracer is installed (Tracing.ts provides `true` with
 * it). Without one, the per-event trace is not kept at all.
 */
export class EventTracing extends Context.Reference<EventTracing>()("deployment-tracker/EventTracing", {
  defaultValue: () => false
}) {}

/**
 * Starts the event's trace: call it where the watch delivers the event,
 * before queueing it. A new root, whatever span the watch fiber is in.
 */
export const traceReceipt = (traced: TracedKey): Effect.Effect<EventTrace | undefined> =>
  Effect.gen(function*() {
    // With tracing off, nothing would be exported: keep no spans at all. A
    // queue of 100,000 held-back events would otherwise hold 200,000 span
    // objects (measured: the initial sync of 100,000 pods took 95 s instead
    // of 50 under the manifest's 192 MiB heap, most of it garbage collection).
    if (!(yield* EventTracing)) return undefined
    const receipt = yield* Effect.makeSpan(SpanName.watchReceipt, {
      root: true,
      kind: "consumer",
      attributes: keyAttributes(traced),
      captureStackTrace: false
    })
    yield* endSpan(receipt)
    const queueWait = yield* openQueueWait(receipt, 0)
    return { receipt, queueWait, requeues: 0 }
  })

/**
 * Runs the handling of the event inside its trace: ends the queue wait
 * (now), then every span `handle` makes is a child of the receipt.
 */
export const continueTrace = (trace: EventTrace) => <A, E, R>(handle: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  endSpan(trace.queueWait).pipe(Effect.zipRight(Effect.withParentSpan(handle, trace.receipt)))

/** The event goes back to the work queue: a new queue wait starts now, in the same trace. */
export const traceRequeue = (trace: EventTrace): Effect.Effect<EventTrace> =>
  openQueueWait(trace.receipt, trace.requeues + 1).pipe(
    Effect.map((queueWait) => ({ receipt: trace.receipt, queueWait, requeues: trace.requeues + 1 }))
  )

/**
 * The event will not be handled (replaced by a newer one of its pod, or
 * dropped at shutdown): ends its queue wait with that outcome, so the trace
 * says why it stops there.
 */
export const traceAbandoned = (trace: EventTrace, outcome: string): Effect.Effect<void> =>
  Effect.sync(() => trace.queueWait.attribute(SpanAttribute.outcome, outcome)).pipe(
    Effect.zipRight(endSpan(trace.queueWait))
  )

/**
 * `Effect.withSpan`, only when an exporting tracer is installed. Without
 * one, Effect's built-in tracer still makes every span (some 6 µs each, and
 * a reconcile makes two, then two per record sent) for nobody to read.
 * `options` is a function so that the attributes are not computed for
 * nothing.
 */
export const withExportedSpan = (name: string, options: () => Tracer.SpanOptions) =>
<A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.flatMap(EventTracing, (on) => (on ? Effect.withSpan(self, name, options()) : self))

/**
 * Sets an attribute on the current span, if there is one. Effect's
 * `annotateCurrentSpan` makes (and drops) an exception, stack trace and
 * all, when there is none: every time when spans are not exported. (Unlike
 * it, this does not look past a span that disables propagation: the
 * controller makes none.)
 */
export const annotateSpan = (key: string, value: unknown): Effect.Effect<void> =>
  Effect.map(Effect.serviceOption(Tracer.ParentSpan), (span) => {
    if (Option.isSome(span) && span.value._tag === "Span") span.value.attribute(key, value)
  })

/** Wraps the computation of a workload's desired records. */
export const withRecordBuildSpan = <A, E, R>(build: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  build.pipe(withExportedSpan(SpanName.recordBuild, () => ({ captureStackTrace: false })))

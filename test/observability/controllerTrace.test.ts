import { describe, expect, it } from "@effect/vitest"
import { SpanKind, SpanStatusCode } from "@opentelemetry/api"
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base"
import { type Context, Duration, Effect, Exit, Layer, Option, Queue, Scope, Stream, Tracer } from "effect"
import { EventTracing, SpanAttribute, SpanName } from "../../src/observability/eventTrace.ts"
import { Metrics } from "../../src/observability/Metrics.ts"
import { TracingLive } from "../../src/observability/Tracing.ts"
import { posted, startController } from "../controller/harness.ts"
import { eventually, expectTrue } from "../support/eventually.ts"
import { metaJson, podJson, watchLine } from "../support/fakeKube.ts"
import type { ScriptedResponse } from "../support/fakeGitHub.ts"
import { TEST_TOKEN } from "../support/testConfig.ts"
import { inMemoryTracing, parentOf } from "./inMemoryTracing.ts"

// The real controller (watches, work queue, workers, reconciler, GitHub
// client) over a scripted Kubernetes API and a local fake GitHub, with the
// real tracing layer exporting to memory: what an operator's collector
// would receive, one trace per reconcile of a workload key.

const rsPath = (name: string) => `/apis/apps/v1/namespaces/default/replicasets/${name}`

/** Pods of the Deployment `web` (through its ReplicaSet `web-1`) and of the bare ReplicaSet `cache-1`. */
const webOwner = { kind: "ReplicaSet", name: "web-1", uid: "uid-web-1" }
const cacheOwner = { kind: "ReplicaSet", name: "cache-1", uid: "uid-cache-1" }

/** The owners readable by GET: `web-1` controlled by the Deployment `web`; `cache-1` bare. */
const ownerObjects = () =>
  new Map<string, unknown>([
    [rsPath("web-1"), metaJson("web-1", "uid-web-1", { owner: { kind: "Deployment", name: "web", uid: "uid-web" } })],
    [rsPath("cache-1"), metaJson("cache-1", "uid-cache-1")]
  ])

const running = (name: string, rv: string, owner = webOwner) => podJson(name, { rv, phase: "Running", owner })

/** Lines the test feeds into a watch while the controller runs. */
const liveWatch = Effect.gen(function*() {
  const lines = yield* Queue.unbounded<string>()
  return { lines, stream: Stream.fromQueue(lines) }
})

interface Run {
  readonly pods: Queue.Queue<string>
  readonly objects: Map<string, unknown>
  readonly requests: ReadonlyArray<{ readonly body: unknown }>
  readonly metrics: Context.Context<Metrics>
}

/**
 * Runs the controller: the pods of `listed` are there at start (their
 * events counted while the caches fill, so each key is reconciled once
 * when the workers start), `scenario` drives the pod watch (pods added
 * there are events after the start), then everything stops.
 */
const runController = (
  github: ReadonlyArray<ScriptedResponse>,
  listed: ReadonlyArray<unknown>,
  scenario: (run: Run) => Effect.Effect<void, Error>,
  overrides: Parameters<typeof startController>[2] = {}
) =>
  Effect.gen(function*() {
    const pods = yield* liveWatch
    const objects = ownerObjects()
    // No workload is listed: `web` is known through its ReplicaSet's owner
    // reference, so no watch event of a workload queues a key of its own.
    const { context, github: gh, scope } = yield* startController({
      lists: [{ items: [...listed], rv: "10" }],
      watches: [pods.stream],
      objects
    }, github, overrides)
    yield* scenario({ pods: pods.lines, objects, requests: gh.requests, metrics: context })
    yield* Scope.close(scope, Exit.void)
  })

/** The same inside the in-memory tracing layer; returns what it exported (flushed when the layer closes). */
const traced = (...args: Parameters<typeof runController>) =>
  Effect.gen(function*() {
    const tracing = inMemoryTracing()
    yield* runController(...args).pipe(Effect.provide(tracing.layer))
    return tracing.spans()
  })

const metricSeen = (context: Context.Context<Metrics>, line: string) =>
  eventually(Effect.gen(function*() {
    const text = yield* (yield* Metrics.pipe(Effect.provide(context))).render
    yield* expectTrue(text.includes(line), line)
  }))

const metricValue = (context: Context.Context<Metrics>, pattern: RegExp) =>
  Effect.gen(function*() {
    const text = yield* (yield* Metrics.pipe(Effect.provide(context))).render
    return Number(pattern.exec(text)?.[1] ?? "0")
  })

const requestsSeen = (requests: ReadonlyArray<unknown>, count: number) =>
  eventually(Effect.suspend(() => expectTrue(requests.length === count, `${count} requests to GitHub`)))

const idOf = (span: ReadableSpan) => span.spanContext().spanId
const traceIdOf = (span: ReadableSpan) => span.spanContext().traceId
const nanos = (t: readonly [number, number]) => BigInt(t[0]) * 1_000_000_000n + BigInt(t[1])

/** The spans of one trace, by name, in start order. */
const traceOf = (spans: ReadonlyArray<ReadableSpan>, receipt: ReadableSpan) => {
  const members = spans
    .filter((s) => traceIdOf(s) === traceIdOf(receipt))
    .sort((a, b) => Number(nanos(a.startTime) - nanos(b.startTime)))
  const named = (name: string) => members.filter((s) => s.name === name)
  const one = (name: string) => {
    const found = named(name)
    if (found.length !== 1) throw new Error(`expected one ${name} in the trace, found ${found.length}`)
    return found[0]!
  }
  return { members, named, one }
}

const receipts = (spans: ReadonlyArray<ReadableSpan>) => spans.filter((s) => s.name === SpanName.watchReceipt)
const receiptOf = (spans: ReadonlyArray<ReadableSpan>, key: string) =>
  receipts(spans).filter((r) => r.attributes[SpanAttribute.workload] === key)

/** Every attribute value of every span, as text, must be free of the token. */
const expectNoToken = (spans: ReadonlyArray<ReadableSpan>) => {
  expect(spans.length).toBeGreaterThan(0)
  for (const span of spans) {
    const text = JSON.stringify([span.name, span.attributes, span.events, span.status, span.resource.attributes])
    expect(text).not.toContain(TEST_TOKEN)
    expect(text.toLowerCase()).not.toContain("authorization")
  }
}

describe("the controller traces each reconcile of a workload key", () => {
  it.scopedLive("a pod turning Running is one trace for its key: receipt -> queue wait, reconcile -> record build, post -> each HTTP attempt", () =>
    Effect.gen(function*() {
      // The first attempt gets a 500 and is retried: two attempt spans.
      const spans = yield* traced([{ status: 500, body: { message: "boom" } }], [], ({ metrics, pods, requests }) =>
        Effect.gen(function*() {
          yield* Queue.offer(pods, watchLine("ADDED", running("web-1-a", "11")))
          yield* requestsSeen(requests, 2)
          yield* metricSeen(metrics, 'deptracker_events_processed_ok{event_type="CREATED"} 1')
        }))

      expect(receipts(spans)).toHaveLength(1)
      const receipt = receipts(spans)[0]!
      const trace = traceOf(spans, receipt)
      const queueWait = trace.one(SpanName.queueWait)
      const reconcile = trace.one(SpanName.reconcile)
      const build = trace.one(SpanName.recordBuild)
      const post = trace.one(SpanName.postRecord)
      const attempts = trace.named(SpanName.postAttempt)

      // Rooted at its receipt; the rest hang where they happen.
      expect(parentOf(receipt)).toBeUndefined()
      expect(receipt.kind).toBe(SpanKind.CONSUMER)
      expect(parentOf(queueWait)).toBe(idOf(receipt))
      expect(parentOf(reconcile)).toBe(idOf(receipt))
      expect(parentOf(build)).toBe(idOf(reconcile))
      expect(parentOf(post)).toBe(idOf(reconcile))
      expect(attempts).toHaveLength(2)
      for (const attempt of attempts) expect(parentOf(attempt)).toBe(idOf(post))
      // In order: the wait ends before the reconcile starts; the build before the post.
      expect(nanos(queueWait.endTime)).toBeLessThanOrEqual(nanos(reconcile.startTime))
      expect(nanos(build.endTime)).toBeLessThanOrEqual(nanos(post.startTime))

      expect(receipt.attributes).toEqual({ [SpanAttribute.workload]: "default/web", [SpanAttribute.eventType]: "CREATED" })
      expect(queueWait.attributes).toEqual({ [SpanAttribute.requeueCount]: 0 })
      expect(reconcile.attributes).toMatchObject({
        [SpanAttribute.workload]: "default/web",
        [SpanAttribute.events]: JSON.stringify({ CREATED: 1 }),
        [SpanAttribute.recordCount]: 1,
        [SpanAttribute.outcome]: "done"
      })
      expect(post.attributes).toMatchObject({
        [SpanAttribute.deploymentName]: "default/web/app",
        [SpanAttribute.recordStatus]: "deployed",
        [SpanAttribute.attempts]: 2
      })
      expect(attempts.map((a) => a.attributes)).toEqual([0, 1].map((retries) => ({
        [SpanAttribute.deploymentName]: "default/web/app",
        [SpanAttribute.httpMethod]: "POST",
        [SpanAttribute.httpStatus]: retries === 0 ? 500 : 200,
        [SpanAttribute.retryCount]: retries,
        [SpanAttribute.outcome]: retries === 0 ? "soft_failure" : "ok"
      })))
      expect(attempts.map((a) => a.kind)).toEqual([SpanKind.CLIENT, SpanKind.CLIENT])
      expectNoToken(spans)
    }))

  it.scopedLive("a Deployment's replicas listed at start are one trace for their key, not one per pod, reconciled when the workers start", () =>
    Effect.gen(function*() {
      const spans = yield* traced(
        [],
        [running("web-1-a", "10"), running("web-1-b", "10"), running("web-1-c", "10")],
        ({ metrics, requests }) =>
          Effect.gen(function*() {
            yield* requestsSeen(requests, 1)
            yield* metricSeen(metrics, 'deptracker_events_processed_ok{event_type="CREATED"} 3')
            expect(posted(requests)).toEqual(["deployed default/web/app aaa"])
          })
      )

      expect(receipts(spans)).toHaveLength(1)
      const trace = traceOf(spans, receipts(spans)[0]!)
      expect(trace.members.map((s) => s.name)).toEqual([
        SpanName.watchReceipt,
        SpanName.queueWait,
        SpanName.reconcile,
        SpanName.recordBuild,
        SpanName.postRecord,
        SpanName.postAttempt
      ])
      expect(trace.one(SpanName.reconcile).attributes).toMatchObject({
        [SpanAttribute.workload]: "default/web",
        [SpanAttribute.events]: JSON.stringify({ CREATED: 3 }),
        [SpanAttribute.outcome]: "done"
      })
    }))

  it.scopedLive("each later reconcile of the key is a trace of its own; one with nothing to send has no post", () =>
    Effect.gen(function*() {
      const spans = yield* traced([], [], ({ metrics, pods, requests }) =>
        Effect.gen(function*() {
          yield* Queue.offer(pods, watchLine("ADDED", running("web-1-a", "11")))
          yield* requestsSeen(requests, 1)
          yield* metricSeen(metrics, 'deptracker_events_processed_ok{event_type="CREATED"} 1')
          // Another replica of the same image: the key is reconciled again, and GitHub already knows.
          yield* Queue.offer(pods, watchLine("ADDED", running("web-1-b", "12")))
          yield* metricSeen(metrics, 'deptracker_events_processed_ok{event_type="CREATED"} 2')
          expect(requests).toHaveLength(1)
        }))

      expect(receipts(spans)).toHaveLength(2)
      const [first, second] = receiptOf(spans, "default/web")
      expect(traceIdOf(first!)).not.toBe(traceIdOf(second!))
      const later = traceOf(spans, second!)
      expect(later.members.map((s) => s.name)).toEqual([
        SpanName.watchReceipt,
        SpanName.queueWait,
        SpanName.reconcile,
        SpanName.recordBuild
      ])
      expect(later.one(SpanName.reconcile).attributes).toMatchObject({
        [SpanAttribute.events]: JSON.stringify({ CREATED: 1 }),
        [SpanAttribute.outcome]: "done"
      })
    }))

  it.scopedLive("a key handed back to the work queue after a failed post waits again in the same trace (requeue_count 1)", () =>
    Effect.gen(function*() {
      // Four 500s exhaust the record's retries: the key goes back to the queue, then its reconcile succeeds.
      const spans = yield* traced(Array.from({ length: 4 }, () => ({ status: 500 })), [], ({ metrics, pods, requests }) =>
        Effect.gen(function*() {
          yield* Queue.offer(pods, watchLine("ADDED", running("web-1-a", "11")))
          yield* requestsSeen(requests, 5)
          yield* metricSeen(metrics, 'deptracker_events_processed_ok{event_type="CREATED"} 1')
          yield* metricSeen(metrics, 'deptracker_events_processed_failed{event_type="CREATED"} 1')
        }))

      expect(receipts(spans)).toHaveLength(1)
      const receipt = receipts(spans)[0]!
      const trace = traceOf(spans, receipt)
      expect(trace.named(SpanName.queueWait).map((s) => s.attributes[SpanAttribute.requeueCount])).toEqual([0, 1])
      for (const wait of trace.named(SpanName.queueWait)) expect(parentOf(wait)).toBe(idOf(receipt))
      expect(trace.named(SpanName.reconcile).map((s) => s.attributes[SpanAttribute.outcome])).toEqual(["retry", "done"])
      for (const reconcile of trace.named(SpanName.reconcile)) expect(parentOf(reconcile)).toBe(idOf(receipt))
      // The second wait starts when the first reconcile ended, and ends when the second starts.
      const [, requeued] = trace.named(SpanName.queueWait)
      const [failed, succeeded] = trace.named(SpanName.reconcile)
      expect(nanos(requeued!.startTime)).toBeGreaterThanOrEqual(nanos(failed!.endTime))
      expect(nanos(requeued!.endTime)).toBeLessThanOrEqual(nanos(succeeded!.startTime))
      expect(trace.named(SpanName.postAttempt).map((s) => s.attributes[SpanAttribute.httpStatus])).toEqual([500, 500, 500, 500, 200])
      expect(trace.named(SpanName.postAttempt).map((s) => s.attributes[SpanAttribute.retryCount])).toEqual([0, 1, 2, 3, 0])
    }))

  it.scopedLive("a defect while reconciling puts the key back: it is retried, in the same trace", () =>
    Effect.gen(function*() {
      const spans = yield* traced([], [], ({ metrics, objects, pods, requests }) =>
        Effect.gen(function*() {
          yield* Queue.offer(pods, watchLine("ADDED", running("cache-1-a", "11", cacheOwner)))
          yield* requestsSeen(requests, 1)
          // The bare ReplicaSet is deleted with its pod. Whether it still
          // exists is read once the pod is gone: the first read throws (a
          // bug, not an API error); the next finds it gone.
          let throwsLeft = 1
          objects.set(rsPath("cache-1"), {
            get metadata() {
              if (throwsLeft-- > 0) throw new Error("a bug reading the owner")
              return undefined
            }
          })
          yield* Queue.offer(pods, watchLine("DELETED", running("cache-1-a", "12", cacheOwner)))
          yield* requestsSeen(requests, 2)
          yield* metricSeen(metrics, 'deptracker_events_processed_ok{event_type="DELETED"} 1')
          expect(throwsLeft).toBeLessThan(0)
          expect(posted(requests)).toEqual(["deployed default/cache-1/app aaa", "decommissioned default/cache-1/app aaa"])
        }))

      const deleted = receiptOf(spans, "default/cache-1").filter((r) => r.attributes[SpanAttribute.eventType] === "DELETED")
      expect(deleted).toHaveLength(1)
      const trace = traceOf(spans, deleted[0]!)
      expect(trace.named(SpanName.queueWait).map((s) => s.attributes[SpanAttribute.requeueCount])).toEqual([0, 1])
      expect(trace.named(SpanName.reconcile).map((s) => s.status.code)).toEqual([SpanStatusCode.ERROR, SpanStatusCode.OK])
      expect(trace.one(SpanName.postRecord).attributes[SpanAttribute.recordStatus]).toBe("decommissioned")
    }))

  it.scopedLive("a key still queued at shutdown ends its trace there (outcome shutdown), and the trace is exported", () =>
    Effect.gen(function*() {
      // The one worker gets stuck on the first key's request; the second
      // key, queued behind it, never gets a worker.
      const spans = yield* traced(
        [{ status: 0, hang: true }],
        [],
        ({ metrics, pods, requests }) =>
          Effect.gen(function*() {
            yield* Queue.offer(pods, watchLine("ADDED", running("web-1-a", "11")))
            yield* requestsSeen(requests, 1)
            yield* Queue.offer(pods, watchLine("ADDED", running("cache-1-a", "12", cacheOwner)))
            yield* metricSeen(metrics, "deployment_tracker_workqueue_depth 2")
          }),
        { workers: 1, shutdownDrainTimeout: Duration.millis(200) }
      )

      const [queued] = receiptOf(spans, "default/cache-1")
      const trace = traceOf(spans, queued!)
      expect(trace.members.map((s) => s.name)).toEqual([SpanName.watchReceipt, SpanName.queueWait])
      expect(trace.one(SpanName.queueWait).attributes[SpanAttribute.outcome]).toBe("shutdown")
      // The other one was being reconciled when the workers stopped.
      const [busy] = receiptOf(spans, "default/web")
      expect(traceOf(spans, busy!).named(SpanName.reconcile)).toHaveLength(1)
    }))

  it.scopedLive("a periodic resync reconciles every key again, each a trace of its own triggered by RESYNC, keys that appeared after start included", () =>
    Effect.gen(function*() {
      const spans = yield* traced([], [running("web-1-a", "10")], ({ metrics, pods, requests }) =>
        Effect.gen(function*() {
          yield* requestsSeen(requests, 1)
          yield* Queue.offer(pods, watchLine("ADDED", running("cache-1-a", "11", cacheOwner)))
          yield* requestsSeen(requests, 2)
          // Resyncs come every second here. Both keys are known from now on:
          // four more resync events counted cover at least one whole resync
          // that began after this point (plus one begun before, at most).
          const resynced = metricValue(metrics, /deptracker_events_processed_ok\{event_type="RESYNC"\} (\d+)/)
          const before = yield* resynced
          yield* eventually(resynced.pipe(Effect.flatMap((count) => expectTrue(count >= before + 4, "a resync after both keys"))))
        }), { resyncPeriod: Option.some(Duration.seconds(1)) })

      for (const key of ["default/web", "default/cache-1"]) {
        const resyncs = receiptOf(spans, key).filter((r) => r.attributes[SpanAttribute.eventType] === "RESYNC")
        expect(resyncs.length).toBeGreaterThan(0)
        for (const receipt of resyncs) {
          const reconcile = traceOf(spans, receipt).one(SpanName.reconcile)
          expect(reconcile.attributes[SpanAttribute.workload]).toBe(key)
          expect(Object.keys(JSON.parse(String(reconcile.attributes[SpanAttribute.events])))).toEqual(["RESYNC"])
        }
      }
    }))
})

describe("with tracing off", () => {
  /** A tracer that records the name of every span made, then lets Effect's own tracer make it. */
  const recordingTracer = Effect.gen(function*() {
    const native = yield* Effect.tracer
    const names: Array<string> = []
    const tracer = Tracer.make({
      span: (name, ...rest) => {
        names.push(name)
        return native.span(name, ...rest)
      },
      context: (f, fiber) => native.context(f, fiber)
    })
    return { tracer, names }
  })

  const spanNames = (tracing: Layer.Layer<EventTracing>) =>
    Effect.gen(function*() {
      const { names, tracer } = yield* recordingTracer
      yield* runController([], [], ({ metrics, pods, requests }) =>
        Effect.gen(function*() {
          yield* Queue.offer(pods, watchLine("ADDED", running("web-1-a", "10")))
          yield* requestsSeen(requests, 1)
          yield* metricSeen(metrics, 'deptracker_events_processed_ok{event_type="CREATED"} 1')
          yield* Queue.offer(pods, watchLine("ADDED", running("web-1-b", "11")))
          yield* metricSeen(metrics, 'deptracker_events_processed_ok{event_type="CREATED"} 2')
        })).pipe(Effect.provide(tracing), Effect.withTracer(tracer))
      return names
    })

  it.scopedLive("no span of an event's handling is made: nothing waits in memory for a trace nobody exports, and no time goes into spans nobody reads", () =>
    Effect.gen(function*() {
      // The run waits for two reconciles and a posted record, so the controller did its work.
      const names = yield* spanNames(TracingLive(Option.none()))
      expect(names).toEqual([])
    }))

  it.scopedLive("(the same run with tracing on makes them: the check above can see them)", () =>
    Effect.gen(function*() {
      const names = yield* spanNames(Layer.succeed(EventTracing, true))
      expect(names.filter((n) => n === SpanName.watchReceipt)).toHaveLength(2)
      expect(names.filter((n) => n === SpanName.queueWait)).toHaveLength(2)
      expect(names.filter((n) => n === SpanName.reconcile)).toHaveLength(2)
      expect(names.filter((n) => n === SpanName.recordBuild)).toHaveLength(2)
      expect(names).toContain(SpanName.postRecord)
      expect(names).toContain(SpanName.postAttempt)
    }))
})

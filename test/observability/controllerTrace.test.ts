import { describe, expect, it } from "@effect/vitest"
import { SpanKind, SpanStatusCode } from "@opentelemetry/api"
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base"
import { type Context, Duration, Effect, Exit, Queue, Scope, Stream } from "effect"
import { SpanAttribute, SpanName } from "../../src/observability/eventTrace.ts"
import { Metrics } from "../../src/observability/Metrics.ts"
import { posted, startController } from "../controller/harness.ts"
import { eventually, expectTrue } from "../support/eventually.ts"
import { metaJson, podJson, watchLine } from "../support/fakeKube.ts"
import type { ScriptedResponse } from "../support/fakeGitHub.ts"
import { TEST_TOKEN } from "../support/testConfig.ts"
import { inMemoryTracing, parentOf } from "./inMemoryTracing.ts"

// The real controller (watches, work queue, workers, processor, GitHub
// client) over a scripted Kubernetes API and a local fake GitHub, with the
// real tracing layer exporting to memory: what an operator's collector
// would receive, one trace per event.

const DEPLOYMENTS = "/apis/apps/v1/deployments"
const deploymentPath = "/apis/apps/v1/namespaces/default/deployments/web"
const replicaSetPath = "/apis/apps/v1/namespaces/default/replicasets/web-1"
const owner = { kind: "ReplicaSet", name: "web-1", uid: "uid-web-1" }

/** The Deployment `web` with its ReplicaSet `web-1`, readable by GET. */
const ownerObjects = () =>
  new Map<string, unknown>([
    [deploymentPath, metaJson("web", "uid-web")],
    [replicaSetPath, metaJson("web-1", "uid-web-1", { owner: { kind: "Deployment", name: "web", uid: "uid-web" } })]
  ])

/** Lines the test feeds into a watch while the controller runs. */
const liveWatch = Effect.gen(function*() {
  const lines = yield* Queue.unbounded<string>()
  return { lines, stream: Stream.fromQueue(lines) }
})

const pending = (name: string, rv: string) => podJson(name, { rv, phase: "Pending", owner })
const running = (name: string, rv: string) => podJson(name, { rv, phase: "Running", owner })

/**
 * Runs the controller inside the in-memory tracing layer: the pods of
 * `listed` are there at start (by default `web-1-a`, Pending), `scenario`
 * drives the watches, then everything stops and the tracing layer flushes.
 * Returns the exported spans.
 */
const traced = (
  github: ReadonlyArray<ScriptedResponse>,
  scenario: (run: {
    readonly pods: Queue.Queue<string>
    readonly deployments: Queue.Queue<string>
    readonly objects: Map<string, unknown>
    readonly requests: ReadonlyArray<{ readonly body: unknown }>
    readonly metrics: Context.Context<Metrics>
  }) => Effect.Effect<void, Error>,
  overrides: Parameters<typeof startController>[2] = {},
  listed: ReadonlyArray<unknown> = [pending("web-1-a", "10")]
) =>
  Effect.gen(function*() {
    const tracing = inMemoryTracing()
    const pods = yield* liveWatch
    const deployments = yield* liveWatch
    const objects = ownerObjects()
    yield* Effect.gen(function*() {
      const { context, github: gh, scope } = yield* startController({
        lists: [{ items: [...listed], rv: "10" }],
        watches: [pods.stream],
        objects,
        collections: new Map([[DEPLOYMENTS, { lists: [{ items: [metaJson("web", "uid-web")], rv: "10" }], watches: [deployments.stream] }]])
      }, github, overrides)
      yield* scenario({ pods: pods.lines, deployments: deployments.lines, objects, requests: gh.requests, metrics: context })
      yield* Scope.close(scope, Exit.void)
    }).pipe(Effect.provide(tracing.layer))
    return tracing.spans()
  })

const metricSeen = (context: Context.Context<Metrics>, line: string) =>
  eventually(Effect.gen(function*() {
    const text = yield* (yield* Metrics.pipe(Effect.provide(context))).render
    yield* expectTrue(text.includes(line), line)
  }))

const requestsSeen = (requests: ReadonlyArray<unknown>, count: number) =>
  eventually(Effect.suspend(() => expectTrue(requests.length === count, `${count} requests to GitHub`)))

const idOf = (span: ReadableSpan) => span.spanContext().spanId
const traceIdOf = (span: ReadableSpan) => span.spanContext().traceId

/** The spans of one trace, by name, in start order. */
const traceOf = (spans: ReadonlyArray<ReadableSpan>, receipt: ReadableSpan) => {
  const members = spans
    .filter((s) => traceIdOf(s) === traceIdOf(receipt))
    .sort((a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1])
  const named = (name: string) => members.filter((s) => s.name === name)
  const one = (name: string) => {
    const found = named(name)
    if (found.length !== 1) throw new Error(`expected one ${name} in the trace, found ${found.length}`)
    return found[0]!
  }
  return { members, named, one }
}

const receipts = (spans: ReadonlyArray<ReadableSpan>) => spans.filter((s) => s.name === SpanName.watchReceipt)

/** Every attribute value of every span, as text, must be free of the token. */
const expectNoToken = (spans: ReadonlyArray<ReadableSpan>) => {
  expect(spans.length).toBeGreaterThan(0)
  for (const span of spans) {
    const text = JSON.stringify([span.name, span.attributes, span.events, span.status, span.resource.attributes])
    expect(text).not.toContain(TEST_TOKEN)
    expect(text.toLowerCase()).not.toContain("authorization")
  }
}

describe("the controller traces each event", () => {
  it.scopedLive("a pod turning Running: receipt -> queue wait, processing -> record build, post -> each HTTP attempt", () =>
    Effect.gen(function*() {
      // The first attempt gets a 500 and is retried: two attempt spans.
      const spans = yield* traced([{ status: 500, body: { message: "boom" } }], ({ metrics, pods, requests }) =>
        Effect.gen(function*() {
          yield* Queue.offer(pods, watchLine("MODIFIED", running("web-1-a", "11")))
          yield* requestsSeen(requests, 2)
          yield* metricSeen(metrics, 'deptracker_events_processed_ok{event_type="CREATED"} 1')
        }))

      expect(receipts(spans)).toHaveLength(1)
      const receipt = receipts(spans)[0]!
      const trace = traceOf(spans, receipt)
      const queueWait = trace.one(SpanName.queueWait)
      const processing = trace.one(SpanName.processEvent)
      const build = trace.one(SpanName.recordBuild)
      const post = trace.one(SpanName.postRecord)
      const attempts = trace.named(SpanName.postAttempt)

      // The whole event is one trace rooted at its receipt.
      expect(parentOf(receipt)).toBeUndefined()
      expect(receipt.kind).toBe(SpanKind.CONSUMER)
      expect(parentOf(queueWait)).toBe(idOf(receipt))
      expect(parentOf(processing)).toBe(idOf(receipt))
      expect(parentOf(build)).toBe(idOf(processing))
      expect(parentOf(post)).toBe(idOf(processing))
      expect(attempts).toHaveLength(2)
      for (const attempt of attempts) expect(parentOf(attempt)).toBe(idOf(post))
      // In order: the wait ends before processing starts; the build before the post.
      const nanos = (t: readonly [number, number]) => BigInt(t[0]) * 1_000_000_000n + BigInt(t[1])
      expect(nanos(queueWait.endTime)).toBeLessThanOrEqual(nanos(processing.startTime))
      expect(nanos(build.endTime)).toBeLessThanOrEqual(nanos(post.startTime))

      const aboutPod = { [SpanAttribute.eventType]: "CREATED", [SpanAttribute.namespace]: "default", [SpanAttribute.pod]: "web-1-a" }
      expect(receipt.attributes).toEqual(aboutPod)
      expect(queueWait.attributes).toEqual({ [SpanAttribute.requeueCount]: 0 })
      expect(processing.attributes).toEqual({ ...aboutPod, [SpanAttribute.outcome]: "done" })
      expect(build.attributes).toEqual({ [SpanAttribute.workload]: "Deployment/web", [SpanAttribute.recordCount]: 1 })
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

  it.scopedLive("a Deployment's deletion (WORKLOAD_DELETED) is a trace of its own, with its decommission", () =>
    Effect.gen(function*() {
      const spans = yield* traced([], ({ deployments, metrics, objects, pods, requests }) =>
        Effect.gen(function*() {
          yield* Queue.offer(pods, watchLine("MODIFIED", running("web-1-a", "11")))
          yield* requestsSeen(requests, 1)
          objects.clear()
          yield* Queue.offer(deployments, watchLine("DELETED", metaJson("web", "uid-web", { rv: "12" })))
          yield* requestsSeen(requests, 2)
          yield* metricSeen(metrics, 'deptracker_events_processed_ok{event_type="WORKLOAD_DELETED"} 1')
          expect(posted(requests)).toEqual(["deployed default/web/app aaa", "decommissioned default/web/app aaa"])
        }))

      expect(receipts(spans).map((r) => r.attributes[SpanAttribute.eventType])).toEqual(["CREATED", "WORKLOAD_DELETED"])
      const receipt = receipts(spans)[1]!
      const trace = traceOf(spans, receipt)
      const aboutWorkload = {
        [SpanAttribute.eventType]: "WORKLOAD_DELETED",
        [SpanAttribute.namespace]: "default",
        [SpanAttribute.workload]: "Deployment/web"
      }
      expect(receipt.attributes).toEqual(aboutWorkload)
      expect(trace.members.map((s) => s.name)).toEqual([
        SpanName.watchReceipt,
        SpanName.queueWait,
        SpanName.processEvent,
        SpanName.recordBuild,
        SpanName.postRecord,
        SpanName.postAttempt
      ])
      expect(trace.one(SpanName.processEvent).attributes).toEqual({ ...aboutWorkload, [SpanAttribute.outcome]: "done" })
      expect(trace.one(SpanName.recordBuild).attributes[SpanAttribute.recordCount]).toBe(1)
      expect(trace.one(SpanName.postRecord).attributes).toMatchObject({
        [SpanAttribute.deploymentName]: "default/web/app",
        [SpanAttribute.recordStatus]: "decommissioned"
      })
      expect(trace.one(SpanName.postAttempt).attributes[SpanAttribute.httpStatus]).toBe(200)
      // The pod's trace is a different one.
      expect(traceIdOf(receipts(spans)[0]!)).not.toBe(traceIdOf(receipt))
      expectNoToken(spans)
    }))

  it.scopedLive("an event handed back to the work queue waits again in the same trace", () =>
    Effect.gen(function*() {
      // Four 500s exhaust the record's retries: the event goes back to the queue, then succeeds.
      const spans = yield* traced(Array.from({ length: 4 }, () => ({ status: 500 })), ({ metrics, pods, requests }) =>
        Effect.gen(function*() {
          yield* Queue.offer(pods, watchLine("MODIFIED", running("web-1-a", "11")))
          yield* requestsSeen(requests, 5)
          yield* metricSeen(metrics, 'deptracker_events_processed_ok{event_type="CREATED"} 1')
        }))

      expect(receipts(spans)).toHaveLength(1)
      const trace = traceOf(spans, receipts(spans)[0]!)
      expect(trace.named(SpanName.queueWait).map((s) => s.attributes[SpanAttribute.requeueCount])).toEqual([0, 1])
      expect(trace.named(SpanName.processEvent).map((s) => s.attributes[SpanAttribute.outcome])).toEqual(["retry", "done"])
      expect(trace.named(SpanName.postAttempt).map((s) => s.attributes[SpanAttribute.httpStatus])).toEqual([500, 500, 500, 500, 200])
      expect(trace.named(SpanName.postAttempt).map((s) => s.attributes[SpanAttribute.retryCount])).toEqual([0, 1, 2, 3, 0])
      for (const wait of trace.named(SpanName.queueWait)) expect(parentOf(wait)).toBe(idOf(receipts(spans)[0]!))
    }))

  it.scopedLive("a defect while handling an event puts it back: it is retried, in the same trace", () =>
    Effect.gen(function*() {
      const spans = yield* traced([], ({ metrics, objects, pods, requests }) =>
        Effect.gen(function*() {
          // The ReplicaSet's first read throws (a bug, not an API error); later reads work.
          const replicaSet = objects.get(replicaSetPath) as { readonly metadata: unknown }
          let throwsLeft = 1
          objects.set(replicaSetPath, {
            ...replicaSet,
            get metadata() {
              if (throwsLeft-- > 0) throw new Error("a bug in the owner chain")
              return replicaSet.metadata
            }
          })
          yield* Queue.offer(pods, watchLine("MODIFIED", running("web-1-a", "11")))
          yield* requestsSeen(requests, 1)
          yield* metricSeen(metrics, 'deptracker_events_processed_ok{event_type="CREATED"} 1')
          expect(throwsLeft).toBeLessThan(0)
        }))

      expect(receipts(spans)).toHaveLength(1)
      const trace = traceOf(spans, receipts(spans)[0]!)
      expect(trace.named(SpanName.queueWait).map((s) => s.attributes[SpanAttribute.requeueCount])).toEqual([0, 1])
      expect(trace.named(SpanName.processEvent).map((s) => s.status.code)).toEqual([SpanStatusCode.ERROR, SpanStatusCode.OK])
      expect(trace.one(SpanName.postAttempt).attributes[SpanAttribute.httpStatus]).toBe(200)
    }))

  it.scopedLive("an event a newer one of its pod replaces ends its trace as coalesced", () =>
    Effect.gen(function*() {
      // Three 500s, then a request that never answers (times out): the
      // event fails while the pod goes Pending and Running again.
      const spans = yield* traced(
        [{ status: 500 }, { status: 500 }, { status: 500 }, { status: 0, hang: true }],
        ({ metrics, pods, requests }) =>
          Effect.gen(function*() {
            yield* Queue.offer(pods, watchLine("MODIFIED", running("web-1-a", "11")))
            yield* requestsSeen(requests, 4)
            // The first event is still being handled: the new one waits behind it.
            yield* Queue.offerAll(pods, [
              watchLine("MODIFIED", pending("web-1-a", "12")),
              watchLine("MODIFIED", running("web-1-a", "13"))
            ])
            yield* requestsSeen(requests, 5)
            yield* metricSeen(metrics, 'deptracker_events_processed_ok{event_type="CREATED"} 1')
          }),
        { apiRequestTimeout: Duration.seconds(2) }
      )

      const [first, second] = receipts(spans)
      expect(receipts(spans)).toHaveLength(2)
      const replaced = traceOf(spans, first!)
      // Handled once and failed; its wait to be retried ended when the newer event replaced it.
      expect(replaced.named(SpanName.processEvent).map((s) => s.attributes[SpanAttribute.outcome])).toEqual(["retry"])
      expect(replaced.named(SpanName.queueWait).map((s) => s.attributes)).toEqual([
        { [SpanAttribute.requeueCount]: 0 },
        { [SpanAttribute.requeueCount]: 1, [SpanAttribute.outcome]: "coalesced" }
      ])
      const newer = traceOf(spans, second!)
      expect(newer.named(SpanName.processEvent).map((s) => s.attributes[SpanAttribute.outcome])).toEqual(["done"])
      expect(newer.one(SpanName.postAttempt).attributes[SpanAttribute.httpStatus]).toBe(200)
    }))

  it.scopedLive("an event still queued at shutdown ends its trace there, and the trace is exported", () =>
    Effect.gen(function*() {
      // Both pods run at start, so both events are queued before the one
      // worker starts; it gets stuck on web-1-a's request, and web-1-b's
      // event never gets a worker.
      const spans = yield* traced(
        [{ status: 0, hang: true }],
        ({ requests }) => requestsSeen(requests, 1),
        { workers: 1, shutdownDrainTimeout: Duration.millis(200) },
        [running("web-1-a", "10"), running("web-1-b", "10")]
      )

      const queued = receipts(spans).find((r) => r.attributes[SpanAttribute.pod] === "web-1-b")
      expect(queued).toBeDefined()
      const trace = traceOf(spans, queued!)
      expect(trace.members.map((s) => s.name)).toEqual([SpanName.watchReceipt, SpanName.queueWait])
      expect(trace.one(SpanName.queueWait).attributes[SpanAttribute.outcome]).toBe("shutdown")
    }))
})

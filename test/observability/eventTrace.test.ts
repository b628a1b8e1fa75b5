import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import { SpanKind } from "@opentelemetry/api"
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base"
import { Effect, Fiber, Layer, TestClock } from "effect"
import { DeploymentRecordClient } from "../../src/github/DeploymentRecordClient.ts"
import { GitHubAuthLive } from "../../src/github/GitHubAuth.ts"
import { RateLimitGate } from "../../src/github/RateLimitGate.ts"
import {
  continueTrace,
  SpanAttribute,
  SpanName,
  traceAbandoned,
  traceReceipt,
  traceRequeue,
  withRecordBuildSpan
} from "../../src/observability/eventTrace.ts"
import { Metrics } from "../../src/observability/Metrics.ts"
import type { DeploymentRecord } from "../../src/record/DeploymentRecord.ts"
import { fakeGitHub } from "../support/fakeGitHub.ts"
import { testConfigLayer } from "../support/testConfig.ts"
import { inMemoryTracing, parentOf, spanNamed } from "./inMemoryTracing.ts"

/** The receipt's trace, which an exporting tracer must give. */
const tracedReceipt = (traced: Parameters<typeof traceReceipt>[0]) =>
  traceReceipt(traced).pipe(
    Effect.flatMap((trace) => trace === undefined ? Effect.dieMessage("no trace under an exporting tracer") : Effect.succeed(trace))
  )

const event = { type: "CREATED", pod: { namespace: "shop", name: "web-7d9f-abcde" } }

const record: DeploymentRecord = {
  name: "ghcr.io/octo-org/web",
  digest: `sha256:${"c".repeat(64)}`,
  version: "2.0.0",
  status: "deployed",
  logical_environment: "test",
  physical_environment: "lab",
  cluster: "test-cluster",
  deployment_name: "shop/web/web"
}

const clientLayer = (baseUrl: string) =>
  DeploymentRecordClient.Default.pipe(
    Layer.provide(Layer.mergeAll(Metrics.Default, RateLimitGate.Default, GitHubAuthLive, NodeHttpClient.layerUndici)),
    Layer.provide(testConfigLayer({ baseUrl }))
  )

/** What a worker does with an event, shaped like the controller's: a processing span, the build, the posts. */
const processEvent = Effect.gen(function*() {
  const client = yield* DeploymentRecordClient
  const records = yield* withRecordBuildSpan(
    Effect.succeed([record]).pipe(Effect.tap((rs) => Effect.annotateCurrentSpan(SpanAttribute.recordCount, rs.length)))
  )
  yield* Effect.forEach(records, (r) => client.post(r), { discard: true })
}).pipe(Effect.withSpan("controller.processEvent", { captureStackTrace: false }))

const millis = (span: ReadableSpan) => span.duration[0] * 1000 + span.duration[1] / 1e6
const startMillis = (span: ReadableSpan) => span.startTime[0] * 1000 + span.startTime[1] / 1e6
const idOf = (span: ReadableSpan) => span.spanContext().spanId

describe("eventTrace", () => {
  it.scoped("one trace per event: receipt -> queue wait, and processing -> record build -> post -> HTTP attempt", () =>
    Effect.gen(function*() {
      const github = yield* fakeGitHub([])
      const tracing = inMemoryTracing()
      yield* Effect.gen(function*() {
        // The watch fiber is inside a span of its own; the event's trace must not hang under it.
        const trace = yield* tracedReceipt(event).pipe(Effect.withSpan("watch", { captureStackTrace: false }))
        yield* TestClock.adjust("250 millis")
        // A worker: another fiber, later.
        const worker = yield* Effect.fork(processEvent.pipe(continueTrace(trace)))
        yield* Fiber.join(worker)
      }).pipe(Effect.provide(clientLayer(github.url)), Effect.provide(tracing.layer))
      expect(github.requests).toHaveLength(1)

      const spans = tracing.spans()
      const watch = spanNamed(spans, "watch")
      const receipt = spanNamed(spans, SpanName.watchReceipt)
      const queueWait = spanNamed(spans, SpanName.queueWait)
      const processing = spanNamed(spans, "controller.processEvent")
      const build = spanNamed(spans, SpanName.recordBuild)
      const post = spanNamed(spans, SpanName.postRecord)
      const attempt = spanNamed(spans, SpanName.postAttempt)

      // One trace, rooted at the receipt, apart from the watch's own.
      const traceId = receipt.spanContext().traceId
      for (const span of [queueWait, processing, build, post, attempt]) expect(span.spanContext().traceId).toBe(traceId)
      expect(watch.spanContext().traceId).not.toBe(traceId)
      expect(parentOf(receipt)).toBeUndefined()

      // Parentage.
      expect(parentOf(queueWait)).toBe(idOf(receipt))
      expect(parentOf(processing)).toBe(idOf(receipt))
      expect(parentOf(build)).toBe(idOf(processing))
      expect(parentOf(post)).toBe(idOf(processing))
      expect(parentOf(attempt)).toBe(idOf(post))

      // Timing: the receipt is a moment; the queue wait runs from it to the worker's start.
      expect(millis(receipt)).toBe(0)
      expect(startMillis(queueWait)).toBe(startMillis(receipt))
      expect(millis(queueWait)).toBe(250)
      expect(startMillis(processing)).toBe(startMillis(receipt) + 250)

      // Attributes.
      expect(receipt.kind).toBe(SpanKind.CONSUMER)
      expect(receipt.attributes).toMatchObject({
        [SpanAttribute.eventType]: "CREATED",
        [SpanAttribute.namespace]: "shop",
        [SpanAttribute.pod]: "web-7d9f-abcde"
      })
      expect(queueWait.attributes[SpanAttribute.requeueCount]).toBe(0)
      expect(build.attributes[SpanAttribute.recordCount]).toBe(1)
      expect(post.attributes[SpanAttribute.deploymentName]).toBe("shop/web/web")
      expect(attempt.attributes).toMatchObject({
        [SpanAttribute.deploymentName]: "shop/web/web",
        [SpanAttribute.httpStatus]: 200,
        [SpanAttribute.retryCount]: 0,
        [SpanAttribute.outcome]: "ok"
      })
    }))

  it.scoped("a workload event's receipt names the workload (kind/name) instead of a pod", () =>
    Effect.gen(function*() {
      const tracing = inMemoryTracing()
      yield* tracedReceipt({
        type: "WORKLOAD_DELETED",
        workload: { kind: "Deployment", namespace: "shop", name: "web" }
      }).pipe(Effect.flatMap((trace) => traceAbandoned(trace, "shutdown")), Effect.provide(tracing.layer))

      const receipt = spanNamed(tracing.spans(), SpanName.watchReceipt)
      expect(receipt.attributes).toEqual({
        [SpanAttribute.eventType]: "WORKLOAD_DELETED",
        [SpanAttribute.namespace]: "shop",
        [SpanAttribute.workload]: "Deployment/web"
      })
    }))

  it.scoped("a requeued event gets a second queue wait in the same trace, counted, from the requeue on", () =>
    Effect.gen(function*() {
      const tracing = inMemoryTracing()
      yield* Effect.gen(function*() {
        const first = yield* tracedReceipt(event)
        yield* TestClock.adjust("100 millis")
        yield* Effect.void.pipe(Effect.withSpan("attempt-1"), continueTrace(first))
        yield* TestClock.adjust("50 millis")
        const second = yield* traceRequeue(first)
        yield* TestClock.adjust("1 second")
        yield* Effect.void.pipe(Effect.withSpan("attempt-2"), continueTrace(second))
      }).pipe(Effect.provide(tracing.layer))

      const spans = tracing.spans()
      const receipt = spanNamed(spans, SpanName.watchReceipt)
      const waits = spans.filter((s) => s.name === SpanName.queueWait)
      expect(waits.map((s) => s.attributes[SpanAttribute.requeueCount])).toEqual([0, 1])
      expect(waits.map(millis)).toEqual([100, 1000])
      expect(startMillis(waits[1]!) - startMillis(receipt)).toBe(150)
      for (const span of [...waits, spanNamed(spans, "attempt-1"), spanNamed(spans, "attempt-2")]) {
        expect(parentOf(span)).toBe(idOf(receipt))
        expect(span.spanContext().traceId).toBe(receipt.spanContext().traceId)
      }
    }))

  it.scoped("an event replaced by a newer one ends its queue wait with that outcome", () =>
    Effect.gen(function*() {
      const tracing = inMemoryTracing()
      yield* Effect.gen(function*() {
        const trace = yield* tracedReceipt(event)
        yield* TestClock.adjust("30 millis")
        yield* traceAbandoned(trace, "coalesced")
      }).pipe(Effect.provide(tracing.layer))

      const spans = tracing.spans()
      expect(spans.map((s) => s.name).sort()).toEqual([SpanName.queueWait, SpanName.watchReceipt])
      const queueWait = spanNamed(spans, SpanName.queueWait)
      expect(queueWait.attributes[SpanAttribute.outcome]).toBe("coalesced")
      expect(millis(queueWait)).toBe(30)
    }))

  it.effect("without an exporting tracer no trace is kept at all (nothing would be exported)", () =>
    Effect.gen(function*() {
      expect(yield* traceReceipt(event)).toBeUndefined()
    }))
})

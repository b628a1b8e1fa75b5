import { describe, expect, it } from "@effect/vitest"
import { SpanKind } from "@opentelemetry/api"
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base"
import { Effect, Fiber, Layer, TestClock } from "effect"
import { DeploymentRecordClient } from "../../src/github/DeploymentRecordClient.ts"
import {
  continueTrace,
  SpanAttribute,
  SpanName,
  traceAbandoned,
  traceReceipt,
  traceRequeue,
  withRecordBuildSpan
} from "../../src/observability/eventTrace.ts"
import type { DeploymentRecord } from "../../src/record/DeploymentRecord.ts"
import { fakeGitHub } from "../support/fakeGitHub.ts"
import { gitHubLayer } from "../support/gitHubLayer.ts"
import { testConfigLayer } from "../support/testConfig.ts"
import { inMemoryTracing, parentOf, spanNamed } from "./inMemoryTracing.ts"

/** The receipt's trace, which an exporting tracer must give. */
const tracedReceipt = (traced: Parameters<typeof traceReceipt>[0]) =>
  traceReceipt(traced).pipe(
    Effect.flatMap((trace) => trace === undefined ? Effect.dieMessage("no trace under an exporting tracer") : Effect.succeed(trace))
  )

/** A workload key queued by a pod becoming Running. */
const traced = { key: "shop/web", trigger: "CREATED" }

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
    Layer.provide(gitHubLayer()),
    Layer.provide(testConfigLayer({ baseUrl }))
  )

/** What a worker does with a key, shaped like the controller's: a reconcile span, the build, the posts. */
const reconcile = Effect.gen(function*() {
  const client = yield* DeploymentRecordClient
  const records = yield* withRecordBuildSpan(
    Effect.succeed([record]).pipe(Effect.tap((rs) => Effect.annotateCurrentSpan(SpanAttribute.recordCount, rs.length)))
  )
  yield* Effect.forEach(records, (r) => client.post(r), { discard: true })
}).pipe(Effect.withSpan(SpanName.reconcile, { attributes: { [SpanAttribute.workload]: "shop/web" }, captureStackTrace: false }))

const millis = (span: ReadableSpan) => span.duration[0] * 1000 + span.duration[1] / 1e6
const startMillis = (span: ReadableSpan) => span.startTime[0] * 1000 + span.startTime[1] / 1e6
const idOf = (span: ReadableSpan) => span.spanContext().spanId

describe("eventTrace: one trace per reconcile of a workload key", () => {
  it.scoped("receipt -> queue wait, and reconcile -> record build -> post -> HTTP attempt, all in the key's trace", () =>
    Effect.gen(function*() {
      const github = yield* fakeGitHub([])
      const tracing = inMemoryTracing()
      yield* Effect.gen(function*() {
        // The watch fiber is inside a span of its own; the key's trace must not hang under it.
        const trace = yield* tracedReceipt(traced).pipe(Effect.withSpan("watch", { captureStackTrace: false }))
        yield* TestClock.adjust("250 millis")
        // A worker: another fiber, later.
        const worker = yield* Effect.fork(reconcile.pipe(continueTrace(trace)))
        yield* Fiber.join(worker)
      }).pipe(Effect.provide(clientLayer(github.url)), Effect.provide(tracing.layer))
      expect(github.requests).toHaveLength(1)

      const spans = tracing.spans()
      const watch = spanNamed(spans, "watch")
      const receipt = spanNamed(spans, SpanName.watchReceipt)
      const queueWait = spanNamed(spans, SpanName.queueWait)
      const reconciling = spanNamed(spans, SpanName.reconcile)
      const build = spanNamed(spans, SpanName.recordBuild)
      const post = spanNamed(spans, SpanName.postRecord)
      const attempt = spanNamed(spans, SpanName.postAttempt)

      // One trace, rooted at the receipt, apart from the watch's own.
      const traceId = receipt.spanContext().traceId
      for (const span of [queueWait, reconciling, build, post, attempt]) expect(span.spanContext().traceId).toBe(traceId)
      expect(watch.spanContext().traceId).not.toBe(traceId)
      expect(parentOf(receipt)).toBeUndefined()

      // Parentage.
      expect(parentOf(queueWait)).toBe(idOf(receipt))
      expect(parentOf(reconciling)).toBe(idOf(receipt))
      expect(parentOf(build)).toBe(idOf(reconciling))
      expect(parentOf(post)).toBe(idOf(reconciling))
      expect(parentOf(attempt)).toBe(idOf(post))

      // Timing: the receipt is a moment; the queue wait runs from it to the worker's start.
      expect(millis(receipt)).toBe(0)
      expect(startMillis(queueWait)).toBe(startMillis(receipt))
      expect(millis(queueWait)).toBe(250)
      expect(startMillis(reconciling)).toBe(startMillis(receipt) + 250)

      // Attributes: the key and the trigger that first queued it.
      expect(receipt.kind).toBe(SpanKind.CONSUMER)
      expect(receipt.attributes).toEqual({ [SpanAttribute.workload]: "shop/web", [SpanAttribute.eventType]: "CREATED" })
      expect(queueWait.attributes).toEqual({ [SpanAttribute.requeueCount]: 0 })
      expect(build.attributes[SpanAttribute.recordCount]).toBe(1)
      expect(post.attributes[SpanAttribute.deploymentName]).toBe("shop/web/web")
      expect(attempt.attributes).toMatchObject({
        [SpanAttribute.deploymentName]: "shop/web/web",
        [SpanAttribute.httpStatus]: 200,
        [SpanAttribute.retryCount]: 0,
        [SpanAttribute.outcome]: "ok"
      })
    }))

  it.scoped("a receipt names the key and the trigger that first queued it, whatever that trigger is", () =>
    Effect.gen(function*() {
      const tracing = inMemoryTracing()
      yield* Effect.forEach(
        [{ key: "shop/web", trigger: "WORKLOAD_DELETED" }, { key: "batch/nightly", trigger: "RESYNC" }],
        (key) => tracedReceipt(key).pipe(Effect.flatMap((trace) => traceAbandoned(trace, "shutdown"))),
        { discard: true }
      ).pipe(Effect.provide(tracing.layer))

      const receipts = tracing.spans().filter((s) => s.name === SpanName.watchReceipt)
      expect(receipts.map((r) => r.attributes)).toEqual([
        { [SpanAttribute.workload]: "shop/web", [SpanAttribute.eventType]: "WORKLOAD_DELETED" },
        { [SpanAttribute.workload]: "batch/nightly", [SpanAttribute.eventType]: "RESYNC" }
      ])
      // Two keys, two traces.
      expect(new Set(receipts.map((r) => r.spanContext().traceId)).size).toBe(2)
    }))

  it.scoped("a requeued key gets a second queue wait in the same trace, counted, from the requeue on", () =>
    Effect.gen(function*() {
      const tracing = inMemoryTracing()
      yield* Effect.gen(function*() {
        const first = yield* tracedReceipt(traced)
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

  for (const outcome of ["coalesced", "shutdown"]) {
    it.scoped(`a trace whose key will not be reconciled under it (${outcome}) ends its queue wait with that outcome`, () =>
      Effect.gen(function*() {
        const tracing = inMemoryTracing()
        yield* Effect.gen(function*() {
          const trace = yield* tracedReceipt(traced)
          yield* TestClock.adjust("30 millis")
          yield* traceAbandoned(trace, outcome)
        }).pipe(Effect.provide(tracing.layer))

        const spans = tracing.spans()
        expect(spans.map((s) => s.name).sort()).toEqual([SpanName.queueWait, SpanName.watchReceipt])
        const queueWait = spanNamed(spans, SpanName.queueWait)
        expect(queueWait.attributes[SpanAttribute.outcome]).toBe(outcome)
        expect(millis(queueWait)).toBe(30)
      }))
  }

  it.effect("without an exporting tracer no trace is kept at all (nothing would be exported)", () =>
    Effect.gen(function*() {
      expect(yield* traceReceipt(traced)).toBeUndefined()
    }))
})

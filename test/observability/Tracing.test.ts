import { createServer, type IncomingHttpHeaders } from "node:http"
import type { AddressInfo } from "node:net"
import { describe, expect, it } from "@effect/vitest"
import { SpanKind } from "@opentelemetry/api"
import { Effect, Exit, Layer, Option, Redacted } from "effect"
import { startGitHubSimulator } from "../../scripts/github-sim/simulator.ts"
import type { TracingSettings } from "../../src/config/Config.ts"
import { DeploymentRecordClient } from "../../src/github/DeploymentRecordClient.ts"
import { SpanAttribute, SpanName } from "../../src/observability/eventTrace.ts"
import { EventTracing } from "../../src/observability/eventTrace.ts"
import { exportingTracerLayer, orTracingOff, TracingLive, TracingSetupError } from "../../src/observability/Tracing.ts"
import type { DeploymentRecord } from "../../src/record/DeploymentRecord.ts"
import { VERSION } from "../../src/version.ts"
import { gitHubLayer } from "../support/gitHubLayer.ts"
import { TEST_TOKEN, testConfigLayer } from "../support/testConfig.ts"
import { testDigest, testRecord } from "../support/testRecord.ts"
import { captureLogs, inMemoryTracing, parentOf, spanNamed, TEST_SERVICE } from "./inMemoryTracing.ts"

const record: DeploymentRecord = testRecord({ digest: testDigest("b") })

const simulator = Effect.acquireRelease(
  Effect.promise(() => startGitHubSimulator({ tokens: [TEST_TOKEN] })),
  (sim) => Effect.promise(() => sim.close())
)

const clientLayer = (baseUrl: string) =>
  DeploymentRecordClient.Default.pipe(
    Layer.provideMerge(gitHubLayer()),
    Layer.provide(testConfigLayer({ baseUrl }))
  )

const post = Effect.flatMap(DeploymentRecordClient, (client) => client.post(record))

interface CollectorRequest {
  readonly path: string
  readonly headers: IncomingHttpHeaders
  readonly body: string
}

/** A stand-in OTLP/HTTP collector answering every export with `status` (and `statusMessage`). */
const collector = (status: number, statusMessage: (req: CollectorRequest) => string = () => "OK") =>
  Effect.acquireRelease(
    Effect.async<{ url: string; requests: Array<CollectorRequest>; close: () => Promise<void> }>((resume) => {
      const requests: Array<CollectorRequest> = []
      const server = createServer((req, res) => {
        const chunks: Array<Buffer> = []
        req.on("data", (c: Buffer) => chunks.push(c))
        req.on("end", () => {
          const received = { path: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks).toString("utf8") }
          requests.push(received)
          res.writeHead(status, statusMessage(received), { "content-type": "application/json" })
          res.end("{}")
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        resume(Effect.succeed({
          url: `http://127.0.0.1:${port}/v1/traces`,
          requests,
          close: () =>
            new Promise<void>((done) => {
              server.close(() => done())
              server.closeAllConnections()
            })
        }))
      })
    }),
    (c) => Effect.promise(() => c.close())
  )

const settings = (tracesUrl: string, headers: Record<string, string>): Option.Option<TracingSettings> =>
  Option.some({ tracesUrl, headers: Redacted.make(headers), serviceName: TEST_SERVICE })

describe("Tracing: HTTP attempts of the real client against the GitHub simulator", () => {
  it.live("a retried post (502, then 200) is one record span with two attempt spans: statuses, retry counts, no token", () =>
    Effect.gen(function*() {
      const sim = yield* simulator
      sim.setFaults({ kind: "status", status: 502, route: "create-record", count: 1 })
      const tracing = inMemoryTracing()

      const exit = yield* Effect.exit(post.pipe(Effect.provide(clientLayer(sim.url)), Effect.provide(tracing.layer)))
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(sim.requests().map((r) => r.status)).toEqual([502, 200])
      expect(sim.violations()).toEqual([])

      // Read after the layer was released: the batch was flushed at shutdown.
      const spans = tracing.spans()
      const recordSpan = spanNamed(spans, SpanName.postRecord)
      const attempts = spans.filter((s) => s.name === SpanName.postAttempt)
      expect(attempts.map((s) => s.attributes[SpanAttribute.httpStatus])).toEqual([502, 200])
      expect(attempts.map((s) => s.attributes[SpanAttribute.retryCount])).toEqual([0, 1])
      expect(attempts.map((s) => s.attributes[SpanAttribute.outcome])).toEqual(["soft_failure", "ok"])
      for (const attempt of attempts) {
        expect(attempt.attributes[SpanAttribute.deploymentName]).toBe(record.deployment_name)
        expect(attempt.attributes[SpanAttribute.httpMethod]).toBe("POST")
        expect(attempt.kind).toBe(SpanKind.CLIENT)
        expect(parentOf(attempt)).toBe(recordSpan.spanContext().spanId)
        expect(attempt.spanContext().traceId).toBe(recordSpan.spanContext().traceId)
      }
      expect(recordSpan.attributes[SpanAttribute.attempts]).toBe(2)
      expect(recordSpan.resource.attributes["service.name"]).toBe(TEST_SERVICE)
      expect(recordSpan.resource.attributes["service.version"]).toBe(VERSION)

      // No token anywhere a span can carry text.
      const everything = JSON.stringify(spans.map((s) => ({
        name: s.name,
        attributes: s.attributes,
        events: s.events,
        status: s.status,
        links: s.links
      })))
      expect(everything).toContain(record.deployment_name)
      expect(everything).not.toContain(TEST_TOKEN)
      expect(everything.toLowerCase()).not.toContain("bearer")
      expect(everything.toLowerCase()).not.toContain("authorization")
    }).pipe(Effect.scoped))
})

describe("TracingLive", () => {
  it.effect("tracing off: no tracer is installed, spans stay Effect's own and nothing loads", () =>
    Effect.gen(function*() {
      const builtIn = yield* Effect.tracer
      const off = yield* Effect.gen(function*() {
        const tracer = yield* Effect.tracer
        const span = yield* Effect.currentSpan.pipe(Effect.withSpan("probe"))
        return { tracer, span }
      }).pipe(Effect.provide(TracingLive(Option.none())))
      expect(off.tracer).toBe(builtIn)
      // @effect/opentelemetry's spans carry the SDK span; Effect's own do not.
      expect("span" in off.span).toBe(false)

      // The same probe with a tracer on shows what the check above would see.
      const on = yield* Effect.tracer.pipe(Effect.provide(inMemoryTracing().layer))
      expect(on).not.toBe(builtIn)
    }))

  it.effect("per-event traces are kept only when an exporting tracer is installed", () =>
    Effect.gen(function*() {
      expect(yield* EventTracing).toBe(false)
      expect(yield* EventTracing.pipe(Effect.provide(TracingLive(Option.none())))).toBe(false)
      expect(yield* EventTracing.pipe(Effect.provide(inMemoryTracing().layer))).toBe(true)
    }))

  it.live("tracing on: spans reach the OTLP/HTTP collector with the headers, service name and version", () =>
    Effect.gen(function*() {
      const otlp = yield* collector(200)
      yield* Effect.void.pipe(
        Effect.withSpan("probe", { attributes: { deployment_name: "ns/app/c" } }),
        Effect.provide(TracingLive(settings(otlp.url, { "x-api-key": "otel-key-123" })))
      )
      // The flush on release sent the span.
      expect(otlp.requests).toHaveLength(1)
      const [request] = otlp.requests
      expect(request?.path).toBe("/v1/traces")
      expect(request?.headers["x-api-key"]).toBe("otel-key-123")
      const body = JSON.parse(request!.body) as {
        resourceSpans: Array<{
          resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> }
          scopeSpans: Array<{ spans: Array<{ name: string }> }>
        }>
      }
      const resource = Object.fromEntries(
        body.resourceSpans[0]!.resource.attributes.map((a) => [a.key, a.value.stringValue])
      )
      expect(resource).toMatchObject({ "service.name": TEST_SERVICE, "service.version": VERSION })
      expect(body.resourceSpans[0]!.scopeSpans[0]!.spans.map((s) => s.name)).toEqual(["probe"])
    }).pipe(Effect.scoped))

  it.live("a collector refusing every export: one warning for the burst, no secret in it, the app carries on", () =>
    Effect.gen(function*() {
      const secret = "otel-key-456"
      // A collector that echoes the header back in its status line: the warning must still not show it.
      const otlp = yield* collector(400, (req) => `Bad key ${String(req.headers["x-api-key"])}`)
      const logs = captureLogs()
      const result = yield* Effect.forEach(
        Array.from({ length: 1200 }, (_, i) => i),
        (i) => Effect.succeed(i).pipe(Effect.withSpan("probe")),
        { discard: true }
      ).pipe(
        Effect.as("done"),
        Effect.provide(TracingLive(settings(otlp.url, { "x-api-key": secret }))),
        Effect.provide(logs.layer)
      )
      expect(result).toBe("done")
      // 1,200 spans are three batches of at most 512: several refused exports
      // (the last may still be on its way when shutdown is done waiting).
      expect(otlp.requests.length).toBeGreaterThanOrEqual(2)
      const warnings = logs.lines.filter((l) => l["level"] === "WARN")
      expect(warnings).toHaveLength(1)
      expect(warnings[0]).toMatchObject({ msg: "Exporting traces failed; spans are dropped until the collector accepts them" })
      expect(String(warnings[0]?.["reason"])).toContain("Bad key ***")
      expect(JSON.stringify(logs.lines)).not.toContain(secret)
    }).pipe(Effect.scoped))

  it.effect("a tracer that cannot be set up: one warning, and the app runs untraced", () =>
    Effect.gen(function*() {
      const builtIn = yield* Effect.tracer
      const logs = captureLogs()
      const broken = exportingTracerLayer({
        serviceName: TEST_SERVICE,
        exporter: Effect.fail(new TracingSetupError({ reason: "loading the OTLP trace exporter failed: not installed" }))
      })
      const tracer = yield* Effect.tracer.pipe(Effect.provide(orTracingOff(broken)), Effect.provide(logs.layer))
      expect(tracer).toBe(builtIn)
      expect(logs.lines).toMatchObject([{ level: "WARN", msg: "Tracing is off: it could not be set up" }])
    }))

  it.live("a collector that is down does not hold up shutdown beyond the flush timeout", () =>
    Effect.gen(function*() {
      const otlp = yield* collector(200)
      const deadUrl = otlp.url
      yield* Effect.promise(() => otlp.close())
      const logs = captureLogs()
      const started = Date.now()
      const result = yield* Effect.void.pipe(
        Effect.withSpan("probe"),
        Effect.as("done"),
        Effect.provide(TracingLive(settings(deadUrl, {}))),
        Effect.provide(logs.layer)
      )
      expect(result).toBe("done")
      expect(Date.now() - started).toBeLessThan(5_000)
      expect(logs.lines.filter((l) => l["level"] === "ERROR")).toEqual([])
    }).pipe(Effect.scoped))
})

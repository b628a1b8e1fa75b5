import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Layer, Stream, TestClock } from "effect"
import { createServer } from "node:net"
import { freePorts } from "../../scripts/cluster/processes.ts"
import { Config } from "../../src/config/Config.ts"
import { HttpEndpointsLive } from "../../src/observability/HttpEndpoints.ts"
import { Liveness, type LivenessReport } from "../../src/observability/Liveness.ts"
import { Metrics } from "../../src/observability/Metrics.ts"
import { Readiness } from "../../src/observability/Readiness.ts"
import { livePodReflector } from "../support/livePodReflector.ts"
import { podJson } from "../support/fakeKube.ts"
import { testConfig } from "../support/testConfig.ts"
import { pushedWatch } from "./pushedWatch.ts"

const get = (port: number, path: string, method = "GET") =>
  Effect.promise(async () => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, { method })
    return { status: response.status, body: await response.text(), contentType: response.headers.get("content-type") }
  })

/** The real endpoints on a port (a free one unless given), with the services they read. */
const serveEndpoints = Effect.gen(function*() {
  const [port] = yield* Effect.promise(() => freePorts(1))
  return yield* serveOn(port!)
})

const serveOn = (port: number) => Effect.gen(function*() {
  const services = Layer.mergeAll(
    Layer.succeed(Config, testConfig({ metricsPort: port })),
    Metrics.Default,
    Readiness.Default,
    Liveness.layer({ watchStall: Duration.minutes(5), workStall: Duration.minutes(30) })
  )
  const context = yield* Layer.build(HttpEndpointsLive.pipe(Layer.provideMerge(services)))
  return { port, context }
})

describe("HttpEndpoints", () => {
  it.scoped("answers GET and HEAD on its three paths with their content types; anything else is 404", () =>
    Effect.gen(function*() {
      const { port } = yield* serveEndpoints
      const metrics = yield* get(port, "/metrics")
      expect(metrics).toMatchObject({ status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8" })
      expect(metrics.body).toContain("deptracker_post_record_ok 0")
      expect(yield* get(port, "/healthz")).toMatchObject({ status: 200, contentType: "application/json" })
      expect(yield* get(port, "/readyz?verbose")).toMatchObject({ status: 503, contentType: "text/plain", body: "caches not synced" })
      expect(yield* get(port, "/readyz", "HEAD")).toMatchObject({ status: 503, body: "" })
      expect(yield* get(port, "/")).toMatchObject({ status: 404, body: "" })
      expect(yield* get(port, "/metrics/x")).toMatchObject({ status: 404 })
      expect(yield* get(port, "/metrics", "POST")).toMatchObject({ status: 404 })
    }))

  it.scoped("a metrics port that is taken fails start-up with the port named", () =>
    Effect.gen(function*() {
      const taken = createServer()
      yield* Effect.acquireRelease(
        Effect.async<number>((resume) => void taken.listen(0, () => resume(Effect.succeed((taken.address() as { port: number }).port)))),
        () => Effect.sync(() => taken.close())
      ).pipe(
        Effect.flatMap((port) => Effect.either(serveOn(port))),
        Effect.map((result) => expect(Either.getLeft(result)).toMatchObject({ value: { _tag: "HttpEndpointsError", message: expect.stringContaining("EADDRINUSE") } }))
      )
    }))

  it.scoped("/readyz is 503 until the controller marks the caches synced", () =>
    Effect.gen(function*() {
      const { context, port } = yield* serveEndpoints
      expect(yield* get(port, "/readyz")).toMatchObject({ status: 503, body: "caches not synced" })
      yield* Effect.flatMap(Readiness, (r) => r.markSynced).pipe(Effect.provide(context))
      expect(yield* get(port, "/readyz")).toMatchObject({ status: 200, body: "ok" })
      expect((yield* get(port, "/metrics")).status).toBe(200)
    }))

  it.scoped("a pod watch that stalls turns /healthz from 200 to 503, with the reason as JSON", () =>
    Effect.gen(function*() {
      const { context, port } = yield* serveEndpoints
      const kube = yield* pushedWatch([podJson("a")])
      // The reflector's own idle timeout is longer than the liveness bound,
      // so nothing restarts the silent watch: it just stops delivering.
      const reflector = yield* livePodReflector.pipe(Effect.provide(Layer.merge(kube.layer, Layer.succeedContext(context))))
      yield* reflector.deltas.pipe(Stream.runDrain, Effect.forkScoped)
      yield* reflector.synced

      const healthy = yield* get(port, "/healthz")
      expect(healthy.status).toBe(200)
      expect(JSON.parse(healthy.body)).toMatchObject({
        live: true,
        problems: [],
        watches: [{ name: "pods", state: "waiting-for-server" }]
      })

      yield* TestClock.adjust(Duration.minutes(5))
      expect((yield* get(port, "/healthz")).status).toBe(200)
      yield* TestClock.adjust(Duration.seconds(1))
      const stalled = yield* get(port, "/healthz")
      expect(stalled.status).toBe(503)
      const report = JSON.parse(stalled.body) as LivenessReport
      expect(report).toMatchObject({
        live: false,
        problems: ["watch pods: no list page, event or bookmark for 301 s"],
        watches: [{ name: "pods", state: "waiting-for-server", silentSeconds: 301 }],
        bounds: { watchStallSeconds: 300, workStallSeconds: 1800 }
      })
      // Nothing from the configuration (the token in particular) is in the report.
      expect(stalled.body).not.toContain(testConfig().org)
      expect(stalled.body).not.toContain("ghp_")
    }))
})

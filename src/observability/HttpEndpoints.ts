import { createServer } from "node:http"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Effect, Layer } from "effect"
import { Config } from "../config/Config.ts"
import { Liveness } from "./Liveness.ts"
import { Metrics } from "./Metrics.ts"
import { Readiness } from "./Readiness.ts"

/**
 * `/metrics` (Prometheus text), `/healthz` (liveness: every watch and
 * worker makes progress, as JSON) and `/readyz` (the caches have synced)
 * on the metrics port.
 */
export const endpoints = HttpRouter.empty.pipe(
  HttpRouter.get(
    "/metrics",
    Effect.gen(function*() {
      const metrics = yield* Metrics
      const body = yield* metrics.render
      return HttpServerResponse.text(body, { contentType: metrics.contentType })
    })
  ),
  // Answered from the same event loop as the work: a loop blocked by
  // synchronous code cannot answer at all, and the probe's timeout fails it.
  HttpRouter.get(
    "/healthz",
    Effect.gen(function*() {
      const liveness = yield* Liveness
      const report = yield* liveness.check
      return HttpServerResponse.unsafeJson(report, { status: report.live ? 200 : 503 })
    })
  ),
  HttpRouter.get(
    "/readyz",
    Effect.gen(function*() {
      const readiness = yield* Readiness
      return (yield* readiness.isReady)
        ? HttpServerResponse.text("ok")
        : HttpServerResponse.text("caches not synced", { status: 503 })
    })
  )
)

/** Serves the endpoints; probes and scrapes are not worth a log line each. */
export const HttpEndpointsLive = Layer.unwrapEffect(Effect.gen(function*() {
  const config = yield* Config
  return endpoints.pipe(
    HttpServer.serve(HttpMiddleware.withLoggerDisabled),
    HttpServer.withLogAddress,
    Layer.provide(NodeHttpServer.layer(() => createServer(), { port: config.metricsPort }))
  )
}))

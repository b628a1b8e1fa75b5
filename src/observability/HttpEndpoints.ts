import { createServer } from "node:http"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Effect, Layer } from "effect"
import { Config } from "../config/Config.ts"
import { Metrics } from "./Metrics.ts"
import { Readiness } from "./Readiness.ts"

/** `/metrics` (Prometheus text), `/healthz` and `/readyz` on the metrics port. */
export const endpoints = HttpRouter.empty.pipe(
  HttpRouter.get(
    "/metrics",
    Effect.gen(function*() {
      const metrics = yield* Metrics
      const body = yield* metrics.render
      return HttpServerResponse.text(body, { contentType: metrics.contentType })
    })
  ),
  HttpRouter.get("/healthz", HttpServerResponse.text("ok")),
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

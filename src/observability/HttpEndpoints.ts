import type { IncomingMessage, ServerResponse } from "node:http"
import { createRequire } from "node:module"
import type { AddressInfo } from "node:net"
import { Data, Effect, FiberSet, Layer } from "effect"
import { Config } from "../config/Config.ts"
import { Liveness } from "./Liveness.ts"
import { Metrics } from "./Metrics.ts"
import { Readiness } from "./Readiness.ts"

// Three fixed GET routes on node:http. @effect/platform's HTTP server (router,
// middleware, request and response models) cost about 12 MiB of RSS that
// the process kept for its whole life (BENCHMARKS.md, "Idle memory") to
// serve what fits in a table.

// Required, not imported: Node makes an ES module of node:http by reading
// every export, and WebSocket, MessageEvent and CloseEvent are getters that
// load Node's own copy of undici (some 1.5 MiB of heap and 4 MiB of RSS,
// for as long as the process runs; this program uses none of them).
const { createServer } = createRequire(import.meta.url)("node:http") as typeof import("node:http")

/** An answer: status, content type and body. */
export interface Reply {
  readonly status: number
  readonly contentType: string
  readonly body: string
}

type Services = Metrics | Liveness | Readiness

const text = (body: string, status = 200): Reply => ({ status, contentType: "text/plain", body })

/**
 * `/metrics` (Prometheus text), `/healthz` (liveness: every watch and
 * worker makes progress, as JSON) and `/readyz` (the caches have synced).
 */
export const routes: Readonly<Record<string, Effect.Effect<Reply, never, Services>>> = {
  "/metrics": Effect.gen(function*() {
    const metrics = yield* Metrics
    return { status: 200, contentType: metrics.contentType, body: yield* metrics.render }
  }),
  // Answered from the same event loop as the work: a loop blocked by
  // synchronous code cannot answer at all, and the probe's timeout fails it.
  "/healthz": Effect.gen(function*() {
    const report = yield* Effect.flatMap(Liveness, (liveness) => liveness.check)
    return { status: report.live ? 200 : 503, contentType: "application/json", body: JSON.stringify(report) }
  }),
  "/readyz": Effect.gen(function*() {
    const ready = yield* Effect.flatMap(Readiness, (readiness) => readiness.isReady)
    return ready ? text("ok") : text("caches not synced", 503)
  })
}

/** The metrics port cannot be listened on (in use, not permitted). */
export class HttpEndpointsError extends Data.TaggedError("HttpEndpointsError")<{
  readonly port: number
  readonly message: string
}> {}

/**
 * Serves the routes on the metrics port for as long as the scope lives;
 * each answer is an effect run with the application's services (and its
 * clock) in a FiberSet that the scope interrupts on shutdown. Probes and
 * scrapes are not worth a log line each.
 */
export const HttpEndpointsLive = Layer.scopedDiscard(Effect.gen(function*() {
  const config = yield* Config
  const run = yield* FiberSet.makeRuntimePromise<Services>()

  const handle = (request: IncomingMessage, response: ServerResponse) => {
    const path = (request.url ?? "/").split("?", 1)[0]!
    const route = request.method === "GET" || request.method === "HEAD" ? routes[path] : undefined
    if (route === undefined) {
      response.writeHead(404).end()
      return
    }
    run(route).then(
      (reply) => {
        response.writeHead(reply.status, {
          "content-type": reply.contentType,
          "content-length": Buffer.byteLength(reply.body)
        })
        response.end(request.method === "HEAD" ? undefined : reply.body)
      },
      // Interrupted: the process is shutting down.
      () => response.writeHead(503).end()
    )
  }

  const server = yield* Effect.acquireRelease(
    Effect.async<ReturnType<typeof createServer>, HttpEndpointsError>((resume) => {
      const server = createServer(handle)
      const failed = (error: Error) =>
        resume(Effect.fail(new HttpEndpointsError({ port: config.metricsPort, message: error.message })))
      server.once("error", failed)
      server.listen(config.metricsPort, () => {
        server.off("error", failed)
        // Not expected once listening, but an unheard "error" would end the process.
        server.on("error", (error) => void run(Effect.logWarning("Metrics endpoint error").pipe(Effect.annotateLogs({ error: error.message }))))
        resume(Effect.succeed(server))
      })
    }),
    (server) =>
      Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
        // Keep-alive connections (a Prometheus scraper's) would hold close() open.
        server.closeAllConnections()
      })
  )
  const address = server.address() as AddressInfo
  yield* Effect.logInfo(`Listening on http://${address.family === "IPv6" ? `[${address.address}]` : address.address}:${address.port}`)
}))

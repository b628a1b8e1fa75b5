import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Schedule } from "effect"
import { createServer, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { exchange, makeGitHubHttpClient, MAX_RESPONSE_BYTES } from "../../src/github/GitHubHttp.ts"

// Response bodies are read up to the original's 10 MiB; beyond, reading
// stops (the rest never crosses the wire into memory) and the exchange is a
// soft failure that says why.

interface Served {
  /** Bytes the server managed to write before the client went away or it finished. */
  written: number
  finished: boolean
  closed: boolean
}

const MIB = 1024 * 1024
/** Announced (and sent) by `/declared`: well past the limit, so the server cannot finish sending it into socket buffers. */
const DECLARED_BYTES = 48 * MIB
/** Far more than the limit plus what socket buffers can hold, so a client that reads it all would be seen. */
const STREAMED_BYTES = 64 * MIB

/** A local server: `/exact` sends exactly the limit, `/declared` announces (and sends) 48 MiB with a Content-Length, `/streamed` streams 64 MiB without a length. */
const bodyServer = Effect.acquireRelease(
  Effect.async<{ url: string; served: Map<string, Served>; close: () => Promise<void> }>((resume) => {
    const served = new Map<string, Served>()
    const stream = (res: ServerResponse, total: number, state: Served) => {
      const chunk = Buffer.alloc(256 * 1024, "x")
      const pump = () => {
        while (state.written < total) {
          const ok = res.write(chunk)
          state.written += chunk.length
          if (!ok) return res.once("drain", pump)
        }
        state.finished = true
        res.end()
      }
      res.on("close", () => (state.closed = true))
      pump()
    }
    const server = createServer((req, res) => {
      const state: Served = { written: 0, finished: false, closed: false }
      served.set(req.url ?? "", state)
      if (req.url === "/exact") {
        res.writeHead(200, { "content-type": "application/json", "content-length": String(MAX_RESPONSE_BYTES) })
        stream(res, MAX_RESPONSE_BYTES, state)
      } else if (req.url === "/declared") {
        res.writeHead(200, { "content-type": "application/json", "content-length": String(DECLARED_BYTES) })
        stream(res, DECLARED_BYTES, state)
      } else {
        res.writeHead(502, { "content-type": "text/html" })
        stream(res, STREAMED_BYTES, state)
      }
    })
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      resume(Effect.succeed({
        url: `http://127.0.0.1:${port}`,
        served,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections()
            server.close(() => done())
          })
      }))
    })
  }),
  (server) => Effect.promise(server.close)
)

/** The route's state once the server saw the connection close (polled, 5 s at most). */
const closedConnection = (served: Map<string, Served>, route: string) =>
  Effect.sync(() => served.get(route)).pipe(
    Effect.filterOrFail((state) => state?.closed === true, () => `${route}: the connection is still open`),
    Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 250 })
  )

describe("exchange: response bodies up to 10 MiB", () => {
  it.live("reads a body of exactly 10 MiB", () =>
    Effect.gen(function*() {
      const server = yield* bodyServer
      const http = yield* makeGitHubHttpClient(Duration.seconds(20), server.url, undefined)
      const response = yield* exchange(http, HttpClientRequest.get(`${server.url}/exact`))
      expect(response.status).toBe(200)
      expect(response.body.length).toBe(MAX_RESPONSE_BYTES)
    }).pipe(Effect.scoped))

  it.live("a Content-Length over 10 MiB is a soft failure before anything is read", () =>
    Effect.gen(function*() {
      const server = yield* bodyServer
      const http = yield* makeGitHubHttpClient(Duration.seconds(20), server.url, undefined)
      const exit = yield* Effect.exit(exchange(http, HttpClientRequest.get(`${server.url}/declared`)))
      expect(exit).toMatchObject({
        _tag: "Failure",
        cause: { error: { _tag: "SoftFailure", status: 200, reason: expect.stringMatching(/larger than 10485760 bytes \(10 MiB\)/) } }
      })
      const served = yield* closedConnection(server.served, "/declared")
      expect(served?.finished).toBe(false)
      // Far less than the limit crossed the wire: reading stopped at the first chunk.
      expect(served?.written).toBeLessThan(MAX_RESPONSE_BYTES)
    }).pipe(Effect.scoped))

  it.live("a body that grows past 10 MiB is a soft failure, and the rest is not read", () =>
    Effect.gen(function*() {
      const server = yield* bodyServer
      const http = yield* makeGitHubHttpClient(Duration.seconds(20), server.url, undefined)
      const exit = yield* Effect.exit(exchange(http, HttpClientRequest.get(`${server.url}/streamed`)))
      expect(Exit.isFailure(exit)).toBe(true)
      expect(exit).toMatchObject({
        cause: { error: { _tag: "SoftFailure", status: 502, reason: expect.stringContaining("HTTP 502 response body is larger than") } }
      })
      // The connection was dropped: the server saw it close before it could send its 64 MiB.
      const served = yield* closedConnection(server.served, "/streamed")
      expect(served?.finished).toBe(false)
      expect(served?.written).toBeLessThan(STREAMED_BYTES)
    }).pipe(Effect.scoped))
})

import { describe, expect, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Either, Option, Stream } from "effect"
import { createServer, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import type { ClusterCredentials } from "../../src/kube/ClusterCredentials.ts"
import { makeKubeApi } from "../../src/kube/KubeApi.ts"

// A watch that sends nothing (no event, no bookmark) for the idle timeout
// is ended by the transport as a KubeApiError "IdleTimeout"; bytes arriving
// keep it open however long it lasts.

const IDLE = Duration.seconds(1)

/** An API server whose watch writes one line every `everyMs` for `lines` lines, then stays open and silent. */
const watchServer = (lines: number, everyMs: number) =>
  Effect.acquireRelease(
    Effect.async<{ port: number; close: () => void }>((resume) => {
      const open = new Set<ServerResponse>()
      const server = createServer((_req, res) => {
        open.add(res)
        res.writeHead(200, { "content-type": "application/json" })
        let written = 0
        const tick = setInterval(() => {
          if (written === lines) return clearInterval(tick)
          res.write(`${JSON.stringify({ type: "BOOKMARK", object: { metadata: { resourceVersion: String(++written) } } })}\n`)
        }, everyMs)
        res.on("close", () => clearInterval(tick))
      })
      server.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed({
          port: (server.address() as AddressInfo).port,
          close: () => {
            for (const res of open) res.destroy()
            server.close()
          }
        })))
    }),
    ({ close }) => Effect.sync(close)
  )

const credentials = (port: number): ClusterCredentials => ({
  source: "-kubeconfig",
  server: `http://127.0.0.1:${port}`,
  tls: Effect.succeed({}),
  headers: Effect.succeed({}),
  proxy: Option.none()
})

const lineCount = (bytes: Chunk.Chunk<Uint8Array>) =>
  Buffer.concat(Chunk.toArray(bytes)).toString("utf8").split("\n").filter((l) => l !== "").length

/** Reads a watch of that server until it ends: how it ended, the lines it brought, the milliseconds it took. */
const watchToTheEnd = (lines: number, everyMs: number) =>
  Effect.gen(function*() {
    const server = yield* watchServer(lines, everyMs)
    const kube = yield* makeKubeApi(credentials(server.port), undefined, IDLE)
    const received: Array<Uint8Array> = []
    const started = Date.now()
    const result = yield* kube.stream("/api/v1/pods", { watch: "1" }).pipe(
      Stream.runForEach((bytes) => Effect.sync(() => void received.push(bytes))),
      Effect.timeout("10 seconds"),
      Effect.either
    )
    return { failure: Either.getLeft(result), lines: lineCount(Chunk.unsafeFromArray(received)), millis: Date.now() - started }
  })

describe("KubeApi's idle timeout", () => {
  it.scopedLive("a watch that goes silent fails with IdleTimeout once the timeout has passed, after what it sent", () =>
    Effect.gen(function*() {
      const { failure, lines, millis } = yield* watchToTheEnd(2, 50)
      expect(failure).toEqual(
        Option.some(expect.objectContaining({ _tag: "KubeApiError", status: 0, reason: "IdleTimeout", message: "no data for 1s" }))
      )
      expect(lines).toBe(2)
      // undici's body timers tick every half second.
      expect(millis).toBeGreaterThanOrEqual(900)
      expect(millis).toBeLessThan(5_000)
    }))

  it.scopedLive("bytes arriving more often than the timeout keep a watch open past it", () =>
    Effect.gen(function*() {
      // 12 lines, 250 ms apart: 3 s of watch with a 1 s timeout, then silence.
      const { failure, lines, millis } = yield* watchToTheEnd(12, 250)
      expect(failure).toEqual(Option.some(expect.objectContaining({ reason: "IdleTimeout" })))
      expect(lines).toBe(12)
      expect(millis).toBeGreaterThanOrEqual(3_000)
    }))
})

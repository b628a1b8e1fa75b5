import { createServer, type IncomingHttpHeaders } from "node:http"
import type { AddressInfo } from "node:net"
import { Effect } from "effect"

export interface ReceivedRequest {
  readonly method: string
  readonly url: string
  readonly headers: IncomingHttpHeaders
  readonly body: unknown
  readonly at: number
}

export interface ScriptedResponse {
  readonly status: number
  readonly headers?: Record<string, string>
  readonly body?: unknown
  /** Destroy the socket instead of answering (a connection reset). */
  readonly reset?: boolean
  /** Never answer (the client must time out). */
  readonly hang?: boolean
}

export interface FakeGitHub {
  readonly url: string
  readonly requests: Array<ReceivedRequest>
  /** Responses still to be given, in order; tests may push more. */
  readonly script: Array<ScriptedResponse>
  readonly close: () => Promise<void>
}

/**
 * A local HTTP server standing in for GitHub in unit tests: it answers from a
 * script (then 200 for everything else) and remembers every request.
 */
export const fakeGitHub = (script: ReadonlyArray<ScriptedResponse> = []) =>
  Effect.acquireRelease(
    Effect.async<FakeGitHub>((resume) => {
      const requests: Array<ReceivedRequest> = []
      const pending = [...script]
      const server = createServer((req, res) => {
        const chunks: Array<Buffer> = []
        req.on("data", (c: Buffer) => chunks.push(c))
        req.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8")
          requests.push({
            method: req.method ?? "",
            url: req.url ?? "",
            headers: req.headers,
            body: text === "" ? undefined : JSON.parse(text),
            at: performance.now()
          })
          const next = pending.shift() ?? { status: 200, body: { total_count: 1 } }
          if (next.hang === true) return
          if (next.reset === true) {
            req.socket.destroy()
            return
          }
          res.writeHead(next.status, { "content-type": "application/json", ...next.headers })
          res.end(next.body === undefined ? "" : JSON.stringify(next.body))
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        const close = () =>
          new Promise<void>((done) => {
            server.closeAllConnections()
            server.close(() => done())
          })
        resume(Effect.succeed({ url: `http://127.0.0.1:${port}`, requests, script: pending, close }))
      })
    }),
    (fake) => Effect.promise(fake.close)
  )

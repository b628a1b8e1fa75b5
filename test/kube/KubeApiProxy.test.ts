import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Option, Redacted, Stream } from "effect"
import { createServer, type IncomingMessage, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { createProxy } from "proxy"
import type { ClusterCredentials } from "../../src/kube/ClusterCredentials.ts"
import { makeKubeApi } from "../../src/kube/KubeApi.ts"

// The kubeconfig's proxy-url carries every request to the API server (a
// CONNECT tunnel through the proxy, its credentials as Proxy-Authorization);
// without one the connection is direct.

const PROXY_AUTH = `Basic ${Buffer.from("kube:s3cret").toString("base64")}`

const listen = (server: Server) =>
  Effect.acquireRelease(
    Effect.async<number>((resume) => void server.listen(0, "127.0.0.1", () => resume(Effect.succeed((server.address() as AddressInfo).port)))),
    () =>
      Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
        server.closeAllConnections()
      })
  )

/** An API server stand-in answering every GET with a small JSON object, and the requests it saw. */
const apiServer = Effect.gen(function*() {
  const seen: Array<{ path: string; authorization: string | undefined }> = []
  const server = createServer((req, res) => {
    seen.push({ path: req.url ?? "", authorization: req.headers.authorization })
    res.writeHead(200, { "content-type": "application/json" })
    res.end(JSON.stringify({ kind: "NamespaceList", items: [] }))
  })
  return { port: yield* listen(server), seen }
})

/** A forward proxy (the `proxy` package) that wants PROXY_AUTH, and the CONNECT targets it was asked for. */
const forwardProxy = Effect.gen(function*() {
  const connects: Array<string> = []
  const proxy = createProxy(createServer())
  proxy.authenticate = (req: IncomingMessage) => req.headers["proxy-authorization"] === PROXY_AUTH
  proxy.on("connect", (req: IncomingMessage) => connects.push(req.url ?? ""))
  return { port: yield* listen(proxy), connects }
})

const credentials = (apiPort: number, proxy: Option.Option<string>): ClusterCredentials => ({
  source: "-kubeconfig",
  server: `http://127.0.0.1:${apiPort}`,
  tls: Effect.succeed({}),
  headers: Effect.succeed({ authorization: "Bearer kube-token" }),
  proxy: Option.map(proxy, Redacted.make)
})

describe("KubeApi and the kubeconfig's proxy-url", () => {
  it.scoped("with a proxy-url, reads and watches go through the proxy (loopback too, as in client-go), with its credentials", () =>
    Effect.gen(function*() {
      const api = yield* apiServer
      const proxy = yield* forwardProxy
      const kube = yield* makeKubeApi(credentials(api.port, Option.some(`http://kube:s3cret@127.0.0.1:${proxy.port}`)))
      expect(yield* kube.getJson("/api/v1/namespaces", {})).toEqual({ kind: "NamespaceList", items: [] })
      const body = yield* kube.stream("/api/v1/pods", { watch: "true" }).pipe(Stream.decodeText(), Stream.mkString)
      expect(JSON.parse(body)).toMatchObject({ kind: "NamespaceList" })
      expect(proxy.connects.length).toBeGreaterThan(0)
      expect(new Set(proxy.connects)).toEqual(new Set([`127.0.0.1:${api.port}`]))
      // The API server's own credentials still reach it, inside the tunnel.
      expect(api.seen).toEqual([
        { path: "/api/v1/namespaces", authorization: "Bearer kube-token" },
        { path: "/api/v1/pods?watch=true", authorization: "Bearer kube-token" }
      ])
    }))

  it.scoped("a proxy that refuses the credentials (407): a transport error, and nothing reaches the API server", () =>
    Effect.gen(function*() {
      const api = yield* apiServer
      const proxy = yield* forwardProxy
      const kube = yield* makeKubeApi(credentials(api.port, Option.some(`http://kube:wrong@127.0.0.1:${proxy.port}`)))
      const result = yield* Effect.either(kube.getJson("/api/v1/namespaces", {}))
      expect(Either.getLeft(result)).toMatchObject({ value: { _tag: "KubeApiError", status: 0, reason: "Transport" } })
      expect(proxy.connects).toEqual([`127.0.0.1:${api.port}`])
      expect(api.seen).toEqual([])
    }))

  it.scoped("without a proxy-url the connection is direct", () =>
    Effect.gen(function*() {
      const api = yield* apiServer
      const proxy = yield* forwardProxy
      const kube = yield* makeKubeApi(credentials(api.port, Option.none()))
      yield* kube.getJson("/api/v1/namespaces", {})
      expect(api.seen).toHaveLength(1)
      expect(proxy.connects).toEqual([])
    }))
})

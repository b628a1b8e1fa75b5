import { readFileSync } from "node:fs"
import { request } from "node:https"
import type { IncomingMessage } from "node:http"
import * as NodeStream from "@effect/platform-node/NodeStream"
import { Effect, Layer, Stream } from "effect"
import { acceptHeader, KubeApi, KubeApiError, parseStatus, type Query } from "../../../src/kube/KubeApi.ts"

/** One request the reflector made. */
export interface RawCall {
  readonly kind: "list" | "watch" | "watchList"
  readonly path: string
  readonly query: Query
}

/**
 * A bare KubeApi for running a reflector in the test process against the
 * real control plane: node:https with the CA and bearer token of a
 * kubeconfig written by scripts/cluster (serviceAccountKubeconfig), so the
 * reflector has the tracker's RBAC. Reads only; records every request.
 * `intercept` may rewrite a watch body (as bytes) before the reflector reads it.
 */
export const rawKubeApi = (
  kubeconfigPath: string,
  intercept: (call: RawCall, body: Stream.Stream<Uint8Array, KubeApiError>) => Stream.Stream<Uint8Array, KubeApiError> = (
    _,
    body
  ) => body
) => {
  const text = readFileSync(kubeconfigPath, "utf8")
  const field = (pattern: RegExp) => {
    const found = pattern.exec(text)?.[1]
    if (found === undefined) throw new Error(`${kubeconfigPath}: no ${pattern.source}`)
    return found
  }
  const server = field(/^\s*server:\s*(\S+)\s*$/m)
  const ca = Buffer.from(field(/^\s*certificate-authority-data:\s*(\S+)\s*$/m), "base64")
  const token = JSON.parse(field(/^\s*token:\s*(".*")\s*$/m)) as string
  const calls: Array<RawCall> = []

  const open = (path: string, query: Query, accept: string) =>
    Effect.async<IncomingMessage, KubeApiError>((resume) => {
      const url = new URL(`${server}${path}`)
      for (const [key, value] of Object.entries(query)) if (value !== undefined) url.searchParams.set(key, value)
      const req = request(url, { ca, headers: { authorization: `Bearer ${token}`, accept } }, (res) => resume(Effect.succeed(res)))
      req.on("error", (e) => resume(Effect.fail(new KubeApiError({ status: 0, reason: "Transport", message: e.message }))))
      req.end()
      return Effect.sync(() => req.destroy())
    })

  const bodyText = (res: IncomingMessage) =>
    Effect.tryPromise({
      try: async () => {
        let body = ""
        for await (const chunk of res) body += String(chunk)
        return body
      },
      catch: (e) => new KubeApiError({ status: 0, reason: "Transport", message: String(e) })
    })

  const checked = (res: IncomingMessage) => {
    const status = res.statusCode ?? 0
    if (status >= 200 && status < 300) return Effect.succeed(res)
    return Effect.flatMap(bodyText(res), (body) => {
      const parsed = parseStatus(body)
      return Effect.fail(new KubeApiError({ status, reason: parsed?.reason ?? "", message: parsed?.message ?? body.slice(0, 300) }))
    })
  }

  const layer = Layer.succeed(KubeApi, {
    server,
    send: () => Effect.fail(new KubeApiError({ status: 405, reason: "MethodNotAllowed", message: "reads only" })),
    getJson: (path, query, options) =>
      Effect.suspend(() => {
        calls.push({ kind: "list", path, query })
        return open(path, query, acceptHeader(options?.as, true)).pipe(
          Effect.flatMap(checked),
          Effect.flatMap(bodyText),
          Effect.map((body): unknown => JSON.parse(body))
        )
      }),
    stream: (path, query, options) =>
      Stream.suspend(() => {
        const call: RawCall = { kind: query["sendInitialEvents"] === "true" ? "watchList" : "watch", path, query }
        calls.push(call)
        const body = Stream.unwrapScoped(
          Effect.acquireRelease(open(path, query, acceptHeader(options?.as, false)), (res) => Effect.sync(() => res.destroy())).pipe(
            Effect.flatMap(checked),
            // (Not the async iterator: interrupting one that waits for data
            // would wait for the next bookmark.)
            Effect.map((res) =>
              NodeStream.fromReadable<KubeApiError>(
                () => res,
                (e) => new KubeApiError({ status: 0, reason: "Transport", message: String(e) })
              )
            )
          )
        )
        return intercept(call, body)
      })
  })
  return { layer, calls }
}

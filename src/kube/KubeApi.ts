import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Agent, type Dispatcher, ProxyAgent } from "@effect/platform-node/Undici"
import { Context, Data, Duration, Effect, Layer, Option, Redacted, Stream } from "effect"
import { describeProxy } from "../config/egress.ts"
import { USER_AGENT } from "../version.ts"
import type { ClusterCredentials, CredentialsError, TlsMaterial } from "./ClusterCredentials.ts"

/**
 * A failed call to the Kubernetes API. `status` is the HTTP status (0 for a
 * transport failure); `reason` is the Status object's reason when the server
 * sent one (e.g. "Expired", "Forbidden").
 */
export class KubeApiError extends Data.TaggedError("KubeApiError")<{
  readonly status: number
  readonly reason: string
  readonly message: string
}> {}

export type Query = Readonly<Record<string, string | undefined>>

/**
 * The representation asked for. `metadata` is the metadata API
 * (PartialObjectMetadata / PartialObjectMetadataList): only `metadata` of
 * each object travels, which keeps workload watches cheap.
 */
export type Representation = "full" | "metadata"

export interface ReadOptions {
  readonly as?: Representation
}

/**
 * Writes the controller makes (leader election's Lease create/update, the
 * state ConfigMap, Events); a PATCH body is a JSON merge patch.
 */
export type WriteMethod = "POST" | "PUT" | "PATCH"

const MERGE_PATCH = "application/merge-patch+json"

/** Raw access to the Kubernetes API: JSON GETs, streamed watch bodies, JSON writes. */
export class KubeApi extends Context.Tag("deployment-tracker/KubeApi")<KubeApi, {
  readonly server: string
  readonly getJson: (path: string, query: Query, options?: ReadOptions) => Effect.Effect<unknown, KubeApiError>
  /** The response body of a long-running GET (a watch), as bytes. */
  readonly stream: (path: string, query: Query, options?: ReadOptions) => Stream.Stream<Uint8Array, KubeApiError>
  /** Sends `body` as JSON and returns the decoded response (e.g. the stored object with its new resourceVersion). */
  readonly send: (method: WriteMethod, path: string, body: unknown) => Effect.Effect<unknown, KubeApiError>
}>() {}

/** The Accept header for a representation; JSON is asked as a fallback so a server without the metadata API still answers. */
export const acceptHeader = (as: Representation | undefined, list: boolean): string =>
  as === "metadata"
    ? `application/json;as=PartialObjectMetadata${list ? "List" : ""};g=meta.k8s.io;v=v1,application/json`
    : "application/json"

/** TCP keep-alive on the connections to the API server (or to its proxy): a dead peer is noticed under a quiet watch. */
const KEEP_ALIVE = { keepAlive: true, keepAliveInitialDelay: 30_000 } as const

/**
 * A response body (a watch above all) that sends nothing for this long is
 * dead: the server sends a bookmark about once a minute. Time the tracker
 * spends not reading (backpressure) does not count.
 */
export const DEFAULT_IDLE_TIMEOUT = Duration.minutes(3)

/** undici's error for a body that stayed silent past its `bodyTimeout`. */
const BODY_TIMEOUT = "UND_ERR_BODY_TIMEOUT"

/**
 * The undici dispatcher for the API server: an Agent, or with the
 * kubeconfig's proxy-url a ProxyAgent that tunnels every connection through
 * the proxy (CONNECT; `user:password@` in the URL is sent as
 * Proxy-Authorization). The cluster's TLS material is for the API server;
 * an https:// proxy is trusted by Node's CAs plus `proxyCa`
 * (SSL_CERT_FILE / SSL_CERT_DIR), as the GitHub proxy is.
 */
export const makeKubeDispatcher = (
  tls: TlsMaterial,
  proxy: Option.Option<Redacted.Redacted<string>>,
  proxyCa: ReadonlyArray<string> | undefined,
  idleTimeout: Duration.Duration = DEFAULT_IDLE_TIMEOUT
): Dispatcher => {
  const serverTls = {
    ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
    ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
    ...(tls.key !== undefined ? { key: tls.key } : {}),
    ...(tls.servername !== undefined ? { servername: tls.servername } : {}),
    ...(tls.rejectUnauthorized !== undefined ? { rejectUnauthorized: tls.rejectUnauthorized } : {})
  }
  const dispatcher: Dispatcher = Option.match(proxy, {
    onNone: () => new Agent({ connect: { ...serverTls, ...KEEP_ALIVE } }),
    onSome: (uri) =>
      new ProxyAgent({
        uri: Redacted.value(uri),
        requestTls: serverTls,
        proxyTls: { ...KEEP_ALIVE, ...(proxyCa === undefined ? {} : { ca: [...proxyCa] }) }
      })
  })
  // The idle timeout is undici's body timeout, one timer per connection
  // refreshed as bytes arrive. The Effect client asks for none (bodyTimeout
  // 0) so every request gets it here. Racing a timer against each pull of
  // the body instead cost about 130 us of CPU per chunk read (a TLS record
  // of 16 KB: two pods), the largest single cost of a watch event.
  const bodyTimeout = Duration.toMillis(idleTimeout)
  return dispatcher.compose((dispatch) => (options, handler) => dispatch({ ...options, bodyTimeout }, handler))
}

/**
 * Credentials and TLS come from the credentials' source (the service
 * account in a pod, or a kubeconfig with exec, OIDC and the rest); HTTP
 * goes through one long-lived undici dispatcher (makeKubeDispatcher) so
 * reconnects reuse TLS sessions and bodies stream with backpressure.
 */
export const makeKubeApi = (
  credentials: ClusterCredentials,
  proxyCa?: ReadonlyArray<string>,
  idleTimeout: Duration.DurationInput = DEFAULT_IDLE_TIMEOUT
) =>
  Effect.gen(function*() {
    const server = credentials.server
    const idle = Duration.decode(idleTimeout)
    // TLS material once, to build the dispatcher.
    const initial = yield* Effect.mapError(credentials.tls, credentialsError)
    const agent = yield* Effect.acquireRelease(
      Effect.sync(() => makeKubeDispatcher(initial, credentials.proxy, proxyCa, idle)),
      (a) => Effect.promise(() => a.close())
    )
    if (Option.isSome(credentials.proxy)) {
      yield* Effect.logInfo("Kubernetes API requests go through a proxy").pipe(
        Effect.annotateLogs({ proxy: describeProxy(credentials.proxy.value), source: credentials.source })
      )
    }
    // No trace headers to the API server and no generic client spans: a watch
    // would otherwise open a root trace of its own, and owner GETs would
    // clutter the one-trace-per-event shape (see observability/eventTrace.ts).
    const client = NodeHttpClient.makeUndici(agent).pipe(
      HttpClient.withTracerPropagation(false),
      HttpClient.withTracerDisabledWhen(() => true)
    )

    // Headers are fetched per request: bearer tokens rotate (projected
    // service account tokens live about an hour).
    const authHeaders = Effect.mapError(credentials.headers, credentialsError)

    const request = (path: string, query: Query, accept: string) =>
      authHeaders.pipe(
        Effect.map((headers) =>
          HttpClientRequest.get(`${server}${path}`).pipe(
            HttpClientRequest.setUrlParams(
              Object.fromEntries(Object.entries(query).filter((e): e is [string, string] => e[1] !== undefined))
            ),
            HttpClientRequest.setHeaders({ ...headers, accept, "user-agent": USER_AGENT })
          )
        )
      )

    const execute = (build: Effect.Effect<HttpClientRequest.HttpClientRequest, KubeApiError>) =>
      build.pipe(
        Effect.flatMap((req) => client.execute(req)),
        Effect.catchTags({
          RequestError: (e) => Effect.fail(transportError(e, idle)),
          ResponseError: (e) => Effect.fail(transportError(e, idle))
        }),
        Effect.flatMap((response) => response.status >= 200 && response.status < 300 ? Effect.succeed(response) : statusError(response))
      )

    const readJson = (build: Effect.Effect<HttpClientRequest.HttpClientRequest, KubeApiError>) =>
      execute(build).pipe(
        Effect.flatMap((response) => response.json),
        Effect.catchTag(
          "ResponseError",
          (e) => Effect.fail(transportError(e, idle))
        ),
        Effect.scoped
      )

    const getJson = (path: string, query: Query, options?: ReadOptions) =>
      readJson(request(path, query, acceptHeader(options?.as, isCollection(path))))

    const send = (method: WriteMethod, path: string, body: unknown) =>
      readJson(
        request(path, {}, "application/json").pipe(
          Effect.map((get) =>
            method === "PATCH"
              ? HttpClientRequest.bodyText(HttpClientRequest.setMethod(get, method), JSON.stringify(body), MERGE_PATCH)
              : HttpClientRequest.bodyUnsafeJson(HttpClientRequest.setMethod(get, method), body)
          )
        )
      )

    const stream = (path: string, query: Query, options?: ReadOptions) =>
      execute(request(path, query, acceptHeader(options?.as, false))).pipe(
        Effect.map((response) =>
          response.stream.pipe(
            Stream.mapError((e) => transportError(e, idle))
          )
        ),
        Stream.unwrapScoped
      )

    return { server, getJson, stream, send }
  })

/**
 * Whether a path names a collection (`.../deployments`,
 * `.../namespaces/x/pods`) rather than one object: the metadata API wants
 * `PartialObjectMetadataList` for the first and `PartialObjectMetadata` for
 * the second.
 */
export const isCollection = (path: string): boolean => {
  const segments = path.split("/").filter((s) => s !== "")
  // /api/v1/<plural> or /apis/<group>/<version>/<plural>
  const base = segments[0] === "api" ? 2 : 3
  const rest = segments.slice(base)
  // <plural> (the Namespaces collection too) | namespaces/<ns>/<plural> are collections;
  // <plural>/<name> | namespaces/<ns>/<plural>/<name> are objects.
  return rest.length === 1 || (rest[0] === "namespaces" && rest.length === 3)
}

/** A failure below HTTP; a body silent past the idle timeout is told apart (a watch resumes at once after one). */
const transportError = (error: { readonly message: string; readonly cause?: unknown }, idleTimeout: Duration.Duration) => {
  const cause = error.cause
  const code = typeof cause === "object" && cause !== null ? (cause as { code?: unknown }).code : undefined
  return code === BODY_TIMEOUT
    ? new KubeApiError({ status: 0, reason: "IdleTimeout", message: `no data for ${Duration.format(idleTimeout)}` })
    : new KubeApiError({ status: 0, reason: "Transport", message: error.message })
}

const credentialsError = (error: CredentialsError) =>
  new KubeApiError({ status: 0, reason: "Credentials", message: error.message })

/** Turns a non-2xx response into a KubeApiError, reading the Status body if any. */
const statusError = (response: HttpClientResponse.HttpClientResponse) =>
  response.text.pipe(
    Effect.orElseSucceed(() => ""),
    Effect.flatMap((body) => {
      const status = parseStatus(body)
      return Effect.fail(
        new KubeApiError({
          status: response.status,
          reason: status?.reason ?? "",
          message: status?.message ?? body.slice(0, 300)
        })
      )
    })
  )

export const parseStatus = (body: string): { reason?: string; message?: string } | undefined => {
  try {
    const parsed = JSON.parse(body) as { kind?: unknown; reason?: unknown; message?: unknown }
    return {
      ...(typeof parsed.reason === "string" ? { reason: parsed.reason } : {}),
      ...(typeof parsed.message === "string" ? { message: parsed.message } : {})
    }
  } catch {
    return undefined
  }
}

/** `proxyCa`: CA certificates an https:// proxy-url is trusted by, on top of Node's (config/egress.ts trustedCertificates). */
export const KubeApiLive = (credentials: ClusterCredentials, proxyCa?: ReadonlyArray<string>) =>
  Layer.scoped(KubeApi, makeKubeApi(credentials, proxyCa))


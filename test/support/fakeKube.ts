import { Effect, Layer, Stream } from "effect"
import { KubeApi, KubeApiError, type Query } from "../../src/kube/KubeApi.ts"

/** A Pod as the API server would send it, with just enough fields. */
export const podJson = (
  name: string,
  options: {
    readonly namespace?: string
    readonly rv?: string
    readonly phase?: string
    readonly owner?: { readonly kind: string; readonly name: string; readonly uid?: string; readonly apiVersion?: string }
    readonly image?: string
    readonly digest?: string
    readonly annotations?: Readonly<Record<string, string>>
  } = {}
) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: {
    name,
    namespace: options.namespace ?? "default",
    uid: `uid-${name}`,
    resourceVersion: options.rv ?? "1",
    creationTimestamp: "2026-11-24T10:00:00Z",
    annotations: options.annotations,
    ownerReferences: options.owner === undefined ? undefined : [
      {
        apiVersion: options.owner.apiVersion ?? "apps/v1",
        kind: options.owner.kind,
        name: options.owner.name,
        uid: options.owner.uid ?? "owner-uid",
        controller: true
      }
    ]
  },
  spec: { containers: [{ name: "app", image: options.image ?? "ghcr.io/octo/app:1.0" }] },
  status: {
    phase: options.phase ?? "Running",
    containerStatuses: [{
      name: "app",
      imageID: `ghcr.io/octo/app@sha256:${options.digest ?? "a".repeat(64)}`
    }]
  }
})

/** A workload or owner object as the metadata API sends it (PartialObjectMetadata). */
export const metaJson = (
  name: string,
  uid: string,
  options: {
    readonly namespace?: string
    readonly rv?: string
    readonly owner?: { readonly kind: string; readonly name: string; readonly uid: string; readonly apiVersion?: string }
    readonly annotations?: Readonly<Record<string, string>>
    readonly deleting?: boolean
  } = {}
) => ({
  apiVersion: "meta.k8s.io/v1",
  kind: "PartialObjectMetadata",
  metadata: {
    name,
    namespace: options.namespace ?? "default",
    uid,
    resourceVersion: options.rv ?? "1",
    annotations: options.annotations,
    deletionTimestamp: options.deleting === true ? "2026-11-24T10:00:00Z" : undefined,
    ownerReferences: options.owner === undefined ? undefined : [
      { apiVersion: options.owner.apiVersion ?? "apps/v1", ...options.owner, controller: true }
    ]
  }
})

export const watchLine = (type: string, object: unknown) => JSON.stringify({ type, object }) + "\n"

const NAMESPACES = "/api/v1/namespaces"

/** A Namespace as the metadata API sends it (cluster-scoped: no namespace). */
export const namespaceJson = (name: string, options: { readonly rv?: string; readonly annotations?: Readonly<Record<string, string>> } = {}) => ({
  apiVersion: "meta.k8s.io/v1",
  kind: "PartialObjectMetadata",
  metadata: { name, uid: `uid-ns-${name}`, resourceVersion: options.rv ?? "1", annotations: options.annotations }
})

/** Unless a test scripts the Namespaces, the cluster has the one its pods live in. */
const DEFAULT_NAMESPACE = namespaceJson("default")

export const bookmark = (rv: string) => watchLine("BOOKMARK", { kind: "Pod", metadata: { resourceVersion: rv } })

/** The bookmark that ends a streaming list's initial events: the snapshot is complete as of `rv`. */
export const initialEventsEnd = (rv: string) =>
  watchLine("BOOKMARK", {
    kind: "Pod",
    metadata: { resourceVersion: rv, annotations: { "k8s.io/initial-events-end": "true" } }
  })

/** What an API server with the WatchList feature gate off answers a streaming list. */
export const watchListForbidden = () =>
  new KubeApiError({
    status: 422,
    reason: "Invalid",
    message:
      "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled"
  })

export const expiredLine = watchLine("ERROR", {
  kind: "Status",
  code: 410,
  reason: "Expired",
  message: "too old resource version"
})

export interface RecordedCall {
  /** `watchList`: a watch with `sendInitialEvents=true` (a streaming list). */
  readonly kind: "list" | "watch" | "watchList"
  readonly path: string
  readonly query: Query
}

export type ListAnswer = { readonly items: ReadonlyArray<unknown>; readonly rv: string; readonly continue?: string } | KubeApiError
/**
 * Lines then close; an error; an open silent connection; or lines fed live
 * by the test (a Stream, e.g. from a Queue, which may end in a failure).
 */
export type WatchAnswer = ReadonlyArray<string> | KubeApiError | "hang" | Stream.Stream<string, KubeApiError>

/**
 * A scripted Kubernetes API: list calls and watch calls take the next
 * scripted answer in order. A watch answer is the lines the server sends
 * before closing the connection; once the script runs out, watches hang
 * (an idle but open connection). Streaming lists (watches with
 * `sendInitialEvents=true`) take theirs from `watchLists`; without that
 * script the server is one with the WatchList feature gate off (422).
 */
export const fakeKubeApi = (script: {
  lists: Array<ListAnswer>
  watches: Array<WatchAnswer>
  watchLists?: Array<WatchAnswer>
  /** Single objects served by GET (e.g. workloads); any other GET is 404. */
  objects?: Map<string, unknown>
  /**
   * Other collections (workload kinds) by path, e.g. `/apis/apps/v1/deployments`:
   * their lists and watches, in order. Collections not here list as empty
   * and watch silently.
   */
  collections?: Map<string, { lists: Array<ListAnswer>; watches: Array<WatchAnswer>; watchLists?: Array<WatchAnswer> }>
}) => {
  const calls: Array<RecordedCall> = []
  // A collection's last scripted list answers every later list too (a probe, a relist).
  const nextCollectionList = (path: string) => {
    const lists = script.collections?.get(path)?.lists
    return lists !== undefined && lists.length > 1 ? lists.shift() : lists?.[0]
  }
  const layer = Layer.succeed(KubeApi, {
    server: "https://fake",
    send: () => Effect.fail(new KubeApiError({ status: 405, reason: "MethodNotAllowed", message: "writes are not scripted" })),
    getJson: (path, query) =>
      Effect.suspend(() => {
        const isPods = path.endsWith("/pods")
        if (!isPods && query["limit"] === undefined) {
          const object = script.objects?.get(path)
          return object === undefined
            ? Effect.fail(new KubeApiError({ status: 404, reason: "NotFound", message: `${path} not found` }))
            : Effect.succeed(object)
        }
        calls.push({ kind: "list", path, query })
        const next = isPods
          ? script.lists.shift()
          : (nextCollectionList(path) ?? { items: path === NAMESPACES ? [DEFAULT_NAMESPACE] : [], rv: "1" })
        if (next === undefined) return Effect.fail(new KubeApiError({ status: 0, reason: "Transport", message: "no more lists" }))
        if (next instanceof KubeApiError) return Effect.fail(next)
        return Effect.succeed({
          kind: "PodList",
          metadata: { resourceVersion: next.rv, continue: next.continue },
          items: next.items
        })
      }),
    stream: (path, query) =>
      Stream.suspend(() => {
        const streaming = query["sendInitialEvents"] === "true"
        calls.push({ kind: streaming ? "watchList" : "watch", path, query })
        const source = path.endsWith("/pods") ? script : script.collections?.get(path)
        const answers = streaming ? source?.watchLists : source?.watches
        if (streaming && answers === undefined) return Stream.fail(watchListForbidden())
        const next = answers?.shift() ?? "hang"
        if (next === "hang") return Stream.never
        if (next instanceof KubeApiError) return Stream.fail(next)
        const encoder = new TextEncoder()
        if (Stream.StreamTypeId in next) return (next as Stream.Stream<string, KubeApiError>).pipe(Stream.map((line) => encoder.encode(line)))
        return Stream.fromIterable((next as ReadonlyArray<string>).map((line) => encoder.encode(line)))
      })
  })
  return { layer, calls }
}

import { Context, Data, Effect, Layer, Stream } from "effect"
import { Config } from "../config/Config.ts"
import { Liveness } from "../observability/Liveness.ts"
import { Metrics } from "../observability/Metrics.ts"
import { KubeApi } from "./KubeApi.ts"
import { type ObjectMeta, projectObjectMeta } from "./ObjectMeta.ts"
import { type Delta, makeReflector } from "./Reflector.ts"
import { namespaceCollection } from "./resources.ts"

/** `-namespace-selector` needs Namespaces listed, and this service account may not list them. */
export class NamespacesForbidden extends Data.TaggedError("NamespacesForbidden")<{
  readonly setting: string
  readonly message: string
}> {}

/**
 * Namespaces, metadata only (labels stay on the server: `-namespace-selector`
 * is applied by the watch; annotations say the environments and opt-outs).
 * Without the right to list Namespaces and without a selector, the tracker
 * runs as the original does: every namespace, the tracker's environments.
 */
export interface NamespaceWatchService {
  /** `on`: Namespaces are watched (only the selected ones, with a selector); `off`: not allowed, every namespace counts. */
  readonly mode: "on" | "off"
  readonly selector: boolean
  readonly lookup: (name: string) => ObjectMeta | undefined
  readonly synced: Effect.Effect<void>
  readonly deltas: Stream.Stream<Delta<ObjectMeta>>
  readonly size: () => number
}

export class NamespaceWatch extends Context.Tag("deployment-tracker/NamespaceWatch")<NamespaceWatch, NamespaceWatchService>() {}

export const makeNamespaceWatch = Effect.gen(function*() {
  const config = yield* Config
  const api = yield* KubeApi
  const metrics = yield* Metrics
  const liveness = yield* Liveness
  const { fieldSelector, path } = namespaceCollection(config.namespaces)
  const labelSelector = config.namespaceSelector._tag === "Some" ? config.namespaceSelector.value : undefined
  const query = {
    limit: "1",
    ...(fieldSelector === undefined ? {} : { fieldSelector }),
    ...(labelSelector === undefined ? {} : { labelSelector })
  }
  // One small list first: whether this service account may list Namespaces.
  // A refusal (403, or any other 4xx: nothing a retry would change) turns the
  // feature off; a transient failure is the reflector's to retry.
  const allowed = yield* api.getJson(path, query, { as: "metadata" }).pipe(
    Effect.as(true),
    Effect.catchIf((e) => e.status >= 400 && e.status < 500 && e.status !== 429, () => Effect.succeed(false)),
    Effect.orElseSucceed(() => true)
  )
  if (!allowed) {
    if (labelSelector !== undefined) {
      return yield* new NamespacesForbidden({
        setting: "-namespace-selector",
        message: "Namespaces cannot be listed by this service account (add get, list, watch on namespaces to its ClusterRole)"
      })
    }
    yield* Effect.logWarning(
      "Namespaces cannot be listed (RBAC): every namespace is reported under the tracker's own environments; the deployment-tracker/* Namespace annotations are not read"
    )
    return {
      mode: "off",
      selector: false,
      lookup: () => undefined,
      synced: Effect.void,
      deltas: Stream.empty,
      size: () => 0
    } satisfies NamespaceWatchService
  }
  const reflector = yield* makeReflector<ObjectMeta>({
    path,
    fieldSelector,
    labelSelector,
    representation: "metadata",
    project: (raw) => projectObjectMeta("Namespace", raw, ""),
    keyOf: (meta) => meta.name,
    resourceVersionOf: (meta) => meta.resourceVersion,
    progress: liveness.watch("namespaces"),
    onInvalid: (reason) =>
      Effect.sync(() => metrics.watchObjectInvalid.inc()).pipe(
        Effect.zipRight(Effect.logWarning("Skipping an unreadable object from the Namespace watch").pipe(Effect.annotateLogs({ reason })))
      ),
    onRestart: (reason) => Effect.sync(() => metrics.watchRestart(reason))
  })
  return {
    mode: "on",
    selector: labelSelector !== undefined,
    lookup: reflector.get,
    synced: reflector.synced,
    deltas: reflector.deltas,
    size: reflector.size
  } satisfies NamespaceWatchService
})

export const NamespaceWatchLive: Layer.Layer<NamespaceWatch, NamespacesForbidden, Config | KubeApi | Metrics | Liveness> = Layer.effect(
  NamespaceWatch,
  makeNamespaceWatch
)

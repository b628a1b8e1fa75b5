import { Context, Effect, Layer, Stream } from "effect"
import { Config, type NamespaceScope } from "../config/Config.ts"
import type { KubeApi } from "../kube/KubeApi.ts"
import { type Delta, makeReflector, type Reflector } from "../kube/Reflector.ts"
import { Liveness } from "../observability/Liveness.ts"
import { Metrics } from "../observability/Metrics.ts"
import { metaKey, type ObjectMeta, objectKey, projectObjectMeta } from "./ObjectMeta.ts"

/** A workload kind the controller watches, with where its collection lives. */
export interface WatchedKind {
  readonly kind: string
  readonly apiVersion: string
  readonly plural: string
}

/**
 * The kinds whose deletion decommissions their deployment names. ReplicaSets
 * are not here: they are read on demand (a Deployment's ReplicaSets are many
 * and short-lived, and a bare one is rare), as are custom owners such as Argo
 * Rollouts, whose API may not even be installed.
 */
export const WATCHED_KINDS: ReadonlyArray<WatchedKind> = [
  { kind: "Deployment", apiVersion: "apps/v1", plural: "deployments" },
  { kind: "DaemonSet", apiVersion: "apps/v1", plural: "daemonsets" },
  { kind: "StatefulSet", apiVersion: "apps/v1", plural: "statefulsets" },
  { kind: "Job", apiVersion: "batch/v1", plural: "jobs" },
  { kind: "CronJob", apiVersion: "batch/v1", plural: "cronjobs" }
]

/** `/api/v1` for the core group, `/apis/<group>/<version>` for the others. */
export const apiPrefix = (apiVersion: string): string => apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`

/** A collection path and field selector for a namespace scope, applied by the server (as for pods). */
export const collectionFor = (
  scope: NamespaceScope,
  apiVersion: string,
  plural: string
): { readonly path: string; readonly fieldSelector: string | undefined } => {
  const prefix = apiPrefix(apiVersion)
  switch (scope._tag) {
    case "All":
      return { path: `${prefix}/${plural}`, fieldSelector: undefined }
    case "Only":
      return { path: `${prefix}/namespaces/${encodeURIComponent(scope.namespace)}/${plural}`, fieldSelector: undefined }
    case "Exclude":
      return { path: `${prefix}/${plural}`, fieldSelector: scope.namespaces.map((ns) => `metadata.namespace!=${ns}`).join(",") }
  }
}

/** A change to a watched workload, tagged with its kind. */
export type WorkloadDelta = Delta<ObjectMeta>

/**
 * Slim (metadata-only) caches of every watched workload kind. `deltas`
 * drives the list/watch loops and must be run once (by the controller);
 * `lookup` answers from whatever has been seen so far.
 */
export class WorkloadWatches extends Context.Tag("deployment-tracker/WorkloadWatches")<WorkloadWatches, {
  readonly lookup: (kind: string, namespace: string, name: string) => ObjectMeta | undefined
  readonly isWatched: (kind: string) => boolean
  /** Completes once every kind's first list is in its cache. */
  readonly synced: Effect.Effect<void>
  readonly deltas: Stream.Stream<WorkloadDelta>
  readonly size: () => number
}>() {}

export const makeWorkloadWatches = Effect.gen(function*() {
  const config = yield* Config
  const metrics = yield* Metrics
  const liveness = yield* Liveness
  const reflectors = new Map<string, Reflector<ObjectMeta>>()
  for (const watched of WATCHED_KINDS) {
    const { fieldSelector, path } = collectionFor(config.namespaces, watched.apiVersion, watched.plural)
    const reflector = yield* makeReflector<ObjectMeta>({
      path,
      fieldSelector,
      representation: "metadata",
      project: (raw) => projectObjectMeta(watched.kind, raw),
      keyOf: metaKey,
      resourceVersionOf: (meta) => meta.resourceVersion,
      progress: liveness.watch(watched.plural),
      onInvalid: (reason) =>
        Effect.sync(() => metrics.watchObjectInvalid.inc()).pipe(
          Effect.zipRight(Effect.logWarning(`Skipping an unreadable object from the ${watched.kind} watch`).pipe(
            Effect.annotateLogs({ reason })
          ))
        ),
      onRestart: (reason) => Effect.sync(() => metrics.watchRestart(reason))
    })
    reflectors.set(watched.kind, reflector)
  }
  const all = [...reflectors.values()]
  return WorkloadWatches.of({
    lookup: (kind, namespace, name) => reflectors.get(kind)?.get(objectKey(kind, namespace, name)),
    isWatched: (kind) => reflectors.has(kind),
    synced: Effect.forEach(all, (r) => r.synced, { concurrency: "unbounded", discard: true }),
    deltas: Stream.mergeAll(all.map((r) => r.deltas), { concurrency: "unbounded" }),
    size: () => all.reduce((sum, r) => sum + r.size(), 0)
  })
})

export const WorkloadWatchesLive: Layer.Layer<WorkloadWatches, never, Config | Metrics | Liveness | KubeApi> = Layer.effect(
  WorkloadWatches,
  makeWorkloadWatches
)

import { Context, Effect, Layer, Stream } from "effect"
import { Config } from "../config/Config.ts"
import type { KubeApi } from "./KubeApi.ts"
import { type Delta, makeReflector, type Reflector } from "./Reflector.ts"
import { collectionFor, WATCHED_KINDS } from "./resources.ts"
import { Liveness } from "../observability/Liveness.ts"
import { Metrics } from "../observability/Metrics.ts"
import { metaKey, type ObjectMeta, objectKey, projectObjectMeta } from "./ObjectMeta.ts"

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
    const { fieldSelector, path } = collectionFor(config.namespaces, watched)
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

import { Effect, Layer, Stream } from "effect"
import { type ObjectMeta, objectKey } from "../../src/kube/ObjectMeta.ts"
import { WATCHED_KINDS } from "../../src/kube/resources.ts"
import { WorkloadWatches } from "../../src/kube/WorkloadWatches.ts"

/**
 * Workload caches that hold a fixed set of objects and never change: for
 * resolver tests that exercise lookups without running watches. With no
 * objects, every lookup misses and the resolver falls back to GETs.
 */
export const fixedWorkloadWatches = (objects: ReadonlyArray<ObjectMeta> = []) => {
  const byKey = new Map(objects.map((meta) => [objectKey(meta.kind, meta.namespace, meta.name), meta]))
  return Layer.succeed(
    WorkloadWatches,
    WorkloadWatches.of({
      lookup: (kind, namespace, name) => byKey.get(objectKey(kind, namespace, name)),
      isWatched: (kind) => WATCHED_KINDS.some((watched) => watched.kind === kind),
      synced: Effect.void,
      deltas: Stream.empty,
      size: () => byKey.size
    })
  )
}

import { Cache, Data, Duration, Effect, Either, Exit } from "effect"
import { Config } from "../config/Config.ts"
import { Metrics } from "../observability/Metrics.ts"
import { makeThrottle } from "../support/throttle.ts"
import { KubeApi, type KubeApiError } from "./KubeApi.ts"
import type { ObjectRef } from "./ObjectIdentity.ts"
import { type ObjectMeta, projectObjectMeta } from "./ObjectMeta.ts"
import { objectPath } from "./resources.ts"

export type { ObjectRef } from "./ObjectIdentity.ts"


/**
 * What a read found. A refusal (403, an unknown kind) is an answer, not an
 * error: asking again soon would be refused again. Only transient failures
 * (transport, throttling, 5xx) fail the read.
 */
export type MetadataRead =
  | { readonly _tag: "Found"; readonly meta: ObjectMeta }
  | { readonly _tag: "Absent" }
  | { readonly _tag: "Unreadable"; readonly reason: string }

/** Owners change rarely; a minute keeps the pods of one ReplicaSet to one read. */
export const METADATA_CACHE_TTL = Duration.seconds(60)
/** Bounds memory on clusters with many owners; the least recently used go first. */
export const METADATA_CACHE_CAPACITY = 4096

const isTransient = (error: KubeApiError): boolean => error.status === 0 || error.status === 429 || error.status >= 500

const ABSENT: MetadataRead = { _tag: "Absent" }

/**
 * Reads single objects through the metadata API (PartialObjectMetadata):
 * owners that are not watched (ReplicaSets, custom owners) and watched ones
 * a cache has not seen yet. Answers are kept for a minute and concurrent
 * reads of one object share one request; all reads together stay within
 * `-kube-api-qps` / `-kube-api-burst`, so a burst of new pods cannot flood
 * the API server.
 */
export class MetadataReader extends Effect.Service<MetadataReader>()("deployment-tracker/MetadataReader", {
  scoped: Effect.gen(function*() {
    const api = yield* KubeApi
    const config = yield* Config
    const metrics = yield* Metrics
    const throttle = yield* makeThrottle(config.kubeApiQps, config.kubeApiBurst)

    const fetch = (ref: ObjectRef): Effect.Effect<MetadataRead, KubeApiError> => {
      const path = objectPath(ref.kind, ref.apiVersion, ref.namespace, ref.name)
      if (path === undefined) return Effect.succeed({ _tag: "Unreadable", reason: `no apiVersion for ${ref.kind}` })
      return throttle(api.getJson(path, {}, { as: "metadata" })).pipe(
        Effect.map((json): MetadataRead => {
          const projected = projectObjectMeta(ref.kind, json)
          return projected.ok
            ? { _tag: "Found", meta: projected.value }
            : { _tag: "Unreadable", reason: `${path}: ${projected.reason}` }
        }),
        Effect.catchIf(
          (error) => !isTransient(error),
          (error): Effect.Effect<MetadataRead> =>
            Effect.succeed(error.status === 404 ? ABSENT : { _tag: "Unreadable", reason: `HTTP ${error.status}: ${error.message}` })
        ),
        Effect.tapBoth({
          onSuccess: (read) => Effect.sync(() => metrics.metadataRead(ref.kind, read._tag === "Found" ? "found" : read._tag === "Absent" ? "absent" : "unreadable")),
          onFailure: () => Effect.sync(() => metrics.metadataRead(ref.kind, "error"))
        })
      )
    }

    const cache = yield* Cache.makeWith({
      capacity: METADATA_CACHE_CAPACITY,
      lookup: fetch,
      // A transient failure is not kept: the next read tries again.
      timeToLive: Exit.match({ onSuccess: () => METADATA_CACHE_TTL, onFailure: () => Duration.zero })
    })
    const cacheKey = (ref: ObjectRef): ObjectRef =>
      Data.struct({ kind: ref.kind, apiVersion: ref.apiVersion, namespace: ref.namespace, name: ref.name })

    // A failed lookup is dropped at once (not only when its zero lifetime has
    // passed on the clock): the next read asks again.
    const get = (key: ObjectRef) => cache.get(key).pipe(Effect.tapError(() => cache.invalidate(key)))

    const readFresh = (ref: ObjectRef): Effect.Effect<MetadataRead, KubeApiError> =>
      Effect.suspend(() => {
        const key = cacheKey(ref)
        return cache.invalidate(key).pipe(Effect.zipRight(get(key)))
      })

    return {
      /** The object as read within the last minute, or read now. */
      read: (ref: ObjectRef): Effect.Effect<MetadataRead, KubeApiError> => get(cacheKey(ref)),
      /** The object as it is now: for deciding that a workload is gone. */
      readFresh,
      /**
       * The cached answer when `isCurrent` accepts it, else the object as it
       * is now: a cached "absent" or "another uid" may predate a delete and
       * recreate under the same name. An answer read just now is taken as it is.
       */
      readUnlessStale: (ref: ObjectRef, isCurrent: (read: MetadataRead) => boolean): Effect.Effect<MetadataRead, KubeApiError> =>
        Effect.suspend(() => {
          const key = cacheKey(ref)
          return cache.getEither(key).pipe(
            Effect.tapError(() => cache.invalidate(key)),
            Effect.flatMap(Either.match({
              onLeft: (cached) => isCurrent(cached) ? Effect.succeed(cached) : readFresh(ref),
              onRight: Effect.succeed
            }))
          )
        })
    } as const
  })
}) {}

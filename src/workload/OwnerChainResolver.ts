import { Clock, Duration, Effect, Layer, Option } from "effect"
import { controllingOwner } from "../controller/eventRules.ts"
import { KubeApi, KubeApiError } from "../kube/KubeApi.ts"
import type { SlimOwnerReference, SlimPod } from "../kube/SlimPod.ts"
import type { AnnotationMap } from "../metadata/annotations.ts"
import { type ObjectMeta, objectKey, projectObjectMeta } from "./ObjectMeta.ts"
import { type Workload, WorkloadResolver } from "./Workload.ts"
import { apiPrefix, WATCHED_KINDS, WorkloadWatches } from "./WorkloadWatches.ts"

/**
 * What the controller needs to read, for checking the manifest's ClusterRole
 * against it: the watched workload kinds are listed and watched, ReplicaSets
 * and Argo Rollouts (the custom owner of ReplicaSets we know of) are read one
 * by one. Any other custom controller of ReplicaSets needs its own `get` rule.
 */
export const OWNER_CHAIN_RBAC_RULES: ReadonlyArray<{
  readonly apiGroups: ReadonlyArray<string>
  readonly resources: ReadonlyArray<string>
  readonly verbs: ReadonlyArray<string>
}> = [
  { apiGroups: ["apps"], resources: ["deployments", "daemonsets", "statefulsets"], verbs: ["get", "list", "watch"] },
  { apiGroups: ["apps"], resources: ["replicasets"], verbs: ["get"] },
  { apiGroups: ["batch"], resources: ["jobs", "cronjobs"], verbs: ["get", "list", "watch"] },
  { apiGroups: ["argoproj.io"], resources: ["rollouts"], verbs: ["get"] }
]

/** Owners change rarely; a minute keeps a burst of pods of one ReplicaSet to one GET. */
export const OWNER_CACHE_TTL = Duration.seconds(60)
/** Bounds memory on clusters with many ReplicaSets; oldest entries go first. */
export const OWNER_CACHE_CAPACITY = 4096

const PLURALS: Readonly<Record<string, string>> = {
  ReplicaSet: "replicasets",
  ...Object.fromEntries(WATCHED_KINDS.map((watched) => [watched.kind, watched.plural]))
}
const API_VERSIONS: Readonly<Record<string, string>> = {
  ReplicaSet: "apps/v1",
  ...Object.fromEntries(WATCHED_KINDS.map((watched) => [watched.kind, watched.apiVersion]))
}

/**
 * The object's path, or undefined for a custom kind without an apiVersion.
 * Built-in kinds use their own apiVersion whatever the reference says. For
 * custom kinds the plural is assumed to be the lower-case kind + "s", which
 * holds for Argo Rollouts (`rollouts`); irregular plurals need API
 * discovery, which is future work.
 */
export const objectPath = (kind: string, apiVersion: string, namespace: string, name: string): string | undefined => {
  const version = API_VERSIONS[kind] ?? apiVersion
  if (version === "") return undefined
  const plural = PLURALS[kind] ?? `${kind.toLowerCase()}s`
  return `${apiPrefix(version)}/namespaces/${encodeURIComponent(namespace)}/${plural}/${encodeURIComponent(name)}`
}

export const workloadPath = (workload: Pick<Workload, "kind" | "apiVersion" | "namespace" | "name">): string | undefined =>
  objectPath(workload.kind, workload.apiVersion, workload.namespace, workload.name)

interface CacheEntry {
  readonly meta: ObjectMeta
  readonly expiresAt: number
}

const isNotFound = (e: KubeApiError): boolean => e.status === 404

/**
 * A Deployment names its ReplicaSets `<deployment>-<pod-template-hash>`. Used
 * only when the ReplicaSet is gone and its owner cannot be read.
 */
const deploymentOfReplicaSetName = (name: string): string | undefined => {
  const cut = name.lastIndexOf("-")
  return cut > 0 ? name.slice(0, cut) : undefined
}

/** A CronJob names its Jobs `<cronjob>-<scheduled time in minutes>`. */
const cronJobOfJobName = (name: string): string | undefined => /^(.+)-\d+$/.exec(name)?.[1]

/**
 * Follows a pod's controlling owners up to its workload:
 * ReplicaSet -> Deployment (or a custom owner such as an Argo Rollout, or
 * the ReplicaSet itself when bare); DaemonSet and StatefulSet directly;
 * Job -> CronJob (or the Job itself). Watched kinds are answered from the
 * workload caches, falling back to a GET while a cache has not seen the
 * object yet; ReplicaSets and custom owners are read with GETs (metadata
 * only) and kept for a minute.
 */
export const makeOwnerChainResolver: Effect.Effect<WorkloadResolver["Type"], never, KubeApi | WorkloadWatches> = Effect
  .gen(
    function*() {
      const api = yield* KubeApi
      const watches = yield* WorkloadWatches
      // Keyed by kind/namespace/name; the uid is checked on read because names
      // are reused. A plain Map touched only inside Effect.sync: copying it per
      // insert (a Ref of an immutable map) would cost O(capacity) per miss.
      const cache = new Map<string, CacheEntry>()

      /** GET of one object's metadata; None when it does not exist. */
      const getMeta = (kind: string, apiVersion: string, namespace: string, name: string) =>
        Effect.gen(function*() {
          const path = objectPath(kind, apiVersion, namespace, name)
          if (path === undefined) {
            return yield* new KubeApiError({
              status: 0,
              reason: "UnknownKind",
              message: `no API path for ${kind} ${namespace}/${name} (missing apiVersion)`
            })
          }
          const json = yield* api.getJson(path, {}, { as: "metadata" }).pipe(
            Effect.asSome,
            Effect.catchIf(isNotFound, () => Effect.succeedNone)
          )
          if (Option.isNone(json)) return Option.none<ObjectMeta>()
          const projected = projectObjectMeta(kind, json.value)
          if (!projected.ok) {
            return yield* new KubeApiError({ status: 0, reason: "Decode", message: `${path}: ${projected.reason}` })
          }
          return Option.some(projected.value)
        })

      /** Keeps what a GET found, so later reads within the TTL need none. */
      const remember = (meta: ObjectMeta, now: number) =>
        Effect.sync(() => {
          const key = objectKey(meta.kind, meta.namespace, meta.name)
          // Re-inserting moves the key to the end, so the first key is the oldest.
          cache.delete(key)
          while (cache.size >= OWNER_CACHE_CAPACITY) {
            const oldest = cache.keys().next()
            if (oldest.done === true) break
            cache.delete(oldest.value)
          }
          cache.set(key, { meta, expiresAt: now + Duration.toMillis(OWNER_CACHE_TTL) })
        })

      /** A GET whose answer (when the object exists) replaces the cache entry. */
      const getAndRemember = (kind: string, apiVersion: string, namespace: string, name: string) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const read = yield* getMeta(kind, apiVersion, namespace, name)
          if (Option.isSome(read)) yield* remember(read.value, now)
          return read
        })

      /** The object as last read by GET, while that entry is fresh. */
      const cachedMeta = (kind: string, namespace: string, name: string) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const cached = yield* Effect.sync(() => cache.get(objectKey(kind, namespace, name)))
          return cached !== undefined && cached.expiresAt > now ? Option.some(cached.meta) : Option.none<ObjectMeta>()
        })

      /**
       * What is known of an object without asking the API: its watch cache,
       * else the GET cache (which also covers watched kinds while their
       * watch has not caught up, e.g. right after start).
       */
      const known = (kind: string, namespace: string, name: string) => {
        const watched = watches.isWatched(kind) ? watches.lookup(kind, namespace, name) : undefined
        return watched !== undefined ? Effect.succeedSome(watched) : cachedMeta(kind, namespace, name)
      }

      /** A GET, remembered for a minute. */
      const read = getAndRemember

      /** An object by name: from its watch cache or the GET cache when known, else read. */
      const findByName = (kind: string, apiVersion: string, namespace: string, name: string) =>
        known(kind, namespace, name).pipe(
          // Not seen yet (a watch cache lags the pod watch): ask the API.
          Effect.flatMap((seen) => Option.isSome(seen) ? Effect.succeed(seen) : read(kind, apiVersion, namespace, name))
        )

      /**
       * The object an owner reference points at, or None when it is gone
       * (absent, or the name now belongs to an object with another uid).
       * A known entry with another uid is stale (or the object was
       * recreated): one GET settles it, and its answer replaces the entry.
       */
      const readOwner = (namespace: string, owner: SlimOwnerReference) =>
        known(owner.kind, namespace, owner.name).pipe(
          Effect.flatMap((seen) =>
            Option.isSome(seen) && seen.value.uid === owner.uid
              ? Effect.succeed(seen)
              : read(owner.kind, owner.apiVersion, namespace, owner.name).pipe(
                Effect.map(Option.filter((meta) => meta.uid === owner.uid))
              )
          )
        )

      const workloadOf = (
        namespace: string,
        owner: Pick<SlimOwnerReference, "kind" | "name" | "apiVersion" | "uid">,
        ownerAnnotations: ReadonlyArray<AnnotationMap>
      ): Workload => ({
        kind: owner.kind,
        name: owner.name,
        namespace,
        apiVersion: API_VERSIONS[owner.kind] ?? owner.apiVersion,
        uid: owner.uid,
        ownerAnnotations
      })

      /** The top of the chain above `below` (a ReplicaSet or Job whose controller is `top`). */
      const withTop = (namespace: string, below: ObjectMeta, top: SlimOwnerReference) =>
        readOwner(namespace, top).pipe(
          Effect.map((found) =>
            workloadOf(namespace, top, [
              below.annotations,
              ...(Option.isSome(found) ? [found.value.annotations] : [])
            ])
          )
        )

      const resolveReplicaSet = (namespace: string, owner: SlimOwnerReference) =>
        readOwner(namespace, owner).pipe(Effect.flatMap(Option.match({
          onSome: (replicaSet) =>
            replicaSet.controller === undefined
              ? Effect.succeed(workloadOf(namespace, owner, [replicaSet.annotations]))
              : withTop(namespace, replicaSet, replicaSet.controller),
          onNone: () => {
            // The ReplicaSet is gone, so its owner cannot be read: fall back
            // on its name. The uid is unknown ("").
            const deployment = deploymentOfReplicaSetName(owner.name)
            return Effect.succeed(
              deployment === undefined
                ? workloadOf(namespace, owner, [])
                : workloadOf(namespace, { kind: "Deployment", name: deployment, apiVersion: "apps/v1", uid: "" }, [])
            )
          }
        })))

      const resolveJob = (namespace: string, owner: SlimOwnerReference) =>
        readOwner(namespace, owner).pipe(Effect.flatMap(Option.match({
          onSome: (job) =>
            job.controller !== undefined && job.controller.kind === "CronJob"
              ? withTop(namespace, job, job.controller)
              : Effect.succeed(workloadOf(namespace, owner, [job.annotations])),
          onNone: () => {
            const cronJobName = cronJobOfJobName(owner.name)
            if (cronJobName === undefined) return Effect.succeed(workloadOf(namespace, owner, []))
            return findByName("CronJob", "batch/v1", namespace, cronJobName).pipe(
              Effect.map(Option.match({
                onSome: (cronJob) =>
                  workloadOf(namespace, { kind: "CronJob", name: cronJob.name, apiVersion: "batch/v1", uid: cronJob.uid }, [
                    cronJob.annotations
                  ]),
                onNone: () => workloadOf(namespace, owner, [])
              }))
            )
          }
        })))

      const resolve = (pod: SlimPod): Effect.Effect<Option.Option<Workload>, KubeApiError> => {
        const owner = controllingOwner(pod)
        if (owner === undefined) return Effect.succeedNone
        const group = owner.apiVersion.split("/")[0]
        const namespace = pod.namespace
        if (group === "apps") {
          switch (owner.kind) {
            case "ReplicaSet":
              return Effect.asSome(resolveReplicaSet(namespace, owner))
            case "DaemonSet":
            case "StatefulSet":
              return readOwner(namespace, owner).pipe(
                Effect.map((found) =>
                  Option.some(workloadOf(namespace, owner, Option.isSome(found) ? [found.value.annotations] : []))
                )
              )
          }
        }
        if (group === "batch" && owner.kind === "Job") return Effect.asSome(resolveJob(namespace, owner))
        // Bare, static (owned by a Node) or custom-controlled pods are not tracked.
        return Effect.succeedNone
      }

      const isActive = (workload: Workload): Effect.Effect<boolean, KubeApiError> =>
        getMeta(workload.kind, workload.apiVersion, workload.namespace, workload.name).pipe(
          Effect.map(Option.match({
            onNone: () => false,
            // Foreground cascading deletion keeps the object, with a deletion
            // timestamp, until its pods are gone: that is already "gone".
            onSome: (meta) => !meta.deleting && (workload.uid === "" || meta.uid === workload.uid)
          }))
        )

      return { resolve, isActive }
    }
  )

export const OwnerChainResolverLive = Layer.effect(WorkloadResolver, makeOwnerChainResolver)

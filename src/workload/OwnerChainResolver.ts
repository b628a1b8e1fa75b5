import { Clock, Duration, Effect, Layer, Option, Schema } from "effect"
import { controllingOwner } from "../controller/eventRules.ts"
import { KubeApi, KubeApiError } from "../kube/KubeApi.ts"
import type { SlimOwnerReference, SlimPod } from "../kube/SlimPod.ts"
import { type Workload, WorkloadResolver } from "./Workload.ts"

/**
 * A workload with the API version it was found under. Custom kinds (an Argo
 * Rollout owning a ReplicaSet) have no path of their own in this module, so
 * `isActive` builds it from `apiVersion`; `resolve` always returns these.
 */
export interface ResolvedWorkload extends Workload {
  readonly apiVersion: string
}

/**
 * What the resolver needs to `get`, for checking the manifest's ClusterRole
 * against it. Argo Rollouts is the custom kind we know of; any other custom
 * controller of ReplicaSets needs its own rule for `isActive`.
 */
export const OWNER_CHAIN_RBAC_RULES: ReadonlyArray<{
  readonly apiGroups: ReadonlyArray<string>
  readonly resources: ReadonlyArray<string>
  readonly verbs: ReadonlyArray<string>
}> = [
  { apiGroups: ["apps"], resources: ["replicasets", "deployments", "daemonsets", "statefulsets"], verbs: ["get"] },
  { apiGroups: ["batch"], resources: ["jobs", "cronjobs"], verbs: ["get"] },
  { apiGroups: ["argoproj.io"], resources: ["rollouts"], verbs: ["get"] }
]

/** Owners change rarely; a minute keeps a burst of pods of one ReplicaSet to one GET. */
export const OWNER_CACHE_TTL = Duration.seconds(60)
/** Bounds memory on clusters with many ReplicaSets and Jobs; oldest entries go first. */
export const OWNER_CACHE_CAPACITY = 4096

/** Paths of the built-in kinds, whatever apiVersion the caller carries. */
const KNOWN_COLLECTIONS: Readonly<Record<string, { readonly apiVersion: string; readonly plural: string }>> = {
  Deployment: { apiVersion: "apps/v1", plural: "deployments" },
  DaemonSet: { apiVersion: "apps/v1", plural: "daemonsets" },
  StatefulSet: { apiVersion: "apps/v1", plural: "statefulsets" },
  ReplicaSet: { apiVersion: "apps/v1", plural: "replicasets" },
  Job: { apiVersion: "batch/v1", plural: "jobs" },
  CronJob: { apiVersion: "batch/v1", plural: "cronjobs" }
}

const objectPath = (apiVersion: string, plural: string, namespace: string, name: string): string => {
  // The core group ("v1") lives under /api, named groups under /apis.
  const prefix = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`
  return `${prefix}/namespaces/${encodeURIComponent(namespace)}/${plural}/${encodeURIComponent(name)}`
}

/**
 * The object's path, or undefined for a custom kind without an apiVersion.
 * For custom kinds the plural is assumed to be the lower-case kind + "s",
 * which holds for Argo Rollouts (`rollouts`); irregular plurals need API
 * discovery, which is future work.
 */
export const workloadPath = (workload: Workload | ResolvedWorkload): string | undefined => {
  const known = KNOWN_COLLECTIONS[workload.kind]
  if (known !== undefined) return objectPath(known.apiVersion, known.plural, workload.namespace, workload.name)
  if (!("apiVersion" in workload) || workload.apiVersion === "") return undefined
  return objectPath(workload.apiVersion, `${workload.kind.toLowerCase()}s`, workload.namespace, workload.name)
}

/** The part of an object the chain needs: its identity and controlling owner. */
const ObjectMeta = Schema.Struct({
  metadata: Schema.Struct({
    uid: Schema.String,
    ownerReferences: Schema.optional(Schema.NullOr(Schema.Array(Schema.Struct({
      apiVersion: Schema.String,
      kind: Schema.String,
      name: Schema.String,
      uid: Schema.String,
      controller: Schema.optional(Schema.NullOr(Schema.Boolean))
    }))))
  })
})

interface OwnerMeta {
  readonly uid: string
  readonly controller: SlimOwnerReference | undefined
}

interface CacheEntry {
  readonly meta: OwnerMeta
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

export const makeOwnerChainResolver: Effect.Effect<WorkloadResolver["Type"], never, KubeApi> = Effect.gen(
  function*() {
    const api = yield* KubeApi
    // Per resolver instance, keyed by namespace/kind/name; the uid is checked
    // on read because names are reused after delete and recreate. A plain Map
    // touched only inside Effect.sync: copying it per insert (a Ref of an
    // immutable map) would cost O(capacity) per miss.
    const cache = new Map<string, CacheEntry>()

    /**
     * The owner's metadata, or None when the object the reference points at
     * is gone (404, or the name now belongs to an object with another uid).
     * The full object is read and only `metadata` kept: getJson always sends
     * `accept: application/json`; asking for PartialObjectMetadata is a later
     * optimisation.
     */
    const readOwner = (
      namespace: string,
      owner: SlimOwnerReference,
      plural: "replicasets" | "jobs"
    ): Effect.Effect<Option.Option<OwnerMeta>, KubeApiError> =>
      Effect.gen(function*() {
        const key = `${namespace}/${owner.kind}/${owner.name}`
        const now = yield* Clock.currentTimeMillis
        const cached = yield* Effect.sync(() => cache.get(key))
        if (cached !== undefined && cached.expiresAt > now && cached.meta.uid === owner.uid) {
          return Option.some(cached.meta)
        }
        const path = objectPath(owner.apiVersion, plural, namespace, owner.name)
        const read = yield* api.getJson(path, {}).pipe(
          Effect.flatMap((json) =>
            Schema.decodeUnknown(ObjectMeta)(json).pipe(
              Effect.mapError((e) =>
                new KubeApiError({ status: 0, reason: "Decode", message: `${path}: unexpected object: ${e.message}` })
              )
            )
          ),
          Effect.asSome,
          Effect.catchIf(isNotFound, () => Effect.succeedNone)
        )
        if (Option.isNone(read)) return Option.none()
        const metadata = read.value.metadata
        const controller = (metadata.ownerReferences ?? []).find((ref) => ref.controller === true)
        const meta: OwnerMeta = {
          uid: metadata.uid,
          controller: controller === undefined ? undefined : { ...controller, controller: true }
        }
        yield* Effect.sync(() => {
          // Re-inserting moves the key to the end, so the first key is the oldest.
          cache.delete(key)
          while (cache.size >= OWNER_CACHE_CAPACITY) {
            const oldest = cache.keys().next()
            if (oldest.done === true) break
            cache.delete(oldest.value)
          }
          cache.set(key, { meta, expiresAt: now + Duration.toMillis(OWNER_CACHE_TTL) })
        })
        // Same name, another object: the one the pod was made by is gone.
        return meta.uid === owner.uid ? Option.some(meta) : Option.none()
      })

    const resolveReplicaSet = (namespace: string, owner: SlimOwnerReference) =>
      readOwner(namespace, owner, "replicasets").pipe(Effect.map(Option.match({
        onSome: ({ controller }): ResolvedWorkload =>
          controller === undefined
            ? { kind: "ReplicaSet", name: owner.name, namespace, apiVersion: owner.apiVersion }
            : { kind: controller.kind, name: controller.name, namespace, apiVersion: controller.apiVersion },
        onNone: (): ResolvedWorkload => {
          const deployment = deploymentOfReplicaSetName(owner.name)
          return deployment === undefined
            ? { kind: "ReplicaSet", name: owner.name, namespace, apiVersion: owner.apiVersion }
            : { kind: "Deployment", name: deployment, namespace, apiVersion: "apps/v1" }
        }
      })))

    const ownJob = (namespace: string, owner: SlimOwnerReference): ResolvedWorkload => ({
      kind: "Job",
      name: owner.name,
      namespace,
      apiVersion: owner.apiVersion
    })

    const resolveJob = (namespace: string, owner: SlimOwnerReference) =>
      readOwner(namespace, owner, "jobs").pipe(Effect.flatMap(Option.match({
        onSome: ({ controller }) =>
          Effect.succeed<ResolvedWorkload>(
            controller !== undefined && controller.kind === "CronJob"
              ? { kind: "CronJob", name: controller.name, namespace, apiVersion: controller.apiVersion }
              : ownJob(namespace, owner)
          ),
        onNone: () => {
          const cronJob = cronJobOfJobName(owner.name)
          if (cronJob === undefined) return Effect.succeed(ownJob(namespace, owner))
          // Not cached: this only runs for pods of Jobs that are already gone.
          return api.getJson(objectPath("batch/v1", "cronjobs", namespace, cronJob), {}).pipe(
            Effect.as<ResolvedWorkload>({ kind: "CronJob", name: cronJob, namespace, apiVersion: "batch/v1" }),
            Effect.catchIf(isNotFound, () => Effect.succeed(ownJob(namespace, owner)))
          )
        }
      })))

    const resolve = (pod: SlimPod): Effect.Effect<Option.Option<ResolvedWorkload>, KubeApiError> => {
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
            return Effect.succeedSome({ kind: owner.kind, name: owner.name, namespace, apiVersion: owner.apiVersion })
        }
      }
      if (group === "batch" && owner.kind === "Job") return Effect.asSome(resolveJob(namespace, owner))
      // Bare, static (owned by a Node) or custom-controlled pods are not tracked.
      return Effect.succeedNone
    }

    const isActive = (workload: Workload): Effect.Effect<boolean, KubeApiError> => {
      const path = workloadPath(workload)
      // Without a path we cannot find out; saying "gone" would decommission on a guess.
      if (path === undefined) {
        return Effect.fail(
          new KubeApiError({
            status: 0,
            reason: "UnknownKind",
            message: `no API path for ${workload.kind} ${workload.namespace}/${workload.name} (missing apiVersion)`
          })
        )
      }
      return api.getJson(path, {}).pipe(
        Effect.map((object) => {
          const metadata = (object as { metadata?: { deletionTimestamp?: unknown } } | null)?.metadata
          // Foreground cascading deletion keeps the object, with a deletion
          // timestamp, until its pods are gone: that is already "gone".
          return metadata?.deletionTimestamp === undefined || metadata.deletionTimestamp === null
        }),
        Effect.catchIf(isNotFound, () => Effect.succeed(false))
      )
    }

    return { resolve, isActive }
  }
)

export const OwnerChainResolverLive = Layer.effect(WorkloadResolver, makeOwnerChainResolver)

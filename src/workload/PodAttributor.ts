import { Effect } from "effect"
import type { KubeApiError } from "../kube/KubeApi.ts"
import { type MetadataRead, MetadataReader, type ObjectRef } from "../kube/MetadataReader.ts"
import type { ObjectMeta } from "../kube/ObjectMeta.ts"
import { apiGroup } from "../kube/ownerReferences.ts"
import { REPLICA_SETS, watchedKind } from "../kube/resources.ts"
import type { SlimOwnerReference, SlimPod } from "../kube/SlimPod.ts"
import { WorkloadWatches } from "../kube/WorkloadWatches.ts"
import type { AnnotationChain } from "../metadata/annotations.ts"
import { type Anchor, type Attribution, makeAttribution } from "./Attribution.ts"
import { cronJobOfJob, deploymentOfReplicaSet, workloadOfReplicaSet } from "./ownerNaming.ts"

/** Kinds whose pods are reported, whatever their API group (an OpenKruise StatefulSet is a StatefulSet). */
export const SUPPORTED_POD_OWNERS: ReadonlySet<string> = new Set(["ReplicaSet", "DaemonSet", "StatefulSet", "Job"])

const anchorOf = (owner: Pick<SlimOwnerReference, "kind" | "apiVersion" | "name" | "uid">, namespace: string): Anchor => ({
  kind: owner.kind,
  apiVersion: owner.apiVersion,
  namespace,
  name: owner.name,
  uid: owner.uid,
  watched: watchedKind(owner.kind, owner.apiVersion) !== undefined
})

const watchedAnchor = (meta: ObjectMeta, apiVersion: string): Anchor => ({
  kind: meta.kind,
  apiVersion,
  namespace: meta.namespace,
  name: meta.name,
  uid: meta.uid,
  watched: true
})

/** The object an owner reference points at: found with the same uid (an object of another uid is another object). */
const sameObject = (read: MetadataRead, uid: string): ObjectMeta | undefined =>
  read._tag === "Found" && (uid === "" || read.meta.uid === uid) ? read.meta : undefined

/**
 * Finds the workload of a pod from its controlling owner: the watched
 * caches first, then reads of owners that are not watched (ReplicaSets,
 * custom owners), which MetadataReader keeps for a minute and shares.
 *
 * - DaemonSet, StatefulSet (any API group): the owner itself.
 * - Job: its CronJob, or the Job itself; a Job already gone is matched to
 *   a CronJob by its name (`<cronjob>-<digits>`).
 * - ReplicaSet: its Deployment (from the pod-template-hash label and the
 *   Deployment cache, with no read at all; otherwise the ReplicaSet's own
 *   controller), its custom owner (an Argo Rollout) when that can be read,
 *   or itself when bare. An owner that cannot be read (forbidden, unknown
 *   kind, gone) gives the original's name: the ReplicaSet's minus its hash.
 *
 * Undefined for pods of other owners (those are not reported). Fails only
 * on transient API errors.
 */
export const makePodAttributor = Effect.gen(function*() {
  const reader = yield* MetadataReader
  const watches = yield* WorkloadWatches

  /**
   * The object an owner reference points at. A cached answer that does not
   * match the reference (absent, or another uid) may predate a delete and
   * recreate under the same name: one fresh read settles it.
   */
  const readOwner = (ref: ObjectRef, uid: string): Effect.Effect<ObjectMeta | undefined, KubeApiError> =>
    reader.readUnlessStale(ref, (read) => read._tag === "Unreadable" || sameObject(read, uid) !== undefined).pipe(
      Effect.map((read) => sameObject(read, uid))
    )

  const cached = (kind: string, namespace: string, name: string, uid: string): ObjectMeta | undefined => {
    const meta = watches.lookup(kind, namespace, name)
    return meta !== undefined && (uid === "" || meta.uid === uid) ? meta : undefined
  }

  /** A watched owner from its cache, or read when the cache has not seen it yet. */
  const watchedOwner = (owner: SlimOwnerReference, namespace: string) => {
    const known = cached(owner.kind, namespace, owner.name, owner.uid)
    return known !== undefined
      ? Effect.succeed(known)
      : readOwner({ kind: owner.kind, apiVersion: owner.apiVersion, namespace, name: owner.name }, owner.uid)
  }

  const fromJob = (owner: SlimOwnerReference, namespace: string) =>
    watchedOwner(owner, namespace).pipe(Effect.map((job): Attribution => {
      if (job !== undefined) {
        const cronJob = job.controller
        return cronJob !== undefined && cronJob.kind === "CronJob"
          ? makeAttribution(cronJob.name, anchorOf(cronJob, namespace), [job.annotations])
          : makeAttribution(owner.name, anchorOf(owner, namespace), [])
      }
      // Gone already: its CronJob, if the name says so and such a CronJob exists.
      const cronJobName = cronJobOfJob(owner.name)
      const cronJob = cronJobName === undefined ? undefined : watches.lookup("CronJob", namespace, cronJobName)
      return cronJob !== undefined
        ? makeAttribution(cronJob.name, watchedAnchor(cronJob, "batch/v1"), [])
        : makeAttribution(owner.name, anchorOf(owner, namespace), [])
    }))

  /** A custom kind's object (an OpenKruise StatefulSet): its annotations when it can be read. */
  const fromCustomOwner = (owner: SlimOwnerReference, namespace: string) =>
    readOwner({ kind: owner.kind, apiVersion: owner.apiVersion, namespace, name: owner.name }, owner.uid).pipe(
      Effect.map((found) => makeAttribution(owner.name, anchorOf(owner, namespace), found === undefined ? [] : [found.annotations]))
    )

  /**
   * The ReplicaSet could not take us further (gone, unreadable, or its
   * owner unreadable): the original's name, anchored on the Deployment of
   * that name when one exists, else on the ReplicaSet.
   */
  const namedAfterReplicaSet = (
    replicaSet: SlimOwnerReference,
    namespace: string,
    templateHash: string | undefined,
    annotations: AnnotationChain
  ): Attribution => {
    const name = workloadOfReplicaSet(replicaSet.name, templateHash)
    const deployment = watches.lookup("Deployment", namespace, name)
    return deployment !== undefined
      ? makeAttribution(name, watchedAnchor(deployment, "apps/v1"), annotations)
      : makeAttribution(name, anchorOf(replicaSet, namespace), annotations)
  }

  const fromReplicaSet = (pod: SlimPod, owner: SlimOwnerReference): Effect.Effect<Attribution, KubeApiError> => {
    const namespace = pod.namespace
    const deploymentName = deploymentOfReplicaSet(owner.name, pod.templateHash)
    const deployment = deploymentName === undefined ? undefined : watches.lookup("Deployment", namespace, deploymentName)
    // A Deployment copies its annotations onto its ReplicaSets, so its own
    // (live in the cache) stand for the ReplicaSet's: no read needed.
    if (deployment !== undefined) return Effect.succeed(makeAttribution(deployment.name, watchedAnchor(deployment, "apps/v1"), []))
    const replicaSetRef = { kind: REPLICA_SETS.kind, apiVersion: owner.apiVersion || REPLICA_SETS.apiVersion, namespace, name: owner.name }
    return readOwner(replicaSetRef, owner.uid).pipe(Effect.flatMap((replicaSet) => {
      if (replicaSet === undefined) return Effect.succeed(namedAfterReplicaSet(owner, namespace, pod.templateHash, []))
      const controller = replicaSet.controller
      if (controller === undefined) {
        // A bare ReplicaSet is its own workload, under one name for its whole life.
        return Effect.succeed(makeAttribution(owner.name, { ...anchorOf(owner, namespace), watched: false }, [replicaSet.annotations]))
      }
      if (controller.kind === "Deployment" && apiGroup(controller.apiVersion) === "apps") {
        return Effect.succeed(makeAttribution(controller.name, anchorOf(controller, namespace), [replicaSet.annotations]))
      }
      return readOwner({ kind: controller.kind, apiVersion: controller.apiVersion, namespace, name: controller.name }, controller.uid).pipe(
        Effect.map((custom) => {
          return custom !== undefined
            ? makeAttribution(controller.name, anchorOf(controller, namespace), [replicaSet.annotations, custom.annotations])
            : namedAfterReplicaSet(owner, namespace, pod.templateHash, [replicaSet.annotations])
        })
      )
    }))
  }

  const attribute = (pod: SlimPod, owner: SlimOwnerReference): Effect.Effect<Attribution | undefined, KubeApiError> => {
    switch (owner.kind) {
      case "ReplicaSet":
        return fromReplicaSet(pod, owner)
      case "Job":
        return fromJob(owner, pod.namespace)
      case "DaemonSet":
      case "StatefulSet":
        return watchedKind(owner.kind, owner.apiVersion) !== undefined
          ? Effect.succeed(makeAttribution(owner.name, anchorOf(owner, pod.namespace), []))
          : fromCustomOwner(owner, pod.namespace)
      default:
        // Bare, static (owned by a Node) or custom-controlled pods are not reported.
        return Effect.succeed(undefined)
    }
  }

  /**
   * The same from the caches and names alone, for when the API keeps
   * failing: the original's naming, no annotations of unread owners.
   */
  const attributeFromNames = (pod: SlimPod, owner: SlimOwnerReference): Attribution | undefined => {
    switch (owner.kind) {
      case "ReplicaSet":
        return namedAfterReplicaSet(owner, pod.namespace, pod.templateHash, [])
      case "Job": {
        const job = cached("Job", pod.namespace, owner.name, owner.uid)
        const cronJobName = job !== undefined ? (job.controller?.kind === "CronJob" ? job.controller.name : undefined) : cronJobOfJob(owner.name)
        const cronJob = cronJobName === undefined ? undefined : watches.lookup("CronJob", pod.namespace, cronJobName)
        return cronJob !== undefined
          ? makeAttribution(cronJob.name, watchedAnchor(cronJob, "batch/v1"), job === undefined ? [] : [job.annotations])
          : makeAttribution(owner.name, anchorOf(owner, pod.namespace), [])
      }
      case "DaemonSet":
      case "StatefulSet":
        return makeAttribution(owner.name, anchorOf(owner, pod.namespace), [])
      default:
        return undefined
    }
  }

  /**
   * The attribution when the caches alone give it (no read, no effect):
   * the common case, so the pod watch's hot path allocates nothing more.
   * `NEEDS_READ` when only `attribute` can tell.
   */
  const attributeFromCaches = (pod: SlimPod, owner: SlimOwnerReference): Attribution | undefined | typeof NEEDS_READ => {
    switch (owner.kind) {
      case "ReplicaSet": {
        const name = deploymentOfReplicaSet(owner.name, pod.templateHash)
        const deployment = name === undefined ? undefined : watches.lookup("Deployment", pod.namespace, name)
        return deployment === undefined ? NEEDS_READ : makeAttribution(deployment.name, watchedAnchor(deployment, "apps/v1"), [])
      }
      case "Job": {
        const job = cached("Job", pod.namespace, owner.name, owner.uid)
        if (job === undefined) return NEEDS_READ
        const cronJob = job.controller
        return cronJob !== undefined && cronJob.kind === "CronJob"
          ? makeAttribution(cronJob.name, anchorOf(cronJob, pod.namespace), [job.annotations])
          : makeAttribution(owner.name, anchorOf(owner, pod.namespace), [])
      }
      case "DaemonSet":
      case "StatefulSet":
        return watchedKind(owner.kind, owner.apiVersion) !== undefined
          ? makeAttribution(owner.name, anchorOf(owner, pod.namespace), [])
          : NEEDS_READ
      default:
        return undefined
    }
  }

  return { attribute, attributeFromCaches, attributeFromNames } as const
})

/** `attributeFromCaches` cannot tell without reading an owner. */
export const NEEDS_READ: unique symbol = Symbol("needs a read")

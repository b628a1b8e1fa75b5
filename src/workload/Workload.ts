import { Context, type Effect, type Option } from "effect"
import type { KubeApiError } from "../kube/KubeApi.ts"
import type { SlimPod } from "../kube/SlimPod.ts"
import type { AnnotationChain } from "../metadata/annotations.ts"
import { objectKey } from "./ObjectMeta.ts"

/** The object a pod belongs to, whose name becomes `{{deploymentName}}`. */
export interface Workload {
  readonly kind: string
  readonly name: string
  readonly namespace: string
  /** The API version it was found under; custom kinds (an Argo Rollout) need it for their path. */
  readonly apiVersion: string
  /**
   * The workload object's uid, from the owner references; "" when it could
   * not be known (its ReplicaSet or Job is gone and it was found by name).
   * Names are reused after delete and recreate; the uid tells them apart.
   */
  readonly uid: string
  /** The `metadata.github.com/*` annotations of every owner up the chain, closest to the pod first. */
  readonly ownerAnnotations: AnnotationChain
}

/** One workload object across its life: the uid, or the name when the uid is unknown. */
export const workloadIdentity = (workload: Pick<Workload, "uid" | "kind" | "namespace" | "name">): string =>
  workload.uid !== "" ? workload.uid : objectKey(workload.kind, workload.namespace, workload.name)

/**
 * Finds a pod's workload and tells whether it still exists. A failure to
 * find out (API error) is an error, never "gone": decommissioning on a
 * guess would be worse than retrying.
 */
export class WorkloadResolver extends Context.Tag("deployment-tracker/WorkloadResolver")<WorkloadResolver, {
  /** None for pods with no supported owner (bare or static pods). */
  readonly resolve: (pod: SlimPod) => Effect.Effect<Option.Option<Workload>, KubeApiError>
  /**
   * False when the workload is deleted, being deleted, or its name now
   * belongs to another object (another uid). Asked of the API server, not a
   * cache, so a pod delete is judged against the state at that moment.
   */
  readonly isActive: (workload: Workload) => Effect.Effect<boolean, KubeApiError>
}>() {}

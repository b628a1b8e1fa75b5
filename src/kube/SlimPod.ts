/**
 * The few fields of a Pod the controller reads. The pod cache holds these
 * instead of whole Pod objects, which keeps memory near a few hundred bytes
 * per pod (a full Pod with managedFields is 4-8 KB).
 */
export interface SlimOwnerReference {
  readonly apiVersion: string
  readonly kind: string
  readonly name: string
  readonly uid: string
  readonly controller: boolean
}

export interface SlimContainer {
  readonly name: string
  /** `spec.containers[].image` as written in the pod spec. */
  readonly image: string
  /**
   * `status.containerStatuses[].imageID` for this container, as reported by
   * the runtime (e.g. `docker-pullable://repo@sha256:...`), or undefined when
   * the status has none yet.
   */
  readonly imageID: string | undefined
}

export type PodPhase = "Pending" | "Running" | "Succeeded" | "Failed" | "Unknown"

export interface SlimPod {
  readonly namespace: string
  readonly name: string
  readonly uid: string
  readonly resourceVersion: string
  readonly phase: PodPhase
  /** True once `metadata.deletionTimestamp` is set. */
  readonly terminating: boolean
  /** `metadata.creationTimestamp` in epoch milliseconds (0 when absent). */
  readonly createdAt: number
  readonly ownerReferences: ReadonlyArray<SlimOwnerReference>
  /**
   * The `pod-template-hash` label a Deployment's ReplicaSet puts on its
   * pods: with it, the ReplicaSet name `<deployment>-<hash>` names the
   * Deployment without reading the ReplicaSet.
   */
  readonly templateHash: string | undefined
  /** Only the `metadata.github.com/*` annotations; the rest are dropped. */
  readonly annotations: Readonly<Record<string, string>> | undefined
  readonly containers: ReadonlyArray<SlimContainer>
  readonly initContainers: ReadonlyArray<SlimContainer>
}

export const podKey = (pod: { readonly namespace: string; readonly name: string }): string =>
  `${pod.namespace}/${pod.name}`

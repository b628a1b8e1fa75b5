import type { WorkloadOwner } from "../kube/ObjectIdentity.ts"
import type { AnnotationChain } from "../metadata/annotations.ts"

/**
 * The workload a pod runs under, as the reconcile loop sees it.
 *
 * The key is what `{{deploymentName}}` names (namespace and workload
 * name): every deployment_name of a workload belongs to one key, so a
 * rollout of 100 replicas is one unit of work, and a workload deleted and
 * recreated under its name stays one key.
 */


/**
 * The object whose existence says whether the workload still exists.
 * Watched kinds are answered from their caches; the others (ReplicaSets,
 * custom owners) are read when it matters.
 */
export interface Anchor extends WorkloadOwner {
  readonly watched: boolean
}

export interface Attribution {
  /** `namespace/workloadName`. */
  readonly key: string
  readonly namespace: string
  /** `{{deploymentName}}`. */
  readonly workloadName: string
  readonly anchor: Anchor
  /**
   * Annotations of the owners between the pod and the anchor, closest
   * first, and the anchor's own when it is not watched (a watched anchor's
   * are read from its cache, so a change there shows at once).
   */
  readonly ownerAnnotations: AnnotationChain
}

export const workloadKey = (namespace: string, workloadName: string): string => `${namespace}/${workloadName}`

/** Namespaces cannot hold a slash, so the first one splits the key. */
export const parseWorkloadKey = (key: string): { readonly namespace: string; readonly workloadName: string } => {
  const slash = key.indexOf("/")
  return { namespace: key.slice(0, slash), workloadName: key.slice(slash + 1) }
}

export const makeAttribution = (
  workloadName: string,
  anchor: Anchor,
  ownerAnnotations: AnnotationChain
): Attribution => ({
  key: workloadKey(anchor.namespace, workloadName),
  namespace: anchor.namespace,
  workloadName,
  anchor,
  ownerAnnotations
})

/** Same object kind and name (the uid may differ: a recreated object is the same workload by name). */
export const sameAnchorName = (left: WorkloadOwner, right: WorkloadOwner): boolean =>
  left.kind === right.kind && left.namespace === right.namespace && left.name === right.name

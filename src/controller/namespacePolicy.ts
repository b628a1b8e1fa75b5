import type { ObjectMeta } from "../kube/ObjectMeta.ts"
import type { AnnotationMap, DroppedAnnotation } from "../metadata/annotations.ts"
import { type Environment, environmentOf, isIgnored } from "../metadata/trackerAnnotations.ts"

/**
 * Whether a workload's names are reported, and under which environments
 * (pure):
 *
 * - `Reported` with the Namespace's environments (its
 *   `deployment-tracker/logical-environment` and `.../physical-environment`
 *   annotations, else the tracker's own);
 * - `Excluded`: the Namespace is not selected by `-namespace-selector`, or
 *   the Namespace or the workload carries `deployment-tracker/ignore: "true"`.
 *   Its names already reported are decommissioned: the tracker stops
 *   following it, so a record left deployed would never be corrected;
 * - `Unknown`: Namespaces are watched but this one has not been seen yet
 *   (just created): nothing is deployed until it is.
 */
export type NamespaceView =
  | { readonly _tag: "Reported"; readonly environment: Environment }
  | { readonly _tag: "Excluded"; readonly why: "not selected" | "opted out" }
  | { readonly _tag: "Unknown" }

export interface NamespaceFacts {
  /** Whether Namespaces are watched at all (the service account may list them). */
  readonly watched: boolean
  /** Whether `-namespace-selector` is set (the watch then holds only the selected ones). */
  readonly selector: boolean
  readonly namespace: ObjectMeta | undefined
  /** The workload object's annotations (for the opt-out). */
  readonly workloadAnnotations: AnnotationMap
  readonly defaults: Environment
}

export const namespaceView = (facts: NamespaceFacts): { readonly view: NamespaceView; readonly dropped: ReadonlyArray<DroppedAnnotation> } => {
  if (isIgnored(facts.workloadAnnotations)) return { view: { _tag: "Excluded", why: "opted out" }, dropped: [] }
  if (!facts.watched) return { view: { _tag: "Reported", environment: facts.defaults }, dropped: [] }
  const namespace = facts.namespace
  if (namespace === undefined) {
    return { view: facts.selector ? { _tag: "Excluded", why: "not selected" } : { _tag: "Unknown" }, dropped: [] }
  }
  if (isIgnored(namespace.annotations)) return { view: { _tag: "Excluded", why: "opted out" }, dropped: [] }
  const { dropped, environment } = environmentOf(namespace.annotations, facts.defaults)
  return { view: { _tag: "Reported", environment }, dropped }
}

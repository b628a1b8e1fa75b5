import { Context, type Effect, type Option } from "effect"
import type { KubeApiError } from "../kube/KubeApi.ts"
import type { SlimPod } from "../kube/SlimPod.ts"

/** The object a pod belongs to, whose name becomes `{{deploymentName}}`. */
export interface Workload {
  readonly kind: string
  readonly name: string
  readonly namespace: string
}

/**
 * Finds a pod's workload and tells whether it still exists. A failure to
 * find out (API error) is an error, never "gone": decommissioning on a
 * guess would be worse than retrying.
 */
export class WorkloadResolver extends Context.Tag("deployment-tracker/WorkloadResolver")<WorkloadResolver, {
  /** None for pods with no supported owner (bare or static pods). */
  readonly resolve: (pod: SlimPod) => Effect.Effect<Option.Option<Workload>, KubeApiError>
  /** False when the workload is deleted or being deleted. */
  readonly isActive: (workload: Workload) => Effect.Effect<boolean, KubeApiError>
}>() {}

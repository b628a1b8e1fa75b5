import { Context, Effect, Layer } from "effect"
import type { WorkloadOwner } from "../kube/ObjectIdentity.ts"

/**
 * What became of a deployment name, told to whoever shows it to operators
 * (Kubernetes Events on the workload object: `kubectl describe`).
 */
export type WorkloadOutcome =
  | { readonly _tag: "Deployed"; readonly deploymentName: string; readonly digest: string }
  | { readonly _tag: "Decommissioned"; readonly deploymentName: string; readonly digest: string }
  /** GitHub has no attestation for the digest (404): the record is kept out for an hour. */
  | { readonly _tag: "UnknownArtifact"; readonly deploymentName: string; readonly digest: string; readonly message: string }
  /** GitHub refused the record (a 4xx other than a rate limit). */
  | { readonly _tag: "Refused"; readonly deploymentName: string; readonly status: number; readonly message: string }
  /** The record breaks the API's published constraints: not sent. */
  | { readonly _tag: "Invalid"; readonly deploymentName: string; readonly field: string; readonly reason: string }
  /** GitHub's rate limit holds every request; this name waits. */
  | { readonly _tag: "RateLimited"; readonly deploymentName: string; readonly waitSeconds: number }

export class WorkloadEvents extends Context.Tag("deployment-tracker/WorkloadEvents")<WorkloadEvents, {
  /** Never fails, never waits for the API: reporting must not slow or stop the loop. */
  readonly report: (regarding: WorkloadOwner, outcome: WorkloadOutcome) => Effect.Effect<void>
}>() {
  /** Nothing is shown (events turned off, tests). */
  static readonly None: Layer.Layer<WorkloadEvents> = Layer.succeed(WorkloadEvents, { report: () => Effect.void })
}

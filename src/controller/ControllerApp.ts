import { Layer } from "effect"
import { BulkSync } from "../bulk/BulkSync.ts"
import { DeploymentRecordClient } from "../github/DeploymentRecordClient.ts"
import { GitHubAuthLive } from "../github/GitHubAuth.ts"
import { OwnerChainResolverLive } from "../workload/OwnerChainResolver.ts"
import { WorkloadWatchesLive } from "../workload/WorkloadWatches.ts"
import { ControllerLive } from "./Controller.ts"
import { EventProcessor } from "./EventProcessor.ts"

/**
 * The controller with its processing services wired in. What it still
 * needs comes from the outside: Config, Metrics, Readiness, RateLimitGate
 * and KubeApi (live in main.ts; scripted in tests and benchmarks). One
 * WorkloadWatches instance serves the controller (deletions) and the
 * resolver (lookups).
 */
export const ControllerAppLive = ControllerLive.pipe(
  Layer.provide(Layer.merge(EventProcessor.Default.pipe(Layer.provide(DeploymentRecordClient.Default)), BulkSync.Default)),
  Layer.provide(Layer.mergeAll(GitHubAuthLive, OwnerChainResolverLive)),
  Layer.provide(WorkloadWatchesLive)
)

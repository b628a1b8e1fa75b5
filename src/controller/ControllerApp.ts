import { Layer } from "effect"
import { BulkSync } from "../bulk/BulkSync.ts"
import { DeploymentRecordClient } from "../github/DeploymentRecordClient.ts"
import { GitHubAuthLive } from "../github/GitHubAuth.ts"
import { DeployedStatePersistence } from "../state/DeployedStatePersistence.ts"
import { OwnerChainResolverLive } from "../workload/OwnerChainResolver.ts"
import { WorkloadWatchesLive } from "../workload/WorkloadWatches.ts"
import { ControllerLive } from "./Controller.ts"
import { EventProcessor } from "./EventProcessor.ts"

/**
 * The controller with its processing services wired in. What it still
 * needs comes from the outside: Config, Metrics, Readiness, RateLimitGate
 * and KubeApi (live in main.ts; scripted in tests and benchmarks). One
 * WorkloadWatches instance serves the controller (deletions) and the
 * resolver (lookups). The state persistence is built before the
 * controller, so it stops after it: its last write follows the drain.
 */
export const ControllerAppLive = ControllerLive.pipe(
  Layer.provide(Layer.mergeAll(
    EventProcessor.Default.pipe(Layer.provide(DeploymentRecordClient.Default)),
    BulkSync.Default,
    DeployedStatePersistence.Default
  )),
  Layer.provide(Layer.mergeAll(GitHubAuthLive, OwnerChainResolverLive)),
  Layer.provide(WorkloadWatchesLive)
)

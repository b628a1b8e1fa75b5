import { Effect, Layer } from "effect"
import { BulkSync } from "../bulk/BulkSync.ts"
import { Config } from "../config/Config.ts"
import { GitHubAuthLive } from "../github/GitHubAuth.ts"
import { GitHubRequester } from "../github/GitHubRequester.ts"
import { EventRecorderLive } from "../events/EventRecorder.ts"
import { MetadataReader } from "../kube/MetadataReader.ts"
import { NamespaceWatchLive } from "../kube/NamespaceWatch.ts"
import { PodWatchLive } from "../kube/PodWatch.ts"
import { WorkloadWatchesLive } from "../kube/WorkloadWatches.ts"
import { DeploymentLedger } from "../ledger/DeploymentLedger.ts"
import { DeployedStatePersistence } from "../state/DeployedStatePersistence.ts"
import { ControllerLive } from "./Controller.ts"
import { Reconciler } from "./Reconciler.ts"
import { RecordBuilder } from "./RecordBuilder.ts"
import { RecordSender } from "./RecordSender.ts"
import { WorkloadEvents } from "../events/WorkloadEvents.ts"
import { WorkloadIndex } from "./WorkloadIndex.ts"

/**
 * Outcomes as Kubernetes Events with `-kube-events`, except in a dry run:
 * nothing was sent, and a dry run writes nothing to the cluster.
 */
export const WorkloadEventsLive = Layer.unwrapEffect(Effect.gen(function*() {
  const config = yield* Config
  if (config.kubeEvents && !config.dryRun) return EventRecorderLive
  yield* Effect.logInfo(
    config.kubeEvents ? "Kubernetes events are off in a dry run" : "Kubernetes events are off (-kube-events=false)"
  )
  return WorkloadEvents.None
}))

/**
 * The controller with its services wired in. What it still needs comes
 * from the outside: Config, Metrics, Readiness, Liveness, RateLimitGate
 * and KubeApi (live in main.ts; scripted in tests and benchmarks). The
 * state persistence is built before the controller, so it stops after it:
 * its last write follows the drain.
 */
export const ControllerAppLive = ControllerLive.pipe(
  Layer.provide(Layer.mergeAll(Reconciler.Default, BulkSync.Default, DeployedStatePersistence.Default)),
  Layer.provideMerge(Layer.mergeAll(RecordBuilder.Default, RecordSender.Default, MetadataReader.Default)),
  Layer.provideMerge(
    Layer.mergeAll(PodWatchLive, WorkloadWatchesLive, NamespaceWatchLive, WorkloadIndex.Default, DeploymentLedger.Default)
  ),
  // One requester for every call to GitHub: the record posts, the cluster jobs, the token minting.
  Layer.provide(Layer.merge(GitHubAuthLive, WorkloadEventsLive).pipe(Layer.provideMerge(GitHubRequester.Default)))
)

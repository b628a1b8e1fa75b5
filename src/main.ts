import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Effect, Either, Layer, Option } from "effect"
import { Config, type ControllerConfig } from "./config/Config.ts"
import { trustedCertificates } from "./config/egress.ts"
import { helpText } from "./config/help.ts"
import { loadConfig } from "./config/loadConfig.ts"
import { ControllerAppLive } from "./controller/ControllerApp.ts"
import { RateLimitGate } from "./github/RateLimitGate.ts"
import type { ClusterCredentials } from "./kube/ClusterCredentials.ts"
import { KubeApiLive } from "./kube/KubeApi.ts"
import { loadKubeConfig } from "./kube/loadKubeConfig.ts"
import { runLeaderElected } from "./leader/LeaderElection.ts"
import type { LeadershipLost } from "./leader/LeaderElector.ts"
import { HealthGaugesLive } from "./observability/HealthGauges.ts"
import { HttpEndpointsLive } from "./observability/HttpEndpoints.ts"
import { Liveness } from "./observability/Liveness.ts"
import { loggingLayer } from "./observability/Logging.ts"
import { Metrics } from "./observability/Metrics.ts"
import { Readiness } from "./observability/Readiness.ts"
import { TracingLive } from "./observability/Tracing.ts"

// The program's outer edge: the only place that reads process.argv/env,
// prints outside the logger and chooses exit codes.

/** A bad setting: one line naming it on stderr, exit status 2, before any connection. */
const refuse = (line: string) =>
  Effect.sync(() => {
    process.stderr.write(`deployment-tracker: ${line}\n`)
    process.exit(2)
  })

const describeConfig = (config: ControllerConfig, kube: ClusterCredentials) => ({
  org: config.org,
  cluster: config.cluster,
  logical_environment: config.logicalEnvironment,
  physical_environment: config.physicalEnvironment,
  base_url: config.baseUrl,
  namespaces: config.namespaces,
  workers: config.workers,
  metrics_port: config.metricsPort,
  auth: ({ None: "none", Token: "token", App: "github-app" } as const)[config.credentials._tag],
  bulk_cluster_sync: config.bulkClusterSync,
  leader_elect: Option.isSome(config.leaderElection),
  kube_credentials: kube.source
})

const app = (config: ControllerConfig, kube: ClusterCredentials) => {
  const base = Layer.mergeAll(
    Layer.succeed(Config, config),
    Metrics.Default,
    Readiness.Default,
    Liveness.Default,
    RateLimitGate.Default,
    KubeApiLive(kube, trustedCertificates(config.egress))
  )
  // The endpoints come up first and go down last; the controller's own
  // finalizer (stop watch, drain, stop workers) runs before them.
  return Effect.gen(function*() {
    if (Option.isNone(config.leaderElection)) {
      return yield* Layer.launch(ControllerAppLive.pipe(Layer.provide(Layer.merge(HttpEndpointsLive, HealthGaugesLive)), Layer.provide(base)))
    }
    // The endpoints run always; the controller only while this replica holds the Lease.
    return yield* runLeaderElected(config.leaderElection.value, ControllerAppLive, exitOnLostLease).pipe(
      Effect.provide(Layer.merge(HttpEndpointsLive, HealthGaugesLive).pipe(Layer.provideMerge(base)))
    )
  })
}

/**
 * The lease is lost: exit non-zero at once, like client-go's usual
 * OnStoppedLeading. No drain: a standby may be leading within seconds, and
 * the pod restarts clean as a standby.
 */
const exitOnLostLease = (lost: LeadershipLost) =>
  Effect.logError("Lost the leader-election lease; exiting").pipe(
    Effect.annotateLogs({ lease: lost.lease, identity: lost.identity, error: lost.message }),
    Effect.zipRight(Effect.sync(() => process.exit(1)))
  )

const main = Effect.gen(function*() {
  const loaded = yield* loadConfig(process.argv.slice(2), process.env).pipe(Effect.either)
  if (Either.isLeft(loaded)) {
    const error = loaded.left
    if (error._tag === "HelpRequested") {
      process.stdout.write(helpText())
      return process.exit(0)
    }
    return yield* refuse(error.message)
  }
  const { config, warnings } = loaded.right
  const kube = yield* loadKubeConfig(config.kubeconfig, process.env).pipe(Effect.either)
  if (Either.isLeft(kube)) return yield* refuse(`invalid setting ${kube.left.setting}: ${kube.left.message}`)

  const logging = loggingLayer(config.logLevel)
  yield* Effect.forEach(warnings, (w) => Effect.logWarning(w), { discard: true }).pipe(Effect.provide(logging))
  yield* Effect.logInfo("Starting deployment-tracker").pipe(
    Effect.annotateLogs(describeConfig(config, kube.right)),
    Effect.provide(logging)
  )
  return yield* app(config, kube.right).pipe(
    // Outermost around the app: every span is exported, and flushed after the app has stopped.
    Effect.provide(TracingLive(config.tracing)),
    // GitHub refused the App's installation at start-up: a setting to fix, not a crash.
    Effect.catchTag("InstallationRefused", (e) => refuse(`invalid setting ${e.setting}: ${e.message}`)),
    // A setting that needs a permission this service account lacks.
    Effect.catchTag("NamespacesForbidden", (e) => refuse(`invalid setting ${e.setting}: ${e.message}`)),
    Effect.provide(logging)
  )
}).pipe(Effect.provide(NodeFileSystem.layer))

NodeRuntime.runMain(main, { disablePrettyLogger: true })

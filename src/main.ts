import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Effect, Layer, Option } from "effect"
import { Config, type ControllerConfig } from "./config/Config.ts"
import { trustedCertificates } from "./config/egress.ts"
import { describeConfig, loadProcessSettings, ProcessSettings, refusal } from "./config/processSettings.ts"
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
import { makeEventLoopScheduler } from "./support/eventLoopScheduler.ts"
import { V8MemoryReducerLive } from "./support/v8MemoryReducer.ts"

// The program's outer edge: the only place that reads process.argv/env,
// prints outside the logger and chooses exit codes. What the settings mean
// is decided in config/ (loadProcessSettings).

/** A bad setting: one line naming it on stderr, exit status 2, before any connection. */
const refuse = (line: string): Effect.Effect<never> =>
  Effect.sync((): never => {
    process.stderr.write(`${line}\n`)
    process.exit(2)
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
      return yield* Layer.launch(
        ControllerAppLive.pipe(Layer.provide(Layer.mergeAll(HttpEndpointsLive, HealthGaugesLive, V8MemoryReducerLive)), Layer.provide(base))
      )
    }
    // The endpoints run always; the controller only while this replica holds the Lease.
    return yield* runLeaderElected(config.leaderElection.value, ControllerAppLive, exitOnLostLease).pipe(
      Effect.provide(Layer.mergeAll(HttpEndpointsLive, HealthGaugesLive, V8MemoryReducerLive).pipe(Layer.provideMerge(base)))
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

const run = (config: ControllerConfig, warnings: ReadonlyArray<string>) => Effect.gen(function*() {
  const kube = yield* loadKubeConfig(config.kubeconfig, process.env).pipe(
    Effect.catchTag("KubeConfigError", (e) => refuse(refusal(e.setting, e.message)))
  )

  const logging = loggingLayer(config.logLevel)
  yield* Effect.forEach(warnings, (w) => Effect.logWarning(w), { discard: true }).pipe(Effect.provide(logging))
  yield* Effect.logInfo("Starting deployment-tracker").pipe(
    Effect.annotateLogs({ ...describeConfig(config), kube_credentials: kube.source }),
    Effect.provide(logging)
  )
  return yield* app(config, kube).pipe(
    // Outermost around the app: every span is exported, and flushed after the app has stopped.
    Effect.provide(TracingLive(config.tracing)),
    // GitHub refused the App's installation at start-up: a setting to fix, not a crash.
    Effect.catchTag("InstallationRefused", (e) => refuse(refusal(e.setting, e.message))),
    // A setting that needs a permission this service account lacks.
    Effect.catchTag("NamespacesForbidden", (e) => refuse(refusal(e.setting, e.message))),
    Effect.provide(logging)
  )
})

const main = loadProcessSettings(process.argv.slice(2), process.env).pipe(
  Effect.flatMap(ProcessSettings.$match({
    Help: ({ text }) =>
      Effect.sync(() => {
        process.stdout.write(text)
        process.exit(0)
      }),
    Refuse: ({ line }) => refuse(line),
    Run: ({ config, warnings }) => run(config, warnings)
  })),
  Effect.provide(NodeFileSystem.layer)
)

// Every fiber inherits the scheduler: none holds the event loop past a
// slice, so probes and socket reads are answered while the controller works.
NodeRuntime.runMain(Effect.withScheduler(main, makeEventLoopScheduler()), { disablePrettyLogger: true })

import { randomUUID } from "node:crypto"
import { hostname } from "node:os"
import { Effect, Layer, Option } from "effect"
import * as Prom from "prom-client"
import type { LeaderElectionSettings } from "../config/Config.ts"
import type { KubeApi } from "../kube/KubeApi.ts"
import { Metrics } from "../observability/Metrics.ts"
import { Readiness } from "../observability/Readiness.ts"
import { type LeadershipLost, makeLeaderElector } from "./LeaderElector.ts"
import { whileLeading } from "./whileLeading.ts"

/**
 * This replica's identity: POD_NAME when set, else the host name and a
 * random UUID, so two processes on one host (or a restarted process) are
 * never mistaken for the holder.
 */
export const electionIdentity = (configured: Option.Option<string>): Effect.Effect<string> =>
  Option.match(configured, {
    onSome: Effect.succeed,
    onNone: () => Effect.sync(() => `${hostname()}_${randomUUID()}`)
  })

/**
 * `deployment_tracker_leader{identity}`: 1 while this replica leads, 0 while
 * it stands by. Registered on the process's Metrics registry only when
 * leader election is on.
 */
const leaderGauge = (metrics: Metrics, identity: string) => {
  const gauge = new Prom.Gauge({
    name: "deployment_tracker_leader",
    help: "1 while this replica holds the leader-election Lease (it watches and posts), 0 while it stands by",
    labelNames: ["identity"] as const,
    registers: [metrics.registry]
  })
  return (leading: boolean) => Effect.sync(() => gauge.set({ identity }, leading ? 1 : 0))
}

/**
 * Runs the controller (`work`) only while this replica holds the Lease.
 * Until then it stands by: the HTTP endpoints (provided outside) serve
 * /metrics and /healthz, /readyz answers ready (a standby is healthy and
 * able to take over, so rolling updates proceed), and the gauge shows the
 * role. `onLost` runs the moment the lease is lost (the process exits).
 */
export const runLeaderElected = <E, R>(
  settings: LeaderElectionSettings,
  work: Layer.Layer<never, E, R>,
  onLost: (lost: LeadershipLost) => Effect.Effect<void>
): Effect.Effect<never, E | LeadershipLost, R | KubeApi | Metrics | Readiness> =>
  Effect.gen(function*() {
    const metrics = yield* Metrics
    const readiness = yield* Readiness
    const identity = yield* electionIdentity(settings.identity)
    const setLeading = leaderGauge(metrics, identity)
    const elector = yield* makeLeaderElector({
      lease: { name: settings.leaseName, namespace: settings.leaseNamespace },
      identity,
      leaseDuration: settings.leaseDuration,
      renewDeadline: settings.renewDeadline,
      retryPeriod: settings.retryPeriod
    })
    yield* setLeading(false)
    yield* readiness.markStandby(true)
    return yield* whileLeading(elector, Layer.launch(work), {
      // The leader is ready once its caches sync, like a replica without election.
      onStartedLeading: Effect.zipRight(readiness.markStandby(false), setLeading(true)),
      onLost
    }).pipe(Effect.ensuring(setLeading(false)))
  })

import { type ChildProcess, spawn } from "node:child_process"
import { once } from "node:events"
import { Duration, Effect, Layer, Option, Redacted } from "effect"
import { Config, type ControllerConfig } from "../../src/config/Config.ts"
import { ControllerAppLive } from "../../src/controller/ControllerApp.ts"
import { RateLimitGate } from "../../src/github/RateLimitGate.ts"
import { type KubeApi, KubeApiError } from "../../src/kube/KubeApi.ts"
import { Liveness } from "../../src/observability/Liveness.ts"
import { Metrics } from "../../src/observability/Metrics.ts"
import { Readiness } from "../../src/observability/Readiness.ts"
import { DEFAULT_TEMPLATE } from "../../src/record/deploymentName.ts"
import { ownerObject } from "./podFactory.ts"

/** Starts the zero-latency GitHub stand-in in its own process. */
export const startZeroLatencyServer = async (): Promise<{ url: string; child: ChildProcess }> => {
  const child = spawn(process.execPath, [new URL("./zeroLatencyServer.ts", import.meta.url).pathname], {
    stdio: ["pipe", "pipe", "inherit"]
  })
  const [line] = (await once(child.stdout!, "data")) as [Buffer]
  return { url: `http://127.0.0.1:${line.toString().trim()}`, child }
}

export const arrivalCount = async (url: string): Promise<number> => Number(await (await fetch(`${url}/_count`)).text())

export const arrivalTimes = async (url: string): Promise<Record<string, number>> =>
  (await fetch(`${url}/_times`)).json() as Promise<Record<string, number>>

/** Controller settings for the benchmarks: throttle lifted, default workers. */
export const benchConfig = (baseUrl: string, overrides: Partial<ControllerConfig> = {}) =>
  Layer.succeed(Config, {
    kubeconfig: Option.none(),
    namespaces: { _tag: "All" },
    namespaceSelector: Option.none(),
    workers: 2,
    metricsPort: 9090,
    org: "bench-org",
    logicalEnvironment: "bench",
    physicalEnvironment: "",
    cluster: "bench",
    baseUrl,
    deploymentNameTemplate: DEFAULT_TEMPLATE,
    bulkClusterSync: false,
    credentials: { _tag: "Token", token: Redacted.make("bench-token") },
    logLevel: "INFO",
    apiRatePerSecond: 0,
    apiBurst: 20,
    apiRequestTimeout: Duration.seconds(30),
    shutdownDrainTimeout: Duration.seconds(60),
    dryRun: false,
    // The scripted API server takes no writes (Event writes would fail there).
    kubeEvents: false,
    podName: Option.none(),
    leaderElection: Option.none(),
    deployedState: Option.none(),
    tracing: Option.none(),
    resyncPeriod: Option.none(),
    kubeApiQps: 0,
    kubeApiBurst: 40,
    ...overrides
  } satisfies ControllerConfig)

/**
 * The controller as main.ts wires it, over a scripted Kubernetes API and
 * the benchmark settings; the outer services stay visible (provideMerge).
 */
export const benchController = (githubUrl: string, kube: Layer.Layer<KubeApi>) =>
  ControllerAppLive.pipe(
    Layer.provideMerge(Layer.mergeAll(benchConfig(githubUrl), Metrics.Default, Readiness.Default, Liveness.Default, RateLimitGate.Default, kube))
  )

/** A GET of one object in the benchmarks: the pod's owner, or 404. */
/** The workload collections the controller also lists and watches; the benchmarks keep them empty and quiet. */
export const isWorkloadCollection = (path: string): boolean =>
  /^\/apis\/(apps|batch)\/v1\/(deployments|daemonsets|statefulsets|jobs|cronjobs)$/.test(path)

export const getOwnerObject = (path: string) => {
  if (isWorkloadCollection(path)) {
    return Effect.succeed({ kind: "PartialObjectMetadataList", metadata: { resourceVersion: "1" }, items: [] })
  }
  const object = ownerObject(path)
  return object === undefined
    ? Effect.fail(new KubeApiError({ status: 404, reason: "NotFound", message: `${path} not found` }))
    : Effect.succeed(object)
}

export const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN

export const waitUntil = (condition: () => boolean | Promise<boolean>, what: string, deadline = Duration.minutes(5)) =>
  Effect.gen(function*() {
    const end = performance.now() + Duration.toMillis(deadline)
    while (!(yield* Effect.promise(async () => condition()))) {
      if (performance.now() > end) return yield* Effect.dieMessage(`benchmark timed out waiting for ${what}`)
      yield* Effect.sleep("50 millis")
    }
  })


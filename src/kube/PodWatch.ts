import { Context, Effect, Layer } from "effect"
import { Config } from "../config/Config.ts"
import { Liveness } from "../observability/Liveness.ts"
import { Metrics } from "../observability/Metrics.ts"
import { makeInterner } from "./Interner.ts"
import type { KubeApi } from "./KubeApi.ts"
import { makePodProjector } from "./podProjection.ts"
import { makeReflector, type Reflector } from "./Reflector.ts"
import { collectionFor, PODS } from "./resources.ts"
import { podKey, type SlimPod } from "./SlimPod.ts"

/**
 * The pod reflector: slim pods, bad objects logged and counted. A service,
 * so the controller runs its deltas and the reconcilers read its store.
 */
export class PodWatch extends Context.Tag("deployment-tracker/PodWatch")<PodWatch, Reflector<SlimPod>>() {}

export const makePodWatch = Effect.gen(function*() {
  const config = yield* Config
  const metrics = yield* Metrics
  const liveness = yield* Liveness
  const { fieldSelector, path } = collectionFor(config.namespaces, PODS)
  return yield* makeReflector<SlimPod>({
    path,
    fieldSelector,
    project: makePodProjector(makeInterner()),
    keyOf: podKey,
    resourceVersionOf: (pod) => pod.resourceVersion,
    progress: liveness.watch("pods"),
    onInvalid: (reason) =>
      Effect.sync(() => metrics.watchObjectInvalid.inc()).pipe(
        Effect.zipRight(Effect.logWarning("Skipping an object from the pod watch that is not a readable pod").pipe(
          Effect.annotateLogs({ reason })
        ))
      ),
    onRestart: (reason) => Effect.sync(() => metrics.watchRestart(reason))
  })
})

export const PodWatchLive: Layer.Layer<PodWatch, never, Config | Metrics | Liveness | KubeApi> = Layer.effect(
  PodWatch,
  makePodWatch
)

import { Effect } from "effect"
import type { NamespaceScope } from "../config/Config.ts"
import { Config } from "../config/Config.ts"
import { Liveness } from "../observability/Liveness.ts"
import { Metrics } from "../observability/Metrics.ts"
import { makeInterner } from "./Interner.ts"
import { makePodProjector } from "./podProjection.ts"
import { makeReflector } from "./Reflector.ts"
import { podKey, type SlimPod } from "./SlimPod.ts"

/** Namespace scoping is applied by the server: a namespaced path or a field selector. */
export const podCollection = (scope: NamespaceScope): { path: string; fieldSelector: string | undefined } => {
  switch (scope._tag) {
    case "All":
      return { path: "/api/v1/pods", fieldSelector: undefined }
    case "Only":
      return { path: `/api/v1/namespaces/${encodeURIComponent(scope.namespace)}/pods`, fieldSelector: undefined }
    case "Exclude":
      return {
        path: "/api/v1/pods",
        fieldSelector: scope.namespaces.map((ns) => `metadata.namespace!=${ns}`).join(",")
      }
  }
}

/** The pod reflector: slim pods, bad objects logged and counted. */
export const makePodWatch = Effect.gen(function*() {
  const config = yield* Config
  const metrics = yield* Metrics
  const liveness = yield* Liveness
  const { fieldSelector, path } = podCollection(config.namespaces)
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

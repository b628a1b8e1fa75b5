import { Duration, Effect } from "effect"
import { projectPod } from "../../src/kube/podProjection.ts"
import { makeReflector } from "../../src/kube/Reflector.ts"
import { podKey, type SlimPod } from "../../src/kube/SlimPod.ts"
import { Liveness } from "../../src/observability/Liveness.ts"

/**
 * A pod reflector reporting to Liveness as "pods", whose own idle timeout
 * (an hour) is longer than any liveness bound: nothing restarts a silent
 * watch, so a stall shows as a stall.
 */
export const livePodReflector = Effect.gen(function*() {
  const liveness = yield* Liveness
  return yield* makeReflector<SlimPod>({
    path: "/api/v1/pods",
    project: projectPod,
    keyOf: podKey,
    resourceVersionOf: (p) => p.resourceVersion,
    idleTimeout: Duration.hours(1),
    progress: liveness.watch("pods")
  })
})

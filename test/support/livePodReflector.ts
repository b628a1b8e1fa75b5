import { Effect } from "effect"
import { projectPod } from "../../src/kube/podProjection.ts"
import { makeReflector } from "../../src/kube/Reflector.ts"
import { podKey, type SlimPod } from "../../src/kube/SlimPod.ts"
import { Liveness } from "../../src/observability/Liveness.ts"

/**
 * A pod reflector reporting to Liveness as "pods". Over a scripted KubeApi
 * nothing ends a silent watch (the idle timeout is the real transport's),
 * so a stall shows as a stall.
 */
export const livePodReflector = Effect.gen(function*() {
  const liveness = yield* Liveness
  return yield* makeReflector<SlimPod>({
    path: "/api/v1/pods",
    project: projectPod,
    keyOf: podKey,
    resourceVersionOf: (p) => p.resourceVersion,
    progress: liveness.watch("pods")
  })
})

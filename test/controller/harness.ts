import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer, Scope } from "effect"
import type { ControllerConfig } from "../../src/config/Config.ts"
import { ControllerAppLive } from "../../src/controller/ControllerApp.ts"
import { RateLimitGate } from "../../src/github/RateLimitGate.ts"
import { Liveness } from "../../src/observability/Liveness.ts"
import { Metrics } from "../../src/observability/Metrics.ts"
import { Readiness } from "../../src/observability/Readiness.ts"
import { fakeGitHub, type ScriptedResponse } from "../support/fakeGitHub.ts"
import { fakeKubeApi } from "../support/fakeKube.ts"
import { testConfigLayer } from "../support/testConfig.ts"

export type KubeScript = Parameters<typeof fakeKubeApi>[0]

/** The controller wired as in main.ts, over a scripted Kubernetes API and a local fake GitHub. */
export const startController = (
  kubeScript: KubeScript,
  githubScript: ReadonlyArray<ScriptedResponse> = [],
  overrides: Partial<ControllerConfig> = {}
) =>
  Effect.gen(function*() {
    const github = yield* fakeGitHub(githubScript)
    const kube = fakeKubeApi(kubeScript)
    const base = Layer.mergeAll(
      testConfigLayer({ baseUrl: github.url, ...overrides }),
      Metrics.Default,
      Readiness.Default,
      Liveness.Default,
      RateLimitGate.Default,
      NodeHttpClient.layerUndici,
      kube.layer
    )
    const app = ControllerAppLive.pipe(Layer.provideMerge(base))
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(app, scope)
    return { github, kube, scope, context }
  })

/** Posted records as `status deployment_name digest-prefix`, in the order they arrived. */
export const posted = (requests: ReadonlyArray<{ body: unknown }>) =>
  requests.map((r) => {
    const body = r.body as { deployment_name: string; status: string; digest: string }
    return `${body.status} ${body.deployment_name} ${body.digest.slice(7, 10)}`
  })

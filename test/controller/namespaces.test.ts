import { describe, expect, it } from "@effect/vitest"
import { type Context, Effect, Exit, Layer, Option, Scope } from "effect"
import { ControllerAppLive } from "../../src/controller/ControllerApp.ts"
import { RateLimitGate } from "../../src/github/RateLimitGate.ts"
import { KubeApiError } from "../../src/kube/KubeApi.ts"
import { Liveness } from "../../src/observability/Liveness.ts"
import { Metrics } from "../../src/observability/Metrics.ts"
import { Readiness } from "../../src/observability/Readiness.ts"
import { eventually, expectTrue } from "../support/eventually.ts"
import { fakeKubeApi } from "../support/fakeKube.ts"
import { deploymentPod, liveCluster, namespace, workload } from "../support/liveCluster.ts"
import { testConfigLayer } from "../support/testConfig.ts"
import { startController } from "./harness.ts"

// Namespaces decide whether a workload is reported and under which
// environments: their deployment-tracker/* annotations, -namespace-selector,
// and the opt-out on a Namespace or a workload.

const LOGICAL = "deployment-tracker/logical-environment"
const PHYSICAL = "deployment-tracker/physical-environment"
const IGNORE = "deployment-tracker/ignore"

interface Post {
  readonly status: string
  readonly deployment_name: string
  readonly logical_environment: string
  readonly physical_environment: string
}

const posts = (requests: ReadonlyArray<{ body: unknown }>) =>
  requests.map((r) => {
    const body = r.body as Post
    return `${body.status} ${body.deployment_name} ${body.logical_environment}/${body.physical_environment}`
  })

const metric = (context: Context.Context<Metrics>, line: string) =>
  Effect.flatMap(Metrics.pipe(Effect.provide(context)), (metrics) => Effect.map(metrics.render, (text) => text.includes(line)))

const handled = (context: Context.Context<Metrics>, line: string) =>
  eventually(Effect.flatMap(metric(context, line), (seen) => expectTrue(seen, line)))

describe("environments from Namespace annotations", () => {
  it.scopedLive("a Namespace's annotations set the records' environments; changing them moves the names", () =>
    Effect.gen(function*() {
      const cluster = yield* liveCluster({
        namespaces: [namespace("default", { [LOGICAL]: "staging", [PHYSICAL]: "eu-1" })],
        pods: [deploymentPod("web", "web-5d8f7c9b4-a")],
        workloads: { Deployment: [workload("web")] }
      })
      const { github, scope } = yield* startController(cluster.script)
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 1, "deployed")))
      expect(posts(github.requests)).toEqual(["deployed default/web/app staging/eu-1"])
      // Moved to production: the staging record goes, the production one comes.
      yield* cluster.namespaces.modified(namespace("default", { [LOGICAL]: "production" }))
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 3, "moved")))
      yield* Scope.close(scope, Exit.void)
      expect(posts(github.requests).slice(1).sort()).toEqual([
        "decommissioned default/web/app staging/eu-1",
        "deployed default/web/app production/lab"
      ])
    }))

  it.scopedLive("an invalid environment annotation is ignored (the tracker's own is used), logged and counted", () =>
    Effect.gen(function*() {
      const cluster = yield* liveCluster({
        namespaces: [namespace("default", { [LOGICAL]: "x".repeat(200) })],
        pods: [deploymentPod("web", "web-5d8f7c9b4-a")],
        workloads: { Deployment: [workload("web")] }
      })
      const { context, github, scope } = yield* startController(cluster.script)
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 1, "deployed")))
      expect(posts(github.requests)).toEqual(["deployed default/web/app test/lab"])
      expect(yield* metric(context, 'deployment_tracker_annotations_invalid_total{annotation="logical-environment"} 1')).toBe(true)
      yield* Scope.close(scope, Exit.void)
    }))

  it.scopedLive("a pod whose Namespace has not been seen yet is not reported until it is (no record under the wrong environment)", () =>
    Effect.gen(function*() {
      const cluster = yield* liveCluster({ namespaces: [], workloads: { Deployment: [workload("web")] } })
      const { context, github, scope } = yield* startController(cluster.script)
      yield* cluster.pods.added(deploymentPod("web", "web-5d8f7c9b4-a"))
      yield* handled(context, 'deptracker_events_processed_ok{event_type="CREATED"} 1')
      expect(github.requests).toEqual([])
      yield* cluster.namespaces.added(namespace("default", { [LOGICAL]: "production" }))
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 1, "deployed")))
      yield* Scope.close(scope, Exit.void)
      expect(posts(github.requests)).toEqual(["deployed default/web/app production/lab"])
    }))
})

describe("opting out", () => {
  it.scopedLive("a workload annotated deployment-tracker/ignore=true: its names are decommissioned, and come back when the annotation goes", () =>
    Effect.gen(function*() {
      const cluster = yield* liveCluster({ pods: [deploymentPod("web", "web-5d8f7c9b4-a")], workloads: { Deployment: [workload("web")] } })
      const { github, scope } = yield* startController(cluster.script)
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 1, "deployed")))
      yield* cluster.workloads("Deployment").modified(workload("web", { annotations: { [IGNORE]: "true" } }))
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 2, "decommissioned")))
      yield* cluster.workloads("Deployment").modified(workload("web"))
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 3, "deployed again")))
      yield* Scope.close(scope, Exit.void)
      expect(posts(github.requests)).toEqual([
        "deployed default/web/app test/lab",
        "decommissioned default/web/app test/lab",
        "deployed default/web/app test/lab"
      ])
    }))

  it.scopedLive("a Namespace annotated deployment-tracker/ignore=true: none of its workloads is reported", () =>
    Effect.gen(function*() {
      const cluster = yield* liveCluster({
        namespaces: [namespace("default", { [IGNORE]: "TRUE" })],
        pods: [deploymentPod("web", "web-5d8f7c9b4-a"), deploymentPod("api", "api-5d8f7c9b4-a")],
        workloads: { Deployment: [workload("web"), workload("api")] }
      })
      const { context, github, scope } = yield* startController(cluster.script)
      yield* handled(context, 'deptracker_events_processed_ok{event_type="CREATED"} 2')
      // Not "true": a typo must not silently stop reporting.
      yield* cluster.namespaces.modified(namespace("default", { [IGNORE]: "yes" }))
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 2, "both deployed")))
      yield* Scope.close(scope, Exit.void)
    }))
})

describe("-namespace-selector", () => {
  it.scopedLive("only namespaces the selector takes are reported; one that leaves the selection has its names decommissioned", () =>
    Effect.gen(function*() {
      // The watch carries the selector: the API server sends only selected Namespaces.
      const cluster = yield* liveCluster({
        namespaces: [namespace("default")],
        pods: [deploymentPod("web", "web-5d8f7c9b4-a"), deploymentPod("api", "api-5d8f7c9b4-a", { namespace: "other" })],
        workloads: { Deployment: [workload("web"), workload("api", { namespace: "other" })] }
      })
      const { github, kube, scope } = yield* startController(cluster.script, [], { namespaceSelector: Option.some("tracking=on") })
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 1, "the selected one deployed")))
      expect(posts(github.requests)).toEqual(["deployed default/web/app test/lab"])
      expect(kube.calls.filter((c) => c.path === "/api/v1/namespaces").every((c) => c.query["labelSelector"] === "tracking=on")).toBe(true)
      // Its label changed: the watch reports it gone from the selection.
      yield* cluster.namespaces.deleted(namespace("default"))
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 2, "decommissioned")))
      // "other" joins the selection.
      yield* cluster.namespaces.added(namespace("other"))
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 3, "other deployed")))
      yield* Scope.close(scope, Exit.void)
      expect(posts(github.requests)).toEqual([
        "deployed default/web/app test/lab",
        "decommissioned default/web/app test/lab",
        "deployed other/api/app test/lab"
      ])
    }))

  it.scoped("a selector that cannot be applied (Namespaces forbidden to this service account) stops the start naming the flag", () =>
    Effect.gen(function*() {
      const forbidden = new KubeApiError({ status: 403, reason: "Forbidden", message: "namespaces is forbidden" })
      const kube = fakeKubeApi({
        lists: [{ items: [], rv: "1" }],
        watches: [],
        collections: new Map([["/api/v1/namespaces", { lists: [forbidden], watches: [] }]])
      })
      const app = ControllerAppLive.pipe(Layer.provideMerge(Layer.mergeAll(
        testConfigLayer({ namespaceSelector: Option.some("tracking=on") }),
        Metrics.Default,
        Readiness.Default,
        Liveness.Default,
        RateLimitGate.Default,
        kube.layer
      )))
      const exit = yield* Effect.exit(Effect.scoped(Layer.build(app)))
      expect(exit).toMatchObject({ _tag: "Failure", cause: { error: { _tag: "NamespacesForbidden", setting: "-namespace-selector" } } })
    }))

  it.scopedLive("without a selector, Namespaces forbidden to this service account: every namespace is reported under the tracker's environments, as the original does", () =>
    Effect.gen(function*() {
      const forbidden = new KubeApiError({ status: 403, reason: "Forbidden", message: "namespaces is forbidden" })
      const cluster = yield* liveCluster({ pods: [deploymentPod("web", "web-5d8f7c9b4-a")], workloads: { Deployment: [workload("web")] } })
      cluster.script.collections.set("/api/v1/namespaces", { lists: [forbidden], watches: [] })
      const { github, scope } = yield* startController(cluster.script)
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 1, "deployed")))
      yield* Scope.close(scope, Exit.void)
      expect(posts(github.requests)).toEqual(["deployed default/web/app test/lab"])
    }))
})

import { describe, expect, it } from "@effect/vitest"
import { type Context, Duration, Effect, Exit, Fiber, Layer, Scope, TestClock } from "effect"
import { ControllerAppLive } from "../../src/controller/ControllerApp.ts"
import { RateLimitGate } from "../../src/github/RateLimitGate.ts"
import { Liveness } from "../../src/observability/Liveness.ts"
import { Metrics } from "../../src/observability/Metrics.ts"
import { Readiness } from "../../src/observability/Readiness.ts"
import { KubeApi, KubeApiError } from "../../src/kube/KubeApi.ts"
import { eventually, expectTrue } from "../support/eventually.ts"
import { fakeKubeApi, metaJson, podJson } from "../support/fakeKube.ts"
import { deploymentPod, liveCluster, objectPath, workload } from "../support/liveCluster.ts"
import { testConfigLayer } from "../support/testConfig.ts"
import { posted, startController } from "./harness.ts"

const DIGEST_A = "a".repeat(64)
const DIGEST_B = "b".repeat(64)
const DIGEST_C = "c".repeat(64)

const metricLine = (context: Context.Context<Metrics>, pattern: string) =>
  Effect.gen(function*() {
    const text = yield* (yield* Metrics.pipe(Effect.provide(context))).render
    return text.includes(pattern)
  })

describe("Controller", () => {
  it.scopedLive("reports running pods once per deployment_name, follows a new image, ignores pods of no supported owner", () =>
    Effect.gen(function*() {
      const cluster = yield* liveCluster({
        pods: [deploymentPod("app", "app-5d8f7c9b4-x1", { digest: DIGEST_A }), deploymentPod("app", "app-5d8f7c9b4-x2", { digest: DIGEST_A })],
        workloads: { Deployment: [workload("app"), workload("web")] }
      })
      const { context, github, scope } = yield* startController(cluster.script)
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 1, "app deployed")))
      yield* cluster.pods.added(deploymentPod("web", "web-5d8f7c9b4-x1", { phase: "Pending", digest: DIGEST_B }))
      yield* cluster.pods.modified(deploymentPod("web", "web-5d8f7c9b4-x1", { digest: DIGEST_B }))
      // A bare pod and a Node-owned (static) pod have no workload: ignored.
      yield* cluster.pods.added(podJson("bare", { digest: DIGEST_C }))
      yield* cluster.pods.added(podJson("static", { digest: DIGEST_C, owner: { kind: "Node", name: "node-1", apiVersion: "v1" } }))
      // A rollout of app: the new pod's digest replaces the old one.
      yield* cluster.pods.added(deploymentPod("app", "app-7c6b5a4d3-y1", { digest: DIGEST_C, hash: "7c6b5a4d3" }))
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 3, "three posts")))
      yield* eventually(Effect.flatMap(
        metricLine(context, 'deptracker_events_processed_ok{event_type="CREATED"} 4'),
        (seen) => expectTrue(seen, "four pods reported Running (bare and static ones are not ours)")
      ))
      yield* Scope.close(scope, Exit.void)
      // Two workloads: their posts interleave in any order, each one's in its own.
      const posts = posted(github.requests)
      expect(posts.filter((p) => p.includes("/app/app"))).toEqual(["deployed default/app/app aaa", "deployed default/app/app ccc"])
      expect(posts.filter((p) => p.includes("/web/app"))).toEqual(["deployed default/web/app bbb"])
    }))

  it.scopedLive("a Deployment's pods need no API read; pods of an unknown ReplicaSet cost one read for all of them", () =>
    Effect.gen(function*() {
      const rs = { kind: "ReplicaSet", name: "api-1", uid: "uid-api-1" }
      const cluster = yield* liveCluster({
        pods: [
          ...Array.from({ length: 5 }, (_, i) => deploymentPod("web", `web-5d8f7c9b4-${i}`)),
          ...Array.from({ length: 5 }, (_, i) => podJson(`api-1-${i}`, { owner: rs }))
        ],
        workloads: { Deployment: [workload("web"), workload("api")] },
        objects: [[objectPath("ReplicaSet", "api-1"), metaJson("api-1", "uid-api-1", { owner: { kind: "Deployment", name: "api", uid: "uid-api" } })]]
      })
      const { context, github, scope } = yield* startController(cluster.script)
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 2, "both deployed")))
      expect(posted(github.requests).sort()).toEqual(["deployed default/api/app aaa", "deployed default/web/app aaa"])
      expect(yield* metricLine(context, 'deployment_tracker_metadata_reads_total{kind="ReplicaSet",result="found"} 1')).toBe(true)
      // Deleting pods reads nothing either.
      yield* cluster.pods.deleted(deploymentPod("web", "web-5d8f7c9b4-0"))
      yield* cluster.pods.deleted(podJson("api-1-0", { owner: rs }))
      yield* eventually(Effect.flatMap(
        metricLine(context, 'deptracker_events_processed_ok{event_type="DELETED"} 2'),
        (seen) => expectTrue(seen, "deletes handled")
      ))
      const text = yield* (yield* Metrics.pipe(Effect.provide(context))).render
      expect(text.split("\n").filter((line) => line.startsWith("deployment_tracker_metadata_reads_total{"))).toEqual([
        'deployment_tracker_metadata_reads_total{kind="ReplicaSet",result="found"} 1'
      ])
      yield* Scope.close(scope, Exit.void)
    }))

  it.scopedLive("a hard failure requeues the workload and its record lands once GitHub recovers", () =>
    Effect.gen(function*() {
      const cluster = yield* liveCluster({ pods: [deploymentPod("app", "app-5d8f7c9b4-x")], workloads: { Deployment: [workload("app")] } })
      const { context, github, scope } = yield* startController(
        cluster.script,
        // 4 attempts (1 + 3 retries) fail: a hard failure; the requeue wins.
        Array.from({ length: 4 }, () => ({ status: 502 }))
      )
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 5, "requeued post")), Duration.seconds(15))
      yield* eventually(Effect.flatMap(
        metricLine(context, 'deptracker_events_processed_failed{event_type="CREATED"} 1'),
        (seen) => expectTrue(seen, "the failed attempt counted")
      ))
      yield* eventually(Effect.flatMap(
        metricLine(context, 'deptracker_events_processed_ok{event_type="CREATED"} 1'),
        (seen) => expectTrue(seen, "then the success")
      ))
      yield* Scope.close(scope, Exit.void)
    }))

  it.scopedLive("records that violate the API's constraints are never sent; the rest are", () =>
    Effect.gen(function*() {
      const bad = deploymentPod("bad", "bad-5d8f7c9b4-x")
      ;(bad["status"] as { containerStatuses: Array<{ imageID: string }> }).containerStatuses[0]!.imageID = "ghcr.io/octo/app@sha256:NOTHEX"
      const cluster = yield* liveCluster({
        pods: [bad, deploymentPod("good", "good-5d8f7c9b4-x")],
        workloads: { Deployment: [workload("bad"), workload("good")] }
      })
      const { context, github, scope } = yield* startController(cluster.script)
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 1, "one post")))
      expect(posted(github.requests)).toEqual(["deployed default/good/app aaa"])
      const metrics = yield* Metrics.pipe(Effect.provide(context))
      const text = yield* metrics.render
      expect(text).toMatch(/deployment_tracker_records_invalid_total\{field="digest"\} 1/)
      yield* Scope.close(scope, Exit.void)
    }))

  it.scopedLive("on shutdown the queued work is finished before the workers stop", () =>
    Effect.gen(function*() {
      const cluster = yield* liveCluster({
        pods: Array.from({ length: 30 }, (_, i) => deploymentPod(`app${i}`, `app${i}-5d8f7c9b4-p`)),
        workloads: { Deployment: Array.from({ length: 30 }, (_, i) => workload(`app${i}`)) }
      })
      const { github, scope } = yield* startController(cluster.script, [], { apiRatePerSecond: 100, apiBurst: 1, workers: 1 })
      // Closing the scope right away: the queue is drained, not dropped.
      yield* Scope.close(scope, Exit.void)
      expect(github.requests).toHaveLength(30)
    }))

  it.scopedLive("replicas of one workload post each deployment_name once, never twice at the same time", () =>
    Effect.gen(function*() {
      const cluster = yield* liveCluster({
        pods: Array.from({ length: 6 }, (_, i) => deploymentPod("app", `app-5d8f7c9b4-r${i}`)),
        workloads: { Deployment: [workload("app")] }
      })
      const { context, github, scope } = yield* startController(cluster.script, [], { workers: 4 })
      yield* eventually(Effect.flatMap(
        metricLine(context, 'deptracker_events_processed_ok{event_type="CREATED"} 6'),
        (seen) => expectTrue(seen, "6 events")
      ))
      // Six pods' events, one key, one reconcile's timing.
      expect(yield* metricLine(context, 'deptracker_events_processed_timer_count{status="ok"} 1')).toBe(true)
      expect(posted(github.requests)).toEqual(["deployed default/app/app aaa"])
      yield* Scope.close(scope, Exit.void)
    }))

  it.scoped("a pod cache that cannot sync within 60 s stops the controller with an error that points at RBAC", () =>
    Effect.gen(function*() {
      const forbidden = () => new KubeApiError({ status: 403, reason: "Forbidden", message: "pods is forbidden" })
      const kube = fakeKubeApi({ lists: Array.from({ length: 100 }, forbidden), watches: [] })
      const app = ControllerAppLive.pipe(Layer.provideMerge(Layer.mergeAll(testConfigLayer(), Metrics.Default, Readiness.Default, Liveness.Default, RateLimitGate.Default, kube.layer)))
      const building = yield* Effect.fork(Effect.scoped(Layer.build(app)))
      yield* TestClock.adjust(Duration.seconds(59))
      expect(building.unsafePoll()).toBeNull()
      yield* TestClock.adjust(Duration.seconds(1))
      const exit = yield* Fiber.await(building)
      expect(exit).toMatchObject({ _tag: "Failure", cause: { error: { _tag: "CacheSyncTimeout" } } })
      expect(String((exit as { cause: { error: { message: string } } }).cause.error.message)).toMatch(/RBAC/)
    }))

  it.scoped("a large list that keeps arriving page by page for more than 60 s is waited for (only silence fails the start)", () =>
    Effect.gen(function*() {
      const page = (i: number) => ({
        items: [podJson(`app-${i}`, { owner: { kind: "ReplicaSet", name: "app-1" } })],
        rv: "10",
        ...(i < 4 ? { continue: String(i + 1) } : {})
      })
      const scripted = fakeKubeApi({ lists: [0, 1, 2, 3, 4].map(page), watches: [] })
      // Each page of pods takes 25 s to come: 125 s in all, never 60 s of silence.
      const slow = Layer.effect(KubeApi, Effect.map(KubeApi, (api) => KubeApi.of({
        ...api,
        getJson: (path, query, options) =>
          path === "/api/v1/pods" ? Effect.delay(api.getJson(path, query, options), "25 seconds") : api.getJson(path, query, options)
      }))).pipe(Layer.provide(scripted.layer))
      const app = ControllerAppLive.pipe(Layer.provideMerge(Layer.mergeAll(testConfigLayer(), Metrics.Default, Readiness.Default, Liveness.Default, RateLimitGate.Default, slow)))
      const building = yield* Effect.fork(Effect.scoped(Layer.build(app)))
      for (let second = 0; second < 124; second++) yield* TestClock.adjust(Duration.seconds(1))
      expect(building.unsafePoll()).toBeNull()
      // Built (then shut down again, its drain on the test clock too).
      for (let second = 0; second < 60 && building.unsafePoll() === null; second++) yield* TestClock.adjust(Duration.seconds(1))
      expect((yield* Fiber.await(building))._tag).toBe("Success")
    }))

  it.scopedLive("readiness turns on once the pod cache has synced", () =>
    Effect.gen(function*() {
      const { context, scope } = yield* startController({ lists: [{ items: [], rv: "1" }], watches: [] })
      const readiness = yield* Readiness.pipe(Effect.provide(context))
      expect(yield* readiness.isReady).toBe(true)
      yield* Scope.close(scope, Exit.void)
    }))
})

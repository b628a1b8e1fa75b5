import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Layer, Scope, TestClock } from "effect"
import { ControllerAppLive } from "../../src/controller/ControllerApp.ts"
import { RateLimitGate } from "../../src/github/RateLimitGate.ts"
import { Liveness } from "../../src/observability/Liveness.ts"
import { Metrics } from "../../src/observability/Metrics.ts"
import { Readiness } from "../../src/observability/Readiness.ts"
import { KubeApiError } from "../../src/kube/KubeApi.ts"
import { eventually, expectTrue } from "../support/eventually.ts"
import { fakeKubeApi, podJson, watchLine } from "../support/fakeKube.ts"
import { testConfigLayer } from "../support/testConfig.ts"
import { posted, startController } from "./harness.ts"

const DIGEST_A = "a".repeat(64)
const DIGEST_B = "b".repeat(64)
const DIGEST_C = "c".repeat(64)

const deploymentPath = (name: string) => `/apis/apps/v1/namespaces/default/deployments/${name}`

describe("Controller", () => {
  it.scopedLive("reports running pods, new pods turning Running, and decommissions only when the workload is gone", () =>
    Effect.gen(function*() {
      const { github, scope } = yield* startController({
        lists: [{
          items: [podJson("app-7d9f-x1", { owner: { kind: "ReplicaSet", name: "app-7d9f" }, digest: DIGEST_A })],
          rv: "10"
        }],
        watches: [[
          watchLine("ADDED", podJson("web-5c-x1", { rv: "11", phase: "Pending", owner: { kind: "ReplicaSet", name: "web-5c" }, digest: DIGEST_B })),
          watchLine("MODIFIED", podJson("web-5c-x1", { rv: "12", owner: { kind: "ReplicaSet", name: "web-5c" }, digest: DIGEST_B })),
          // app still exists: a pod delete is a scale-down, not a decommission.
          watchLine("DELETED", podJson("app-7d9f-x1", { rv: "13", owner: { kind: "ReplicaSet", name: "app-7d9f" }, digest: DIGEST_A })),
          // old is gone: its last pod's delete decommissions it.
          watchLine("DELETED", podJson("old-1a-x1", { rv: "14", owner: { kind: "ReplicaSet", name: "old-1a" }, digest: DIGEST_C })),
          // A bare pod has no workload: ignored.
          watchLine("ADDED", podJson("bare", { rv: "15" }))
        ]],
        objects: new Map([[deploymentPath("app"), { metadata: { name: "app", namespace: "default", uid: "uid-app" } }]])
      })
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length >= 3, "three posts")))
      expect(posted(github.requests).sort()).toEqual([
        "decommissioned default/old/app ccc",
        "deployed default/app/app aaa",
        "deployed default/web/app bbb"
      ])
      yield* Scope.close(scope, Exit.void)
      expect(github.requests).toHaveLength(3)
    }))

  it.scopedLive("a workload being deleted (foreground cascade) counts as gone", () =>
    Effect.gen(function*() {
      const { github, scope } = yield* startController({
        lists: [{ items: [], rv: "10" }],
        watches: [[
          watchLine("DELETED", podJson("api-1-x", { rv: "11", owner: { kind: "ReplicaSet", name: "api-1" } }))
        ]],
        objects: new Map([[deploymentPath("api"), { metadata: { name: "api", namespace: "default", uid: "uid-api", deletionTimestamp: "2026-11-24T10:00:00Z" } }]])
      })
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 1, "one post")))
      expect(posted(github.requests)).toEqual(["decommissioned default/api/app aaa"])
      yield* Scope.close(scope, Exit.void)
    }))

  it.scopedLive("a hard failure requeues the event and it lands once GitHub recovers", () =>
    Effect.gen(function*() {
      const { github, scope } = yield* startController(
        {
          lists: [{
            items: [podJson("app-1-x", { owner: { kind: "ReplicaSet", name: "app-1" } })],
            rv: "10"
          }],
          watches: []
        },
        // 4 attempts (1 + 3 retries) fail: a hard failure; the requeue wins.
        Array.from({ length: 4 }, () => ({ status: 502 }))
      )
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 5, "requeued post")), Duration.seconds(15))
      yield* Scope.close(scope, Exit.void)
    }))

  it.scopedLive("records that violate the API's constraints are never sent; the rest of the pod's records are", () =>
    Effect.gen(function*() {
      const bad = podJson("bad-1-x", { owner: { kind: "ReplicaSet", name: "bad-1" } })
      bad.status.containerStatuses[0]!.imageID = "ghcr.io/octo/app@sha256:NOTHEX"
      const { github, context, scope } = yield* startController({
        lists: [{ items: [bad, podJson("good-1-x", { owner: { kind: "ReplicaSet", name: "good-1" } })], rv: "10" }],
        watches: []
      })
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 1, "one post")))
      expect(posted(github.requests)).toEqual(["deployed default/good/app aaa"])
      const metrics = yield* Metrics.pipe(Effect.provide(context))
      const text = yield* metrics.render
      expect(text).toMatch(/deployment_tracker_records_invalid_total\{field="digest"\} 1/)
      yield* Scope.close(scope, Exit.void)
    }))

  it.scopedLive("on shutdown the queued work is finished before the workers stop", () =>
    Effect.gen(function*() {
      const pods = Array.from({ length: 30 }, (_, i) =>
        podJson(`app-1-p${i}`, { owner: { kind: "ReplicaSet", name: `app${i}-1` } }))
      const { github, scope } = yield* startController(
        { lists: [{ items: pods, rv: "10" }], watches: [] },
        [],
        { apiRatePerSecond: 100, apiBurst: 1, workers: 1 }
      )
      // Closing the scope right away: the queue is drained, not dropped.
      yield* Scope.close(scope, Exit.void)
      expect(github.requests).toHaveLength(30)
    }))

  it.scopedLive("replicas of one workload post each deployment_name once, never twice at the same time", () =>
    Effect.gen(function*() {
      const replicas = Array.from({ length: 6 }, (_, i) =>
        podJson(`app-1-r${i}`, { owner: { kind: "ReplicaSet", name: "app-1" } }))
      const { github, context, scope } = yield* startController(
        { lists: [{ items: replicas, rv: "10" }], watches: [] },
        [],
        { workers: 4 }
      )
      yield* eventually(Effect.gen(function*() {
        const metrics = yield* Metrics.pipe(Effect.provide(context))
        const text = yield* metrics.render
        yield* expectTrue(text.includes('deptracker_events_processed_ok{event_type="CREATED"} 6'), "6 events")
      }))
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

  it.scopedLive("readiness turns on once the pod cache has synced", () =>
    Effect.gen(function*() {
      const { context, scope } = yield* startController({ lists: [{ items: [], rv: "1" }], watches: [] })
      const readiness = yield* Readiness.pipe(Effect.provide(context))
      expect(yield* readiness.isReady).toBe(true)
      yield* Scope.close(scope, Exit.void)
    }))
})

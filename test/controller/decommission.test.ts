import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Exit, Queue, Scope, Stream } from "effect"
import { Metrics } from "../../src/observability/Metrics.ts"
import { eventually, expectTrue } from "../support/eventually.ts"
import { metaJson, podJson, watchLine } from "../support/fakeKube.ts"
import { posted, startController } from "./harness.ts"

const DIGEST_A = "a".repeat(64)
const DIGEST_B = "b".repeat(64)

const DEPLOYMENTS = "/apis/apps/v1/deployments"
const CRONJOBS = "/apis/batch/v1/cronjobs"
const JOBS = "/apis/batch/v1/jobs"
const deploymentPath = (name: string) => `/apis/apps/v1/namespaces/default/deployments/${name}`
const rsPath = (name: string) => `/apis/apps/v1/namespaces/default/replicasets/${name}`

/** A Deployment `name` (uid `uid`) with one ReplicaSet `rs`, both readable by GET. */
const deploymentObjects = (name: string, uid: string, rs: string, annotations?: Record<string, string>) =>
  [
    [deploymentPath(name), metaJson(name, uid, annotations === undefined ? {} : { annotations })],
    [rsPath(rs), metaJson(rs, `uid-${rs}`, { owner: { kind: "Deployment", name, uid } })]
  ] as const

const rsOwned = (rs: string) => ({ kind: "ReplicaSet", name: rs, uid: `uid-${rs}` })

/** Lines the test feeds into a watch while the controller runs. */
const liveWatch = Effect.gen(function*() {
  const lines = yield* Queue.unbounded<string>()
  return { lines, stream: Stream.fromQueue(lines) }
})

const metricLine = (context: Context.Context<Metrics>, pattern: string) =>
  Effect.gen(function*() {
    const text = yield* (yield* Metrics.pipe(Effect.provide(context))).render
    return text.includes(pattern)
  })

describe("decommissions do not depend on the order of pod and workload events", () => {
  it.scopedLive("pods deleted first (workload still there), then the Deployment's delete: one decommission", () =>
    Effect.gen(function*() {
      const pods = yield* liveWatch
      const deployments = yield* liveWatch
      const objects = new Map<string, unknown>(deploymentObjects("web", "uid-web", "web-1"))
      const { context, github, scope } = yield* startController({
        lists: [{ items: [podJson("web-1-a", { owner: rsOwned("web-1"), digest: DIGEST_A })], rv: "10" }],
        watches: [pods.stream],
        objects,
        collections: new Map([[DEPLOYMENTS, {
          lists: [{ items: [metaJson("web", "uid-web")], rv: "10" }],
          watches: [deployments.stream]
        }]])
      })
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 1, "deployed")))
      // Scaled to zero: the pod goes while the Deployment still exists.
      yield* Queue.offer(pods.lines, watchLine("DELETED", podJson("web-1-a", { rv: "11", owner: rsOwned("web-1"), digest: DIGEST_A })))
      yield* eventually(Effect.flatMap(
        metricLine(context, 'deptracker_events_processed_ok{event_type="DELETED"} 1'),
        (seen) => expectTrue(seen, "pod delete processed")
      ))
      expect(posted(github.requests)).toEqual(["deployed default/web/app aaa"])
      // Later the Deployment itself is deleted.
      objects.delete(deploymentPath("web"))
      yield* Queue.offer(deployments.lines, watchLine("DELETED", metaJson("web", "uid-web", { rv: "12" })))
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 2, "decommissioned")))
      expect(posted(github.requests)).toEqual(["deployed default/web/app aaa", "decommissioned default/web/app aaa"])
      yield* Scope.close(scope, Exit.void)
      expect(github.requests).toHaveLength(2)
    }))

  it.scopedLive("the Deployment's delete first, then its pods' deletes: one decommission", () =>
    Effect.gen(function*() {
      const pods = yield* liveWatch
      const deployments = yield* liveWatch
      const objects = new Map<string, unknown>(deploymentObjects("api", "uid-api", "api-1"))
      const replicas = ["api-1-a", "api-1-b", "api-1-c"]
      const { context, github, scope } = yield* startController({
        lists: [{ items: replicas.map((name) => podJson(name, { owner: rsOwned("api-1"), digest: DIGEST_A })), rv: "10" }],
        watches: [pods.stream],
        objects,
        collections: new Map([[DEPLOYMENTS, { lists: [{ items: [metaJson("api", "uid-api")], rv: "10" }], watches: [deployments.stream] }]])
      }, [], { workers: 3 })
      yield* eventually(Effect.flatMap(
        metricLine(context, 'deptracker_events_processed_ok{event_type="CREATED"} 3'),
        (seen) => expectTrue(seen, "three pods reported")
      ))
      objects.clear()
      yield* Queue.offer(deployments.lines, watchLine("DELETED", metaJson("api", "uid-api", { rv: "11" })))
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 2, "decommissioned")))
      yield* Queue.offerAll(
        pods.lines,
        replicas.map((name, i) => watchLine("DELETED", podJson(name, { rv: String(12 + i), owner: rsOwned("api-1"), digest: DIGEST_A })))
      )
      yield* eventually(Effect.flatMap(
        metricLine(context, 'deptracker_events_processed_ok{event_type="DELETED"} 3'),
        (seen) => expectTrue(seen, "pod deletes processed")
      ))
      yield* Scope.close(scope, Exit.void)
      expect(posted(github.requests)).toEqual(["deployed default/api/app aaa", "decommissioned default/api/app aaa"])
    }))

  it.scopedLive("foreground deletion (deletion timestamp on the watch) decommissions before the pods go, once", () =>
    Effect.gen(function*() {
      const pods = yield* liveWatch
      const deployments = yield* liveWatch
      const objects = new Map<string, unknown>(deploymentObjects("fg", "uid-fg", "fg-1"))
      const { context, github, scope } = yield* startController({
        lists: [{ items: [podJson("fg-1-a", { owner: rsOwned("fg-1") })], rv: "10" }],
        watches: [pods.stream],
        objects,
        collections: new Map([[DEPLOYMENTS, { lists: [{ items: [metaJson("fg", "uid-fg")], rv: "10" }], watches: [deployments.stream] }]])
      })
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 1, "deployed")))
      objects.set(deploymentPath("fg"), metaJson("fg", "uid-fg", { deleting: true }))
      yield* Queue.offer(deployments.lines, watchLine("MODIFIED", metaJson("fg", "uid-fg", { rv: "11", deleting: true })))
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 2, "decommissioned")))
      yield* Queue.offer(pods.lines, watchLine("DELETED", podJson("fg-1-a", { rv: "12", owner: rsOwned("fg-1") })))
      objects.clear()
      yield* Queue.offer(deployments.lines, watchLine("DELETED", metaJson("fg", "uid-fg", { rv: "13", deleting: true })))
      yield* eventually(Effect.flatMap(
        metricLine(context, 'deptracker_events_processed_ok{event_type="WORKLOAD_DELETED"} 2'),
        (seen) => expectTrue(seen, "both workload events processed")
      ))
      yield* eventually(Effect.flatMap(
        metricLine(context, 'deptracker_events_processed_ok{event_type="DELETED"} 1'),
        (seen) => expectTrue(seen, "pod delete processed")
      ))
      yield* Scope.close(scope, Exit.void)
      expect(posted(github.requests)).toEqual(["deployed default/fg/app aaa", "decommissioned default/fg/app aaa"])
    }))

  it.scopedLive("delete and recreate under the same name with a new image: the old decommission never lands after the new deploy", () =>
    Effect.gen(function*() {
      const pods = yield* liveWatch
      const deployments = yield* liveWatch
      const objects = new Map<string, unknown>(deploymentObjects("shop", "uid-shop-1", "shop-1"))
      const { context, github, scope } = yield* startController({
        lists: [{ items: [podJson("shop-1-a", { owner: rsOwned("shop-1"), digest: DIGEST_A })], rv: "10" }],
        watches: [pods.stream],
        objects,
        collections: new Map([[DEPLOYMENTS, { lists: [{ items: [metaJson("shop", "uid-shop-1")], rv: "10" }], watches: [deployments.stream] }]])
      })
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 1, "deployed")))
      // Recreated: a new Deployment object (new uid) with a new ReplicaSet and image.
      objects.clear()
      for (const [path, object] of deploymentObjects("shop", "uid-shop-2", "shop-2")) objects.set(path, object)
      // The new pod runs before the old pod's delete is seen, and the old
      // Deployment's delete arrives last of all.
      yield* Queue.offer(pods.lines, watchLine("ADDED", podJson("shop-2-a", { rv: "11", owner: rsOwned("shop-2"), digest: DIGEST_B })))
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 2, "new image deployed")))
      yield* Queue.offer(pods.lines, watchLine("DELETED", podJson("shop-1-a", { rv: "12", owner: rsOwned("shop-1"), digest: DIGEST_A })))
      yield* Queue.offer(deployments.lines, watchLine("DELETED", metaJson("shop", "uid-shop-1", { rv: "13" })))
      yield* eventually(Effect.flatMap(
        metricLine(context, 'deptracker_events_processed_ok{event_type="WORKLOAD_DELETED"} 1'),
        (seen) => expectTrue(seen, "old Deployment's delete processed")
      ))
      yield* eventually(Effect.flatMap(
        metricLine(context, 'deptracker_events_processed_ok{event_type="DELETED"} 1'),
        (seen) => expectTrue(seen, "old pod's delete processed")
      ))
      yield* Scope.close(scope, Exit.void)
      expect(posted(github.requests)).toEqual(["deployed default/shop/app aaa", "deployed default/shop/app bbb"])
    }))

  it.scopedLive("a CronJob's Job deleted after its run is not a decommission; the CronJob's delete is", () =>
    Effect.gen(function*() {
      const jobs = yield* liveWatch
      const cronJobs = yield* liveWatch
      const cron = { kind: "CronJob", name: "nightly", uid: "uid-nightly", apiVersion: "batch/v1" }
      const job = metaJson("nightly-29000000", "uid-job", { owner: cron })
      const objects = new Map<string, unknown>([
        ["/apis/batch/v1/namespaces/default/jobs/nightly-29000000", job],
        ["/apis/batch/v1/namespaces/default/cronjobs/nightly", metaJson("nightly", "uid-nightly")]
      ])
      const { context, github, scope } = yield* startController({
        lists: [{
          items: [podJson("nightly-29000000-x", {
            phase: "Succeeded",
            owner: { kind: "Job", name: "nightly-29000000", uid: "uid-job", apiVersion: "batch/v1" }
          })],
          rv: "10"
        }],
        watches: [],
        objects,
        collections: new Map([
          [JOBS, { lists: [{ items: [job], rv: "10" }], watches: [jobs.stream] }],
          [CRONJOBS, { lists: [{ items: [metaJson("nightly", "uid-nightly")], rv: "10" }], watches: [cronJobs.stream] }]
        ])
      })
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 1, "job run reported")))
      objects.delete("/apis/batch/v1/namespaces/default/jobs/nightly-29000000")
      yield* Queue.offer(jobs.lines, watchLine("DELETED", { ...job, metadata: { ...job.metadata, resourceVersion: "11" } }))
      yield* eventually(Effect.flatMap(
        metricLine(context, 'deptracker_events_processed_ok{event_type="WORKLOAD_DELETED"} 1'),
        (seen) => expectTrue(seen, "job delete processed")
      ))
      expect(posted(github.requests)).toEqual(["deployed default/nightly/app aaa"])
      objects.clear()
      yield* Queue.offer(cronJobs.lines, watchLine("DELETED", metaJson("nightly", "uid-nightly", { rv: "12" })))
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 2, "cronjob decommissioned")))
      expect(posted(github.requests)).toEqual(["deployed default/nightly/app aaa", "decommissioned default/nightly/app aaa"])
      yield* Scope.close(scope, Exit.void)
    }))
})

describe("annotations and dry run", () => {
  it.scopedLive("risks, tags and repository come from the pod and every owner; invalid values are dropped and counted", () =>
    Effect.gen(function*() {
      const objects = new Map<string, unknown>(
        deploymentObjects("pay", "uid-pay", "pay-1", {
          "metadata.github.com/runtime-risks": "Internet-Exposed, sensitive-data",
          "metadata.github.com/team": "payments",
          "metadata.github.com/tier": "deployment-level",
          "metadata.github.com/github-repository": "payments"
        })
      )
      const { context, github, scope } = yield* startController({
        lists: [{
          items: [podJson("pay-1-a", {
            owner: rsOwned("pay-1"),
            annotations: {
              "metadata.github.com/runtime-risks": "critical-resource,not-a-risk",
              "metadata.github.com/tier": "pod-level",
              "unrelated/annotation": "ignored"
            }
          })],
          rv: "10"
        }],
        watches: [],
        objects
      })
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 1, "posted")))
      expect(github.requests[0]!.body).toMatchObject({
        deployment_name: "default/pay/app",
        runtime_risks: ["critical-resource", "internet-exposed", "sensitive-data"],
        tags: { team: "payments", tier: "pod-level" },
        github_repository: "payments"
      })
      expect(yield* metricLine(context, 'deployment_tracker_annotations_invalid_total{annotation="runtime-risks"} 1')).toBe(true)
      yield* Scope.close(scope, Exit.void)
    }))

  it.scopedLive("-dry-run builds and counts records but sends nothing", () =>
    Effect.gen(function*() {
      const objects = new Map<string, unknown>(deploymentObjects("dry", "uid-dry", "dry-1"))
      const { context, github, scope } = yield* startController(
        { lists: [{ items: [podJson("dry-1-a", { owner: rsOwned("dry-1") })], rv: "10" }], watches: [], objects },
        [],
        { dryRun: true }
      )
      yield* eventually(Effect.flatMap(
        metricLine(context, 'deployment_tracker_records_dry_run_total{status="deployed"} 1'),
        (seen) => expectTrue(seen, "dry-run record counted")
      ))
      yield* Scope.close(scope, Exit.void)
      expect(github.requests).toHaveLength(0)
    }))
})

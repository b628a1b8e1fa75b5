import { describe, expect, it } from "@effect/vitest"
import { type Context, Duration, Effect, Exit, Option, Scope } from "effect"
import { Metrics } from "../../src/observability/Metrics.ts"
import { eventually, expectTrue } from "../support/eventually.ts"
import { metaJson, podJson } from "../support/fakeKube.ts"
import { deploymentPod, liveCluster, objectPath, orphaned, terminating, workload } from "../support/liveCluster.ts"
import { posted, startController } from "./harness.ts"

// The reconcile loop over scripted watches, in the orders a real cluster
// can deliver them: the pod watch and the workload watches are separate
// connections, so either may be first. Whatever the order, GitHub ends up
// with the right record and never gets a wrong one on the way.

const DIGEST_A = "a".repeat(64)
const DIGEST_B = "b".repeat(64)

const metric = (context: Context.Context<Metrics>, name: string) =>
  Effect.gen(function*() {
    const text = yield* (yield* Metrics.pipe(Effect.provide(context))).render
    const line = text.split("\n").find((l) => l.startsWith(`${name} `))
    return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1))
  })

/** Waits until the tracker handled `count` events of a type (a reconcile covering them finished). */
const handled = (context: Context.Context<Metrics>, type: string, count: number) =>
  eventually(Effect.flatMap(
    metric(context, `deptracker_events_processed_ok{event_type="${type}"}`),
    (seen) => expectTrue(seen === count, `${count} ${type} handled (${seen})`)
  ))

const webPod = (name: string, digest = DIGEST_A, hash?: string) =>
  deploymentPod("web", name, { digest, ...(hash === undefined ? {} : { hash }) })

describe("decommissions, whichever watch delivers first", () => {
  it.scopedLive("pods deleted first (scale to zero), then the Deployment's delete: one decommission, at the delete", () =>
    Effect.gen(function*() {
      const pods = [webPod("web-5d8f7c9b4-a"), webPod("web-5d8f7c9b4-b")]
      const cluster = yield* liveCluster({ pods, workloads: { Deployment: [workload("web")] } })
      const { context, github, scope } = yield* startController(cluster.script)
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 1, "deployed")))
      for (const pod of pods) yield* cluster.pods.deleted(pod)
      yield* handled(context, "DELETED", 2)
      expect(posted(github.requests)).toEqual(["deployed default/web/app aaa"])
      yield* cluster.workloads("Deployment").deleted(workload("web"))
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 2, "decommissioned")))
      yield* Scope.close(scope, Exit.void)
      expect(posted(github.requests)).toEqual(["deployed default/web/app aaa", "decommissioned default/web/app aaa"])
    }))

  it.scopedLive("the Deployment's delete first (pods still running: nothing yet), then its pods' deletes: one decommission, after the last", () =>
    Effect.gen(function*() {
      const pods = [webPod("web-5d8f7c9b4-a"), webPod("web-5d8f7c9b4-b")]
      const cluster = yield* liveCluster({ pods, workloads: { Deployment: [workload("web")] } })
      const { context, github, scope } = yield* startController(cluster.script, [], { workers: 3 })
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 1, "deployed")))
      yield* cluster.workloads("Deployment").deleted(workload("web"))
      yield* handled(context, "WORKLOAD_DELETED", 1)
      expect(github.requests).toHaveLength(1)
      yield* cluster.pods.deleted(pods[0]!)
      yield* handled(context, "DELETED", 1)
      expect(github.requests).toHaveLength(1)
      yield* cluster.pods.deleted(pods[1]!)
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 2, "decommissioned")))
      yield* handled(context, "DELETED", 2)
      yield* Scope.close(scope, Exit.void)
      expect(posted(github.requests)).toEqual(["deployed default/web/app aaa", "decommissioned default/web/app aaa"])
    }))

  it.scopedLive("foreground deletion: the Deployment marked for deletion and its pods terminating: one decommission, nothing after", () =>
    Effect.gen(function*() {
      const pod = webPod("web-5d8f7c9b4-a")
      const cluster = yield* liveCluster({ pods: [pod], workloads: { Deployment: [workload("web")] } })
      const { context, github, scope } = yield* startController(cluster.script)
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 1, "deployed")))
      yield* cluster.workloads("Deployment").modified(workload("web", { deleting: true }))
      yield* handled(context, "WORKLOAD_DELETED", 1)
      expect(github.requests).toHaveLength(1)
      yield* cluster.pods.modified(terminating(pod))
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 2, "decommissioned")))
      yield* cluster.pods.deleted(terminating(pod))
      yield* cluster.workloads("Deployment").deleted(workload("web", { deleting: true }))
      yield* handled(context, "DELETED", 1)
      yield* handled(context, "WORKLOAD_DELETED", 2)
      yield* Scope.close(scope, Exit.void)
      expect(posted(github.requests)).toEqual(["deployed default/web/app aaa", "decommissioned default/web/app aaa"])
    }))

  it.scopedLive("orphan deletion: the orphaned pods keep the name deployed until they go", () =>
    Effect.gen(function*() {
      const pods = [webPod("web-5d8f7c9b4-a"), webPod("web-5d8f7c9b4-b")]
      const cluster = yield* liveCluster({ pods, workloads: { Deployment: [workload("web")] } })
      const { context, github, scope } = yield* startController(cluster.script)
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 1, "deployed")))
      yield* cluster.workloads("Deployment").deleted(workload("web"))
      for (const pod of pods) yield* cluster.pods.modified(orphaned(pod))
      yield* handled(context, "UPDATED", 2)
      expect(github.requests).toHaveLength(1)
      yield* cluster.pods.deleted(orphaned(pods[0]!))
      yield* handled(context, "DELETED", 1)
      expect(github.requests).toHaveLength(1)
      yield* cluster.pods.deleted(orphaned(pods[1]!))
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 2, "decommissioned")))
      yield* Scope.close(scope, Exit.void)
      expect(posted(github.requests)).toEqual(["deployed default/web/app aaa", "decommissioned default/web/app aaa"])
    }))

  it.scopedLive("orphan deletion and re-apply (a new object adopts the pods): nothing is sent", () =>
    Effect.gen(function*() {
      const pod = podJson("db-0", { digest: DIGEST_A, owner: { kind: "StatefulSet", name: "db", uid: "uid-db-1" } })
      const cluster = yield* liveCluster({ pods: [pod], workloads: { StatefulSet: [workload("db", { uid: "uid-db-1" })] } })
      const { context, github, scope } = yield* startController(cluster.script)
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 1, "deployed")))
      yield* cluster.workloads("StatefulSet").deleted(workload("db", { uid: "uid-db-1" }))
      yield* cluster.pods.modified(orphaned(pod))
      yield* cluster.workloads("StatefulSet").added(workload("db", { uid: "uid-db-2" }))
      yield* cluster.pods.modified(podJson("db-0", { digest: DIGEST_A, owner: { kind: "StatefulSet", name: "db", uid: "uid-db-2" } }))
      yield* handled(context, "UPDATED", 2)
      yield* handled(context, "WORKLOAD_UPDATED", 1)
      yield* Scope.close(scope, Exit.void)
      expect(posted(github.requests)).toEqual(["deployed default/db/app aaa"])
    }))
})

describe("delete and recreate under the same name, in either order", () => {
  it.scopedLive("the new pods run before the old ones' deletes and the old object's delete arrive: the new digest, then nothing", () =>
    Effect.gen(function*() {
      const old = webPod("web-5d8f7c9b4-a", DIGEST_A)
      const cluster = yield* liveCluster({ pods: [old], workloads: { Deployment: [workload("web", { uid: "uid-1" })] } })
      const { context, github, scope } = yield* startController(cluster.script)
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 1, "deployed")))
      yield* cluster.pods.added(webPod("web-7c6b5a4d3-a", DIGEST_B, "7c6b5a4d3"))
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 2, "new digest")))
      yield* cluster.pods.deleted(old)
      yield* cluster.workloads("Deployment").modified(workload("web", { uid: "uid-2" }))
      yield* handled(context, "DELETED", 1)
      yield* handled(context, "WORKLOAD_UPDATED", 1)
      yield* Scope.close(scope, Exit.void)
      expect(posted(github.requests)).toEqual(["deployed default/web/app aaa", "deployed default/web/app bbb"])
    }))

  it.scopedLive("the old one is entirely gone first: decommissioned, then the new one deployed", () =>
    Effect.gen(function*() {
      const old = webPod("web-5d8f7c9b4-a", DIGEST_A)
      const cluster = yield* liveCluster({ pods: [old], workloads: { Deployment: [workload("web", { uid: "uid-1" })] } })
      const { github, scope } = yield* startController(cluster.script)
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 1, "deployed")))
      yield* cluster.workloads("Deployment").deleted(workload("web", { uid: "uid-1" }))
      yield* cluster.pods.deleted(old)
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 2, "decommissioned")))
      yield* cluster.workloads("Deployment").added(workload("web", { uid: "uid-2" }))
      yield* cluster.pods.added(webPod("web-7c6b5a4d3-a", DIGEST_B, "7c6b5a4d3"))
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 3, "deployed again")))
      yield* Scope.close(scope, Exit.void)
      expect(posted(github.requests)).toEqual([
        "deployed default/web/app aaa",
        "decommissioned default/web/app aaa",
        "deployed default/web/app bbb"
      ])
    }))
})

describe("Jobs and CronJobs", () => {
  it.scopedLive("a CronJob's Job going away after its run is not a decommission; the CronJob's delete is", () =>
    Effect.gen(function*() {
      const cron = { kind: "CronJob", name: "nightly", uid: "uid-nightly", apiVersion: "batch/v1" }
      const job = workload("nightly-29000000", { uid: "uid-job", owner: cron })
      const pod = podJson("nightly-29000000-x", {
        phase: "Succeeded",
        owner: { kind: "Job", name: "nightly-29000000", uid: "uid-job", apiVersion: "batch/v1" }
      })
      const cluster = yield* liveCluster({
        pods: [pod],
        workloads: { Job: [job], CronJob: [workload("nightly", { uid: "uid-nightly" })] }
      })
      const { context, github, scope } = yield* startController(cluster.script)
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 1, "the run reported")))
      yield* cluster.pods.deleted(pod)
      yield* cluster.workloads("Job").deleted(job)
      yield* handled(context, "DELETED", 1)
      yield* handled(context, "WORKLOAD_DELETED", 1)
      expect(posted(github.requests)).toEqual(["deployed default/nightly/app aaa"])
      yield* cluster.workloads("CronJob").deleted(workload("nightly", { uid: "uid-nightly" }))
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 2, "decommissioned")))
      yield* Scope.close(scope, Exit.void)
      expect(posted(github.requests)).toEqual(["deployed default/nightly/app aaa", "decommissioned default/nightly/app aaa"])
    }))
})

describe("annotations and dry run", () => {
  it.scopedLive("risks, tags and repository come from the pod and every owner; invalid values are dropped and counted", () =>
    Effect.gen(function*() {
      const deployment = workload("pay", {
        annotations: {
          "metadata.github.com/runtime-risks": "Internet-Exposed, sensitive-data",
          "metadata.github.com/team": "payments",
          "metadata.github.com/tier": "deployment-level",
          "metadata.github.com/github-repository": "payments"
        }
      })
      const pod = deploymentPod("pay", "pay-5d8f7c9b4-a", {
        annotations: {
          "metadata.github.com/runtime-risks": "critical-resource,not-a-risk",
          "metadata.github.com/tier": "pod-level",
          "unrelated/annotation": "ignored"
        }
      })
      const cluster = yield* liveCluster({ pods: [pod], workloads: { Deployment: [deployment] } })
      const { context, github, scope } = yield* startController(cluster.script)
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 1, "posted")))
      expect(github.requests[0]!.body).toMatchObject({
        deployment_name: "default/pay/app",
        runtime_risks: ["critical-resource", "internet-exposed", "sensitive-data"],
        tags: { team: "payments", tier: "pod-level" },
        github_repository: "payments"
      })
      expect(yield* metric(context, 'deployment_tracker_annotations_invalid_total{annotation="runtime-risks"}')).toBe(1)
      // A new tag on the Deployment is a new record: it is sent again.
      yield* cluster.workloads("Deployment").modified(workload("pay", {
        annotations: { ...(deployment.metadata["annotations"] as Record<string, string>), "metadata.github.com/owner": "team-b" }
      }))
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 2, "posted again")))
      expect(github.requests[1]!.body).toMatchObject({ tags: { team: "payments", tier: "pod-level", owner: "team-b" } })
      yield* Scope.close(scope, Exit.void)
    }))

  it.scopedLive("-dry-run builds and counts records but sends nothing", () =>
    Effect.gen(function*() {
      const cluster = yield* liveCluster({ pods: [webPod("web-5d8f7c9b4-a")], workloads: { Deployment: [workload("web")] } })
      const { context, github, scope } = yield* startController(cluster.script, [], { dryRun: true })
      yield* eventually(Effect.flatMap(
        metric(context, 'deployment_tracker_records_dry_run_total{status="deployed"}'),
        (seen) => expectTrue(seen === 1, "dry-run record counted")
      ))
      yield* Scope.close(scope, Exit.void)
      expect(github.requests).toHaveLength(0)
    }))
})

describe("owners that are not watched", () => {
  it.scopedLive("a bare ReplicaSet scaled to zero and then deleted (no event reaches us) is decommissioned by the next resync", () =>
    Effect.gen(function*() {
      const pod = podJson("solo-x", { digest: DIGEST_A, owner: { kind: "ReplicaSet", name: "solo", uid: "uid-solo" } })
      const cluster = yield* liveCluster({ pods: [pod], objects: [[objectPath("ReplicaSet", "solo"), metaJson("solo", "uid-solo")]] })
      const { context, github, scope } = yield* startController(cluster.script, [], { resyncPeriod: Option.some(Duration.millis(300)) })
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 1, "deployed")))
      yield* cluster.pods.deleted(pod)
      yield* handled(context, "DELETED", 1)
      expect(github.requests).toHaveLength(1)
      cluster.objects.delete(objectPath("ReplicaSet", "solo"))
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 2, "decommissioned by a resync")))
      yield* Scope.close(scope, Exit.void)
      expect(posted(github.requests)).toEqual(["deployed default/solo/app aaa", "decommissioned default/solo/app aaa"])
    }))
})

import { describe, expect, it } from "@effect/vitest"
import { loadAllYaml } from "@kubernetes/client-node"
import { readFileSync } from "node:fs"
import { Effect, Option, TestClock } from "effect"
import { KubeApiError } from "../../src/kube/KubeApi.ts"
import type { SlimOwnerReference, SlimPod } from "../../src/kube/SlimPod.ts"
import type { AnnotationChain } from "../../src/metadata/annotations.ts"
import type { ObjectMeta } from "../../src/workload/ObjectMeta.ts"
import { makeOwnerChainResolver, OWNER_CACHE_CAPACITY, OWNER_CACHE_TTL, OWNER_CHAIN_RBAC_RULES } from "../../src/workload/OwnerChainResolver.ts"
import type { Workload } from "../../src/workload/Workload.ts"
import { WATCHED_KINDS } from "../../src/workload/WorkloadWatches.ts"
import { countingKubeApi, getsOf } from "./countingKube.ts"

// Paths are spelled out rather than built from the module, so a wrong path
// in the module fails here instead of agreeing with itself.
const NS = "shop"
const rsPath = (name: string) => `/apis/apps/v1/namespaces/${NS}/replicasets/${name}`
const deploymentPath = (name: string) => `/apis/apps/v1/namespaces/${NS}/deployments/${name}`
const daemonSetPath = (name: string) => `/apis/apps/v1/namespaces/${NS}/daemonsets/${name}`
const statefulSetPath = (name: string) => `/apis/apps/v1/namespaces/${NS}/statefulsets/${name}`
const jobPath = (name: string) => `/apis/batch/v1/namespaces/${NS}/jobs/${name}`
const cronJobPath = (name: string) => `/apis/batch/v1/namespaces/${NS}/cronjobs/${name}`
const rolloutPath = (name: string) => `/apis/argoproj.io/v1alpha1/namespaces/${NS}/rollouts/${name}`

const ref = (apiVersion: string, kind: string, name: string, uid: string, controller = true): SlimOwnerReference => ({
  apiVersion,
  kind,
  name,
  uid,
  controller
})

const pod = (name: string, owners: ReadonlyArray<SlimOwnerReference>): SlimPod => ({
  namespace: NS,
  name,
  uid: `uid-${name}`,
  resourceVersion: "1",
  phase: "Running",
  terminating: false,
  createdAt: 0,
  ownerReferences: owners,
  annotations: undefined,
  containers: [{ name: "app", image: "ghcr.io/octo/app:1.0", imageID: undefined }],
  initContainers: []
})

/** One object's `metadata.github.com/*` annotations, told apart by `level`. */
const ours = (level: string): Readonly<Record<string, string>> => ({ "metadata.github.com/level": level })

/**
 * An object as the API server sends it; only metadata matters here. With
 * `annotations`, it also carries one that is not ours, which must not reach
 * the workload.
 */
const object = (
  kind: string,
  name: string,
  uid: string,
  owners: ReadonlyArray<SlimOwnerReference> = [],
  extra: { readonly annotations?: Readonly<Record<string, string>>; readonly deletionTimestamp?: string } = {}
) => ({
  kind,
  metadata: {
    name,
    namespace: NS,
    uid,
    ownerReferences: owners.length === 0 ? undefined : owners,
    ...(extra.deletionTimestamp !== undefined ? { deletionTimestamp: extra.deletionTimestamp } : {}),
    ...(extra.annotations !== undefined
      ? { annotations: { "deployment.kubernetes.io/revision": "3", ...extra.annotations } }
      : {})
  },
  spec: {}
})

/** An object as a workload watch cache holds it. */
const meta = (
  kind: string,
  name: string,
  uid: string,
  options: { readonly controller?: SlimOwnerReference; readonly annotations?: Readonly<Record<string, string>> } = {}
): ObjectMeta => ({
  kind,
  namespace: NS,
  name,
  uid,
  resourceVersion: "1",
  deleting: false,
  controller: options.controller,
  annotations: options.annotations
})

const rsRef = (name: string, uid = `uid-${name}`) => ref("apps/v1", "ReplicaSet", name, uid)
const jobRef = (name: string, uid = `uid-${name}`) => ref("batch/v1", "Job", name, uid)

const resolveWith = (target: SlimPod) =>
  Effect.gen(function*() {
    const resolver = yield* makeOwnerChainResolver
    return yield* resolver.resolve(target)
  })

const workload = (
  kind: string,
  name: string,
  apiVersion: string,
  uid: string,
  ownerAnnotations: AnnotationChain
): Option.Option<Workload> => Option.some({ kind, name, namespace: NS, apiVersion, uid, ownerAnnotations })

describe("resolve: following controlling owner references", () => {
  it.effect("pod -> ReplicaSet -> Deployment is the Deployment (by owner, not by cutting the RS name), with both objects' annotations, RS first", () => {
    // The RS name's prefix ("web") differs from the Deployment ("frontend"):
    // the name heuristic would give the wrong answer.
    const kube = countingKubeApi(
      new Map([[rsPath("web-7d9f8b6c5d"), object("ReplicaSet", "web-7d9f8b6c5d", "uid-web-7d9f8b6c5d", [
        ref("apps/v1", "Deployment", "frontend", "uid-frontend", false),
        ref("apps/v1", "Deployment", "frontend", "uid-frontend")
      ], { annotations: ours("replicaset") })]]),
      new Map(),
      [meta("Deployment", "frontend", "uid-frontend", { annotations: ours("deployment") })]
    )
    return Effect.gen(function*() {
      const result = yield* resolveWith(pod("web-7d9f8b6c5d-abcde", [rsRef("web-7d9f8b6c5d")]))
      expect(result).toEqual(
        workload("Deployment", "frontend", "apps/v1", "uid-frontend", [ours("replicaset"), ours("deployment")])
      )
      // The Deployment came from its watch cache.
      expect(kube.gets).toEqual([rsPath("web-7d9f8b6c5d")])
    }).pipe(Effect.provide(kube.layer))
  })

  it.effect("an owner without annotations of ours keeps its place in the chain as undefined", () => {
    const kube = countingKubeApi(
      new Map([[rsPath("web-7d9f8b6c5d"), object("ReplicaSet", "web-7d9f8b6c5d", "uid-web-7d9f8b6c5d", [
        ref("apps/v1", "Deployment", "frontend", "uid-frontend")
      ])]]),
      new Map(),
      [meta("Deployment", "frontend", "uid-frontend", { annotations: ours("deployment") })]
    )
    return Effect.gen(function*() {
      const result = yield* resolveWith(pod("web-7d9f8b6c5d-abcde", [rsRef("web-7d9f8b6c5d")]))
      expect(result).toEqual(workload("Deployment", "frontend", "apps/v1", "uid-frontend", [undefined, ours("deployment")]))
    }).pipe(Effect.provide(kube.layer))
  })

  it.effect("a Deployment gone while its ReplicaSet remains is still the workload (uid from the reference), with the RS's annotations only", () => {
    const kube = countingKubeApi(
      new Map([[rsPath("web-7d9f8b6c5d"), object("ReplicaSet", "web-7d9f8b6c5d", "uid-web-7d9f8b6c5d", [
        ref("apps/v1", "Deployment", "frontend", "uid-frontend")
      ], { annotations: ours("replicaset") })]])
    )
    return Effect.gen(function*() {
      const result = yield* resolveWith(pod("web-7d9f8b6c5d-abcde", [rsRef("web-7d9f8b6c5d")]))
      expect(result).toEqual(workload("Deployment", "frontend", "apps/v1", "uid-frontend", [ours("replicaset")]))
      expect(kube.gets).toEqual([rsPath("web-7d9f8b6c5d"), deploymentPath("frontend")])
    }).pipe(Effect.provide(kube.layer))
  })

  it.effect("a bare ReplicaSet (no controlling owner) is its own workload, with its own uid and annotations", () => {
    // A non-controller owner reference does not count as the workload, and is not read.
    const kube = countingKubeApi(
      new Map([[rsPath("cache-5f6d7"), object("ReplicaSet", "cache-5f6d7", "uid-cache-5f6d7", [
        ref("apps/v1", "Deployment", "cache", "uid-cache", false)
      ], { annotations: ours("replicaset") })]])
    )
    return Effect.gen(function*() {
      const result = yield* resolveWith(pod("cache-5f6d7-xyz12", [rsRef("cache-5f6d7")]))
      expect(result).toEqual(workload("ReplicaSet", "cache-5f6d7", "apps/v1", "uid-cache-5f6d7", [ours("replicaset")]))
      expect(kube.gets).toEqual([rsPath("cache-5f6d7")])
    }).pipe(Effect.provide(kube.layer))
  })

  it.effect("a ReplicaSet owned by an Argo Rollout is the Rollout, read by GET, with both objects' annotations", () => {
    const kube = countingKubeApi(
      new Map([
        [rsPath("checkout-6c8d9f"), object("ReplicaSet", "checkout-6c8d9f", "uid-checkout-6c8d9f", [
          ref("argoproj.io/v1alpha1", "Rollout", "checkout", "uid-rollout")
        ], { annotations: ours("replicaset") })],
        [rolloutPath("checkout"), object("Rollout", "checkout", "uid-rollout", [], { annotations: ours("rollout") })]
      ])
    )
    return Effect.gen(function*() {
      const result = yield* resolveWith(pod("checkout-6c8d9f-p1", [rsRef("checkout-6c8d9f")]))
      expect(result).toEqual(
        workload("Rollout", "checkout", "argoproj.io/v1alpha1", "uid-rollout", [ours("replicaset"), ours("rollout")])
      )
      expect(kube.gets).toEqual([rsPath("checkout-6c8d9f"), rolloutPath("checkout")])
    }).pipe(Effect.provide(kube.layer))
  })

  it.effect("DaemonSet and StatefulSet owners are direct, answered from their watch caches with no GET", () => {
    const kube = countingKubeApi(new Map(), new Map(), [
      meta("DaemonSet", "agent", "uid-agent", { annotations: ours("daemonset") }),
      meta("StatefulSet", "db", "uid-db")
    ])
    return Effect.gen(function*() {
      const resolver = yield* makeOwnerChainResolver
      const ds = yield* resolver.resolve(pod("agent-x1", [ref("apps/v1", "DaemonSet", "agent", "uid-agent")]))
      const ss = yield* resolver.resolve(pod("db-0", [ref("apps/v1", "StatefulSet", "db", "uid-db")]))
      expect(ds).toEqual(workload("DaemonSet", "agent", "apps/v1", "uid-agent", [ours("daemonset")]))
      expect(ss).toEqual(workload("StatefulSet", "db", "apps/v1", "uid-db", [undefined]))
      expect(kube.gets).toEqual([])
    }).pipe(Effect.provide(kube.layer))
  })

  it.effect("DaemonSet and StatefulSet owners not in their watch caches are read by GET for their annotations", () => {
    const kube = countingKubeApi(
      new Map([
        [daemonSetPath("agent"), object("DaemonSet", "agent", "uid-agent", [], { annotations: ours("daemonset") })],
        [statefulSetPath("db"), object("StatefulSet", "db", "uid-db", [], { annotations: ours("statefulset") })]
      ])
    )
    return Effect.gen(function*() {
      const resolver = yield* makeOwnerChainResolver
      const ds = yield* resolver.resolve(pod("agent-x1", [ref("apps/v1", "DaemonSet", "agent", "uid-agent")]))
      const ss = yield* resolver.resolve(pod("db-0", [ref("apps/v1", "StatefulSet", "db", "uid-db")]))
      expect(ds).toEqual(workload("DaemonSet", "agent", "apps/v1", "uid-agent", [ours("daemonset")]))
      expect(ss).toEqual(workload("StatefulSet", "db", "apps/v1", "uid-db", [ours("statefulset")]))
      expect(kube.gets).toEqual([daemonSetPath("agent"), statefulSetPath("db")])
    }).pipe(Effect.provide(kube.layer))
  })

  it.effect("a gone DaemonSet (404) is still the workload, with the reference's uid and no annotations", () => {
    const kube = countingKubeApi(new Map())
    return Effect.gen(function*() {
      const result = yield* resolveWith(pod("agent-x1", [ref("apps/v1", "DaemonSet", "agent", "uid-agent")]))
      expect(result).toEqual(workload("DaemonSet", "agent", "apps/v1", "uid-agent", []))
      expect(kube.gets).toEqual([daemonSetPath("agent")])
    }).pipe(Effect.provide(kube.layer))
  })

  it.effect("pods with no controlling owner, or an unsupported one, have no workload", () => {
    const kube = countingKubeApi(new Map())
    return Effect.gen(function*() {
      const resolver = yield* makeOwnerChainResolver
      expect(yield* resolver.resolve(pod("bare", []))).toEqual(Option.none())
      expect(yield* resolver.resolve(pod("owned-loosely", [rsRef("web-1", "u")].map((r) => ({ ...r, controller: false })))))
        .toEqual(Option.none())
      expect(yield* resolver.resolve(pod("static", [ref("v1", "Node", "node-1", "uid-node")]))).toEqual(Option.none())
      expect(kube.gets).toEqual([])
    }).pipe(Effect.provide(kube.layer))
  })

  it.effect("a Job without a controlling CronJob is its own workload, even with a CronJob-like name", () => {
    // The CronJob "migrate" exists, so only following the Job's (absent)
    // owner, not its name, gives the right answer.
    const kube = countingKubeApi(
      new Map<string, unknown>([
        [jobPath("migrate-28745130"), object("Job", "migrate-28745130", "uid-migrate-28745130", [], {
          annotations: ours("job")
        })],
        [cronJobPath("migrate"), object("CronJob", "migrate", "uid-cron-migrate")]
      ])
    )
    return Effect.gen(function*() {
      const result = yield* resolveWith(pod("migrate-28745130-q", [jobRef("migrate-28745130")]))
      expect(result).toEqual(workload("Job", "migrate-28745130", "batch/v1", "uid-migrate-28745130", [ours("job")]))
      expect(kube.gets).toEqual([jobPath("migrate-28745130")])
    }).pipe(Effect.provide(kube.layer))
  })

  it.effect("a Job controlled by a CronJob is the CronJob, with both objects' annotations, Job first", () => {
    // The Job name does not follow the CronJob naming: the owner is followed.
    const kube = countingKubeApi(
      new Map([
        [jobPath("manual-run"), object("Job", "manual-run", "uid-manual-run", [
          ref("batch/v1", "CronJob", "nightly-report", "uid-nightly")
        ], { annotations: ours("job") })],
        [cronJobPath("nightly-report"), object("CronJob", "nightly-report", "uid-nightly", [], { annotations: ours("cronjob") })]
      ])
    )
    return Effect.gen(function*() {
      const result = yield* resolveWith(pod("manual-run-z", [jobRef("manual-run")]))
      expect(result).toEqual(workload("CronJob", "nightly-report", "batch/v1", "uid-nightly", [ours("job"), ours("cronjob")]))
      expect(kube.gets).toEqual([jobPath("manual-run"), cronJobPath("nightly-report")])
    }).pipe(Effect.provide(kube.layer))
  })

  it.effect("Job -> CronJob from the watch caches needs no GET", () => {
    const cronJob = ref("batch/v1", "CronJob", "nightly-report", "uid-nightly")
    const kube = countingKubeApi(new Map(), new Map(), [
      meta("Job", "manual-run", "uid-manual-run", { controller: cronJob, annotations: ours("job") }),
      meta("CronJob", "nightly-report", "uid-nightly", { annotations: ours("cronjob") })
    ])
    return Effect.gen(function*() {
      const result = yield* resolveWith(pod("manual-run-z", [jobRef("manual-run")]))
      expect(result).toEqual(workload("CronJob", "nightly-report", "batch/v1", "uid-nightly", [ours("job"), ours("cronjob")]))
      expect(kube.gets).toEqual([])
    }).pipe(Effect.provide(kube.layer))
  })
})

describe("resolve: owner gone (404)", () => {
  it.effect("a gone ReplicaSet falls back to the Deployment named by cutting its hash: uid unknown (\"\"), no annotations", () => {
    // The Deployment exists in its watch cache, annotated: its annotations
    // must not be used, since which object the pod belonged to is unknown.
    const kube = countingKubeApi(new Map(), new Map(), [
      meta("Deployment", "web", "uid-web", { annotations: ours("deployment") })
    ])
    return Effect.gen(function*() {
      const result = yield* resolveWith(pod("web-7d9f8b6c5d-abcde", [rsRef("web-7d9f8b6c5d")]))
      expect(result).toEqual(workload("Deployment", "web", "apps/v1", "", []))
      expect(kube.gets).toEqual([rsPath("web-7d9f8b6c5d")])
    }).pipe(Effect.provide(kube.layer))
  })

  it.effect("a gone ReplicaSet whose name has no hash to cut is the ReplicaSet itself", () => {
    const kube = countingKubeApi(new Map())
    return Effect.gen(function*() {
      const result = yield* resolveWith(pod("standalone-x", [rsRef("standalone", "uid-standalone")]))
      expect(result).toEqual(workload("ReplicaSet", "standalone", "apps/v1", "uid-standalone", []))
    }).pipe(Effect.provide(kube.layer))
  })

  it.effect("a gone Job named <cronjob>-<digits> is the CronJob when that CronJob exists, with its uid and annotations", () => {
    const kube = countingKubeApi(
      new Map([[cronJobPath("nightly"), object("CronJob", "nightly", "uid-nightly", [], { annotations: ours("cronjob") })]])
    )
    return Effect.gen(function*() {
      const result = yield* resolveWith(pod("nightly-28745130-a", [jobRef("nightly-28745130")]))
      expect(result).toEqual(workload("CronJob", "nightly", "batch/v1", "uid-nightly", [ours("cronjob")]))
      expect(kube.gets).toEqual([jobPath("nightly-28745130"), cronJobPath("nightly")])
    }).pipe(Effect.provide(kube.layer))
  })

  it.effect("a gone Job's CronJob is found in its watch cache with no GET", () => {
    const kube = countingKubeApi(new Map(), new Map(), [meta("CronJob", "nightly", "uid-nightly")])
    return Effect.gen(function*() {
      const result = yield* resolveWith(pod("nightly-28745130-a", [jobRef("nightly-28745130")]))
      expect(result).toEqual(workload("CronJob", "nightly", "batch/v1", "uid-nightly", [undefined]))
      expect(kube.gets).toEqual([jobPath("nightly-28745130")])
    }).pipe(Effect.provide(kube.layer))
  })

  it.effect("a gone Job named <cronjob>-<digits> is the Job itself when no such CronJob exists", () => {
    const kube = countingKubeApi(new Map())
    return Effect.gen(function*() {
      const result = yield* resolveWith(pod("nightly-28745130-a", [jobRef("nightly-28745130")]))
      expect(result).toEqual(workload("Job", "nightly-28745130", "batch/v1", "uid-nightly-28745130", []))
      expect(kube.gets).toEqual([jobPath("nightly-28745130"), cronJobPath("nightly")])
    }).pipe(Effect.provide(kube.layer))
  })

  it.effect("a gone Job whose name does not end in digits is the Job, with no CronJob lookup", () => {
    const kube = countingKubeApi(new Map([[cronJobPath("nightly"), object("CronJob", "nightly", "uid-nightly")]]))
    return Effect.gen(function*() {
      const result = yield* resolveWith(pod("nightly-manual-a", [jobRef("nightly-manual")]))
      expect(result).toEqual(workload("Job", "nightly-manual", "batch/v1", "uid-nightly-manual", []))
      expect(kube.gets).toEqual([jobPath("nightly-manual")])
    }).pipe(Effect.provide(kube.layer))
  })

  it.effect("a ReplicaSet name reused by a new object (other uid) counts as gone, after one GET", () => {
    // The pod was made by the old ReplicaSet; the new one belongs elsewhere.
    const kube = countingKubeApi(
      new Map([[rsPath("web-7d9f8b6c5d"), object("ReplicaSet", "web-7d9f8b6c5d", "uid-new", [
        ref("argoproj.io/v1alpha1", "Rollout", "other", "uid-other")
      ], { annotations: ours("new-replicaset") })]])
    )
    return Effect.gen(function*() {
      const result = yield* resolveWith(pod("web-7d9f8b6c5d-old", [rsRef("web-7d9f8b6c5d", "uid-old")]))
      expect(result).toEqual(workload("Deployment", "web", "apps/v1", "", []))
      expect(kube.gets).toEqual([rsPath("web-7d9f8b6c5d")])
    }).pipe(Effect.provide(kube.layer))
  })

  it.effect("a DaemonSet name reused by a new object (other uid) keeps the reference's uid and not the new object's annotations", () => {
    const kube = countingKubeApi(
      new Map([[daemonSetPath("agent"), object("DaemonSet", "agent", "uid-new", [], { annotations: ours("new-daemonset") })]])
    )
    return Effect.gen(function*() {
      const result = yield* resolveWith(pod("agent-x1", [ref("apps/v1", "DaemonSet", "agent", "uid-old")]))
      expect(result).toEqual(workload("DaemonSet", "agent", "apps/v1", "uid-old", []))
      expect(kube.gets).toEqual([daemonSetPath("agent")])
    }).pipe(Effect.provide(kube.layer))
  })
})

describe("resolve: the workload watch caches", () => {
  const agentRef = ref("apps/v1", "DaemonSet", "agent", "uid-agent")

  it.effect("a watched owner in its cache is answered from the cache, with no GET", () => {
    // The API has no such object: a GET would have made it gone.
    const kube = countingKubeApi(new Map(), new Map(), [meta("DaemonSet", "agent", "uid-agent", { annotations: ours("cached") })])
    return Effect.gen(function*() {
      const result = yield* resolveWith(pod("agent-x1", [agentRef]))
      expect(result).toEqual(workload("DaemonSet", "agent", "apps/v1", "uid-agent", [ours("cached")]))
      expect(kube.gets).toEqual([])
    }).pipe(Effect.provide(kube.layer))
  })

  it.effect("a cache entry with another uid (stale, or recreated) is settled by one GET", () => {
    const kube = countingKubeApi(
      new Map([[daemonSetPath("agent"), object("DaemonSet", "agent", "uid-agent", [], { annotations: ours("api") })]]),
      new Map(),
      [meta("DaemonSet", "agent", "uid-stale", { annotations: ours("stale") })]
    )
    return Effect.gen(function*() {
      const result = yield* resolveWith(pod("agent-x1", [agentRef]))
      expect(result).toEqual(workload("DaemonSet", "agent", "apps/v1", "uid-agent", [ours("api")]))
      expect(kube.gets).toEqual([daemonSetPath("agent")])
    }).pipe(Effect.provide(kube.layer))
  })

  it.effect("a cache miss is read by GET, asking for the metadata representation", () => {
    const kube = countingKubeApi(new Map([[daemonSetPath("agent"), object("DaemonSet", "agent", "uid-agent")]]))
    return Effect.gen(function*() {
      yield* resolveWith(pod("agent-x1", [agentRef]))
      expect(kube.reads).toEqual([{ path: daemonSetPath("agent"), as: "metadata" }])
    }).pipe(Effect.provide(kube.layer))
  })

  it.effect("a watched kind its watch has not seen yet is read once and remembered for a minute", () => {
    // Right after start the pod watch runs ahead of the workload watches:
    // two pods of one DaemonSet cost one GET. (Whether a workload is gone is
    // never answered from here: isActive always asks the API.)
    const kube = countingKubeApi(new Map([[daemonSetPath("agent"), object("DaemonSet", "agent", "uid-agent")]]))
    return Effect.gen(function*() {
      const resolver = yield* makeOwnerChainResolver
      yield* resolver.resolve(pod("agent-x1", [agentRef]))
      yield* resolver.resolve(pod("agent-x2", [agentRef]))
      expect(getsOf(kube.gets, daemonSetPath("agent"))).toBe(1)
      yield* TestClock.adjust(OWNER_CACHE_TTL)
      yield* resolver.resolve(pod("agent-x3", [agentRef]))
      expect(getsOf(kube.gets, daemonSetPath("agent"))).toBe(2)
    }).pipe(Effect.provide(kube.layer))
  })

  it.effect("every GET the resolver makes asks for the metadata representation", () => {
    const kube = countingKubeApi(
      new Map<string, unknown>([
        [rsPath("web-7d9f8b6c5d"), object("ReplicaSet", "web-7d9f8b6c5d", "uid-rs", [ref("apps/v1", "Deployment", "web", "uid-web")])],
        [rsPath("checkout-6c8d9f"), object("ReplicaSet", "checkout-6c8d9f", "uid-rs2", [
          ref("argoproj.io/v1alpha1", "Rollout", "checkout", "uid-rollout")
        ])],
        [jobPath("manual-run"), object("Job", "manual-run", "uid-manual-run", [ref("batch/v1", "CronJob", "nightly", "uid-nightly")])]
      ])
    )
    return Effect.gen(function*() {
      const resolver = yield* makeOwnerChainResolver
      const web = yield* resolver.resolve(pod("web-7d9f8b6c5d-a", [rsRef("web-7d9f8b6c5d", "uid-rs")]))
      yield* resolver.resolve(pod("checkout-6c8d9f-a", [rsRef("checkout-6c8d9f", "uid-rs2")]))
      yield* resolver.resolve(pod("manual-run-a", [jobRef("manual-run")]))
      yield* resolver.resolve(pod("nightly-28745130-a", [jobRef("nightly-28745130")]))
      yield* resolver.isActive(Option.getOrThrow(web))
      expect(kube.reads.map((read) => read.path)).toEqual([
        rsPath("web-7d9f8b6c5d"),
        deploymentPath("web"),
        rsPath("checkout-6c8d9f"),
        rolloutPath("checkout"),
        jobPath("manual-run"),
        cronJobPath("nightly"),
        jobPath("nightly-28745130"),
        cronJobPath("nightly"),
        deploymentPath("web")
      ])
      expect(kube.reads.filter((read) => read.as !== "metadata")).toEqual([])
    }).pipe(Effect.provide(kube.layer))
  })
})

describe("resolve: other API errors fail, never guess", () => {
  const deployedRs = object("ReplicaSet", "web-7d9f8b6c5d", "uid-web-7d9f8b6c5d", [
    ref("apps/v1", "Deployment", "frontend", "uid-frontend")
  ])
  const rolloutRs = object("ReplicaSet", "checkout-6c8d9f", "uid-checkout-6c8d9f", [
    ref("argoproj.io/v1alpha1", "Rollout", "checkout", "uid-rollout")
  ])
  const cases: ReadonlyArray<
    readonly [label: string, path: string, target: SlimPod, status: number, objects: ReadonlyArray<readonly [string, unknown]>]
  > = [
    ["500 on the ReplicaSet", rsPath("web-7d9f8b6c5d"), pod("p", [rsRef("web-7d9f8b6c5d")]), 500, []],
    ["403 on the ReplicaSet", rsPath("web-7d9f8b6c5d"), pod("p", [rsRef("web-7d9f8b6c5d")]), 403, []],
    ["403 on the Job", jobPath("nightly-28745130"), pod("p", [jobRef("nightly-28745130")]), 403, []],
    ["500 on the CronJob after a gone Job", cronJobPath("nightly"), pod("p", [jobRef("nightly-28745130")]), 500, []],
    [
      "500 on the Deployment above a ReplicaSet",
      deploymentPath("frontend"),
      pod("p", [rsRef("web-7d9f8b6c5d")]),
      500,
      [[rsPath("web-7d9f8b6c5d"), deployedRs]]
    ],
    [
      "403 on the Rollout above a ReplicaSet",
      rolloutPath("checkout"),
      pod("p", [rsRef("checkout-6c8d9f")]),
      403,
      [[rsPath("checkout-6c8d9f"), rolloutRs]]
    ],
    [
      "500 on a DaemonSet not in its watch cache",
      daemonSetPath("agent"),
      pod("p", [ref("apps/v1", "DaemonSet", "agent", "uid-agent")]),
      500,
      []
    ]
  ]
  for (const [label, path, target, status, objects] of cases) {
    it.effect(label, () => {
      const kube = countingKubeApi(
        new Map(objects),
        new Map([[path, new KubeApiError({ status, reason: "Boom", message: "injected" })]])
      )
      return Effect.gen(function*() {
        const error = yield* Effect.flip(resolveWith(target))
        expect(error).toBeInstanceOf(KubeApiError)
        expect(error.status).toBe(status)
        expect(getsOf(kube.gets, path)).toBe(1)
      }).pipe(Effect.provide(kube.layer))
    })
  }

  it.effect("an object the API sends without a uid is a decode error, not a gone owner", () => {
    const kube = countingKubeApi(
      new Map([[rsPath("web-7d9f8b6c5d"), { kind: "ReplicaSet", metadata: { name: "web-7d9f8b6c5d", namespace: NS } }]])
    )
    return Effect.gen(function*() {
      const error = yield* Effect.flip(resolveWith(pod("p", [rsRef("web-7d9f8b6c5d")])))
      expect(error).toBeInstanceOf(KubeApiError)
      expect(error.reason).toBe("Decode")
      expect(error.message).toContain("metadata.uid is missing")
    }).pipe(Effect.provide(kube.layer))
  })
})

describe("resolve: owner cache (ReplicaSets and custom owners)", () => {
  const deployedRs = () =>
    object("ReplicaSet", "web-7d9f8b6c5d", "uid-web-7d9f8b6c5d", [ref("apps/v1", "Deployment", "frontend", "uid-frontend")])
  const frontendWatched = [meta("Deployment", "frontend", "uid-frontend")]

  it.effect("a second pod of the same ReplicaSet within 60 s reads the cache; after 60 s it reads the API", () => {
    const kube = countingKubeApi(new Map([[rsPath("web-7d9f8b6c5d"), deployedRs()]]), new Map(), frontendWatched)
    return Effect.gen(function*() {
      const resolver = yield* makeOwnerChainResolver
      const first = yield* resolver.resolve(pod("web-7d9f8b6c5d-a", [rsRef("web-7d9f8b6c5d")]))
      yield* TestClock.adjust("59 seconds")
      const second = yield* resolver.resolve(pod("web-7d9f8b6c5d-b", [rsRef("web-7d9f8b6c5d")]))
      expect(getsOf(kube.gets, rsPath("web-7d9f8b6c5d"))).toBe(1)
      expect(second).toEqual(first)
      yield* TestClock.adjust("2 seconds")
      const third = yield* resolver.resolve(pod("web-7d9f8b6c5d-c", [rsRef("web-7d9f8b6c5d")]))
      expect(getsOf(kube.gets, rsPath("web-7d9f8b6c5d"))).toBe(2)
      expect(third).toEqual(workload("Deployment", "frontend", "apps/v1", "uid-frontend", [undefined, undefined]))
    }).pipe(Effect.provide(kube.layer))
  })

  it.effect("a Rollout read for one pod is cached for the next pods of its ReplicaSets", () => {
    const kube = countingKubeApi(
      new Map([
        [rsPath("checkout-6c8d9f"), object("ReplicaSet", "checkout-6c8d9f", "uid-rs", [
          ref("argoproj.io/v1alpha1", "Rollout", "checkout", "uid-rollout")
        ])],
        [rolloutPath("checkout"), object("Rollout", "checkout", "uid-rollout", [], { annotations: ours("rollout") })]
      ])
    )
    return Effect.gen(function*() {
      const resolver = yield* makeOwnerChainResolver
      yield* resolver.resolve(pod("checkout-6c8d9f-a", [rsRef("checkout-6c8d9f", "uid-rs")]))
      yield* TestClock.adjust("30 seconds")
      const second = yield* resolver.resolve(pod("checkout-6c8d9f-b", [rsRef("checkout-6c8d9f", "uid-rs")]))
      expect(second).toEqual(workload("Rollout", "checkout", "argoproj.io/v1alpha1", "uid-rollout", [undefined, ours("rollout")]))
      expect(kube.gets).toEqual([rsPath("checkout-6c8d9f"), rolloutPath("checkout")])
    }).pipe(Effect.provide(kube.layer))
  })

  it.effect("a cached entry whose uid differs from the pod's owner reference is refetched, and the new object replaces it", () => {
    const kube = countingKubeApi(new Map([[rsPath("web-7d9f8b6c5d"), deployedRs()]]), new Map(), frontendWatched)
    return Effect.gen(function*() {
      const resolver = yield* makeOwnerChainResolver
      yield* resolver.resolve(pod("web-7d9f8b6c5d-a", [rsRef("web-7d9f8b6c5d")]))
      // Deleted and recreated under the same name, now owned by a Rollout.
      kube.objects.set(
        rsPath("web-7d9f8b6c5d"),
        object("ReplicaSet", "web-7d9f8b6c5d", "uid-second", [ref("argoproj.io/v1alpha1", "Rollout", "web", "uid-ro")])
      )
      const result = yield* resolver.resolve(pod("web-7d9f8b6c5d-b", [rsRef("web-7d9f8b6c5d", "uid-second")]))
      expect(getsOf(kube.gets, rsPath("web-7d9f8b6c5d"))).toBe(2)
      expect(result).toEqual(workload("Rollout", "web", "argoproj.io/v1alpha1", "uid-ro", [undefined]))
      // The rest of the new ReplicaSet's pods (a burst after a recreate) read the cache.
      yield* resolver.resolve(pod("web-7d9f8b6c5d-c", [rsRef("web-7d9f8b6c5d", "uid-second")]))
      yield* resolver.resolve(pod("web-7d9f8b6c5d-d", [rsRef("web-7d9f8b6c5d", "uid-second")]))
      expect(getsOf(kube.gets, rsPath("web-7d9f8b6c5d"))).toBe(2)
    }).pipe(Effect.provide(kube.layer))
  })

  it.effect("gone owners and errors are not cached", () => {
    const error = new KubeApiError({ status: 500, reason: "Boom", message: "injected" })
    const kube = countingKubeApi(new Map(), new Map([[rsPath("web-7d9f8b6c5d"), error]]), frontendWatched)
    return Effect.gen(function*() {
      const resolver = yield* makeOwnerChainResolver
      const target = pod("web-7d9f8b6c5d-a", [rsRef("web-7d9f8b6c5d")])
      yield* Effect.flip(resolver.resolve(target))
      kube.failures.clear()
      expect(yield* resolver.resolve(target)).toEqual(workload("Deployment", "web", "apps/v1", "", []))
      kube.objects.set(rsPath("web-7d9f8b6c5d"), deployedRs())
      expect(yield* resolver.resolve(target)).toEqual(
        workload("Deployment", "frontend", "apps/v1", "uid-frontend", [undefined, undefined])
      )
      expect(getsOf(kube.gets, rsPath("web-7d9f8b6c5d"))).toBe(3)
    }).pipe(Effect.provide(kube.layer))
  })

  it.effect("the cache is bounded: past its capacity the oldest entry is dropped", () => {
    const objects = new Map<string, unknown>()
    const names = Array.from({ length: OWNER_CACHE_CAPACITY + 1 }, (_, i) => `rs-${i}`)
    for (const name of names) objects.set(rsPath(name), object("ReplicaSet", name, `uid-${name}`))
    const kube = countingKubeApi(objects)
    return Effect.gen(function*() {
      const resolver = yield* makeOwnerChainResolver
      for (const name of names) yield* resolver.resolve(pod(`${name}-p`, [rsRef(name)]))
      // The newest is still cached; the first one was evicted.
      yield* resolver.resolve(pod("again-last", [rsRef(names[names.length - 1] ?? "")]))
      yield* resolver.resolve(pod("again-first", [rsRef("rs-0")]))
      expect(getsOf(kube.gets, rsPath(names[names.length - 1] ?? ""))).toBe(1)
      expect(getsOf(kube.gets, rsPath("rs-0"))).toBe(2)
    }).pipe(Effect.provide(kube.layer))
  })
})

describe("isActive", () => {
  const check = (
    objects: Map<string, unknown>,
    target: Workload,
    options: { readonly failures?: Map<string, KubeApiError>; readonly watched?: ReadonlyArray<ObjectMeta> } = {}
  ) => {
    const kube = countingKubeApi(objects, options.failures, options.watched)
    return Effect.gen(function*() {
      const resolver = yield* makeOwnerChainResolver
      const active = yield* resolver.isActive(target)
      return { active, reads: kube.reads }
    }).pipe(Effect.provide(kube.layer))
  }
  const frontend: Workload = {
    kind: "Deployment",
    name: "frontend",
    namespace: NS,
    apiVersion: "apps/v1",
    uid: "uid-frontend",
    ownerAnnotations: []
  }
  const present = (uid = "uid-frontend", extra: { readonly deletionTimestamp?: string } = {}) =>
    new Map([[deploymentPath("frontend"), object("Deployment", "frontend", uid, [], extra)]])

  it.effect("a present workload with the same uid is active, read by one GET of its metadata", () =>
    Effect.gen(function*() {
      const { active, reads } = yield* check(present(), frontend)
      expect(active).toBe(true)
      expect(reads).toEqual([{ path: deploymentPath("frontend"), as: "metadata" }])
    }))

  it.effect("an absent workload (404) is not active", () =>
    Effect.gen(function*() {
      expect((yield* check(new Map(), frontend)).active).toBe(false)
    }))

  it.effect("a workload with a deletion timestamp (foreground deletion) is not active", () =>
    Effect.gen(function*() {
      const deleting = present("uid-frontend", { deletionTimestamp: "2026-11-24T10:00:00Z" })
      expect((yield* check(deleting, frontend)).active).toBe(false)
    }))

  it.effect("a workload whose name now belongs to another object (other uid) is not active", () =>
    Effect.gen(function*() {
      expect((yield* check(present("uid-recreated"), frontend)).active).toBe(false)
    }))

  it.effect("with the uid unknown (\"\"), any object of that name counts, unless absent or being deleted", () =>
    Effect.gen(function*() {
      const byName: Workload = { ...frontend, uid: "" }
      expect((yield* check(present("uid-anything"), byName)).active).toBe(true)
      expect((yield* check(new Map(), byName)).active).toBe(false)
      const deleting = present("uid-anything", { deletionTimestamp: "2026-11-24T10:00:00Z" })
      expect((yield* check(deleting, byName)).active).toBe(false)
    }))

  it.effect("the API is asked, not the watch cache: a workload the cache still holds but the API does not is gone", () =>
    Effect.gen(function*() {
      const { active, reads } = yield* check(new Map(), frontend, {
        watched: [meta("Deployment", "frontend", "uid-frontend")]
      })
      expect(active).toBe(false)
      expect(reads.map((read) => read.path)).toEqual([deploymentPath("frontend")])
    }))

  it.effect("each built-in kind is read at its own path, whatever apiVersion the workload carries", () =>
    Effect.gen(function*() {
      const kinds: ReadonlyArray<readonly [kind: string, path: string]> = [
        ["Deployment", deploymentPath("w")],
        ["DaemonSet", daemonSetPath("w")],
        ["StatefulSet", statefulSetPath("w")],
        ["ReplicaSet", rsPath("w")],
        ["Job", jobPath("w")],
        ["CronJob", cronJobPath("w")]
      ]
      for (const [kind, path] of kinds) {
        for (const apiVersion of ["", "extensions/v1beta1"]) {
          const target: Workload = { kind, name: "w", namespace: NS, apiVersion, uid: "u", ownerAnnotations: [] }
          const { active, reads } = yield* check(new Map([[path, object(kind, "w", "u")]]), target)
          expect({ kind, apiVersion, active, paths: reads.map((read) => read.path) }).toEqual({
            kind,
            apiVersion,
            active: true,
            paths: [path]
          })
        }
      }
    }))

  it.effect("a custom kind is read at /apis/{group}/{version}/namespaces/{ns}/{lower-case kind}s/{name}", () =>
    Effect.gen(function*() {
      const rollout: Workload = {
        kind: "Rollout",
        name: "checkout",
        namespace: NS,
        apiVersion: "argoproj.io/v1alpha1",
        uid: "uid-rollout",
        ownerAnnotations: []
      }
      const found = yield* check(new Map([[rolloutPath("checkout"), object("Rollout", "checkout", "uid-rollout")]]), rollout)
      expect(found).toEqual({ active: true, reads: [{ path: rolloutPath("checkout"), as: "metadata" }] })
      expect((yield* check(new Map(), rollout)).active).toBe(false)
    }))

  it.effect("the Rollout a pod resolves to can be checked as is (by GET, not from the owner cache)", () => {
    const kube = countingKubeApi(
      new Map<string, unknown>([
        [rsPath("checkout-6c8d9f"), object("ReplicaSet", "checkout-6c8d9f", "uid-checkout-6c8d9f", [
          ref("argoproj.io/v1alpha1", "Rollout", "checkout", "uid-rollout")
        ])],
        [rolloutPath("checkout"), object("Rollout", "checkout", "uid-rollout")]
      ])
    )
    return Effect.gen(function*() {
      const resolver = yield* makeOwnerChainResolver
      const resolved = yield* resolver.resolve(pod("checkout-6c8d9f-p1", [rsRef("checkout-6c8d9f")]))
      const target = Option.getOrThrow(resolved)
      expect(yield* resolver.isActive(target)).toBe(true)
      kube.objects.delete(rolloutPath("checkout"))
      expect(yield* resolver.isActive(target)).toBe(false)
      expect(kube.gets).toEqual([rsPath("checkout-6c8d9f"), rolloutPath("checkout"), rolloutPath("checkout"), rolloutPath("checkout")])
    }).pipe(Effect.provide(kube.layer))
  })

  it.effect("a custom kind without an apiVersion fails instead of reporting it gone", () =>
    Effect.gen(function*() {
      const unknown: Workload = { kind: "Rollout", name: "checkout", namespace: NS, apiVersion: "", uid: "", ownerAnnotations: [] }
      const error = yield* Effect.flip(check(new Map(), unknown))
      expect(error).toBeInstanceOf(KubeApiError)
      expect(error.reason).toBe("UnknownKind")
    }))

  for (const status of [403, 500]) {
    it.effect(`an API error other than 404 (${status}) fails instead of reporting the workload gone`, () =>
      Effect.gen(function*() {
        const failures = new Map([[deploymentPath("frontend"), new KubeApiError({ status, reason: "Boom", message: "no" })]])
        const error = yield* Effect.flip(check(present(), frontend, { failures }))
        expect(error).toBeInstanceOf(KubeApiError)
        expect(error.status).toBe(status)
      }))
  }
})

describe("RBAC rules", () => {
  /** "group/resource verb" for every verb a set of rules grants. */
  const grants = (
    rules: ReadonlyArray<
      { readonly apiGroups?: ReadonlyArray<string>; readonly resources?: ReadonlyArray<string>; readonly verbs: ReadonlyArray<string> }
    >
  ): ReadonlyArray<string> =>
    [
      ...new Set(
        rules.flatMap((rule) =>
          (rule.apiGroups ?? []).flatMap((group) =>
            (rule.resources ?? []).flatMap((resource) => rule.verbs.map((verb) => `${group}/${resource} ${verb}`))
          )
        )
      )
    ].sort()

  const granted = (verb: string): ReadonlyArray<string> =>
    grants(OWNER_CHAIN_RBAC_RULES).filter((grant) => grant.endsWith(` ${verb}`)).map((grant) => grant.split(" ")[0] ?? "")

  /** group/resource of an object path such as /apis/apps/v1/namespaces/ns/replicasets/x. */
  const resourceOf = (path: string): string => {
    const parts = path.split("/")
    return path.startsWith("/apis/") ? `${parts[2]}/${parts[6]}` : `/${parts[5]}`
  }

  it("`get` covers every path the resolver reads, and nothing else", () => {
    const read = [
      rsPath("x"),
      jobPath("x"),
      cronJobPath("x"),
      deploymentPath("x"),
      daemonSetPath("x"),
      statefulSetPath("x"),
      rolloutPath("x")
    ].map(resourceOf)
    expect(granted("get")).toEqual([...new Set(read)].sort())
  })

  it("`list` and `watch` cover exactly the watched workload kinds", () => {
    const watched = ["apps/deployments", "apps/daemonsets", "apps/statefulsets", "batch/jobs", "batch/cronjobs"].sort()
    expect(granted("list")).toEqual(watched)
    expect(granted("watch")).toEqual(watched)
    // And the watches themselves are of those kinds.
    expect(WATCHED_KINDS.map((kind) => `${kind.apiVersion.split("/")[0]}/${kind.plural}`).sort()).toEqual(watched)
  })

  it("match the ClusterRole in deploy/manifest.yaml, which adds only the pod watch", () => {
    const manifest = readFileSync(new URL("../../deploy/manifest.yaml", import.meta.url), "utf8")
    const clusterRoles = loadAllYaml(manifest).filter((doc: { kind?: string }) => doc.kind === "ClusterRole")
    expect(clusterRoles).toHaveLength(1)
    const podRules = [{ apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] }]
    expect(grants(clusterRoles[0].rules ?? [])).toEqual(grants([...podRules, ...OWNER_CHAIN_RBAC_RULES]))
  })
})

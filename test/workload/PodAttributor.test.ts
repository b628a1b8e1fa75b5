import { describe, expect, it } from "@effect/vitest"
import { type Duration, Effect, Fiber, Layer, TestClock } from "effect"
import { KubeApiError } from "../../src/kube/KubeApi.ts"
import { MetadataReader } from "../../src/kube/MetadataReader.ts"
import type { ObjectMeta } from "../../src/kube/ObjectMeta.ts"
import { READ_RBAC_RULES } from "../../src/kube/resources.ts"
import type { SlimOwnerReference, SlimPod } from "../../src/kube/SlimPod.ts"
import type { AnnotationChain } from "../../src/metadata/annotations.ts"
import type { Anchor, Attribution } from "../../src/workload/Attribution.ts"
import { makePodAttributor } from "../../src/workload/PodAttributor.ts"
import { metadataReaderOver, withGetLatency } from "../support/metadataReader.ts"
import { fixedWorkloadWatches } from "../support/workloadWatches.ts"
import { countingKubeApi, getsOf } from "./countingKube.ts"

// Paths are spelled out rather than built from the module, so a wrong path
// in the module fails here instead of agreeing with itself.
const NS = "shop"
const rsPath = (name: string) => `/apis/apps/v1/namespaces/${NS}/replicasets/${name}`
const jobPath = (name: string) => `/apis/batch/v1/namespaces/${NS}/jobs/${name}`
const cronJobPath = (name: string) => `/apis/batch/v1/namespaces/${NS}/cronjobs/${name}`
const deploymentPath = (name: string) => `/apis/apps/v1/namespaces/${NS}/deployments/${name}`
const daemonSetPath = (name: string) => `/apis/apps/v1/namespaces/${NS}/daemonsets/${name}`
const statefulSetPath = (name: string) => `/apis/apps/v1/namespaces/${NS}/statefulsets/${name}`
const rolloutPath = (name: string) => `/apis/argoproj.io/v1alpha1/namespaces/${NS}/rollouts/${name}`
const kruiseStatefulSetPath = (name: string) => `/apis/apps.kruise.io/v1beta1/namespaces/${NS}/statefulsets/${name}`
const kruiseDaemonSetPath = (name: string) => `/apis/apps.kruise.io/v1alpha1/namespaces/${NS}/daemonsets/${name}`

const APPS = "apps/v1"
const BATCH = "batch/v1"
const ARGO = "argoproj.io/v1alpha1"
const KRUISE = "apps.kruise.io/v1beta1"

const ref = (apiVersion: string, kind: string, name: string, uid: string, controller = true): SlimOwnerReference => ({
  apiVersion,
  kind,
  name,
  uid,
  controller
})
const rsRef = (name: string, uid = `uid-${name}`) => ref(APPS, "ReplicaSet", name, uid)
const jobRef = (name: string, uid = `uid-${name}`) => ref(BATCH, "Job", name, uid)

/** A pod controlled by `owner`; `templateHash` is its pod-template-hash label. */
const pod = (name: string, owner: SlimOwnerReference, templateHash?: string): SlimPod => ({
  namespace: NS,
  name,
  uid: `uid-${name}`,
  resourceVersion: "1",
  phase: "Running",
  terminating: false,
  createdAt: 0,
  ownerReferences: [owner],
  templateHash,
  annotations: undefined,
  containers: [{ name: "app", image: "ghcr.io/octo/app:1.0", imageID: undefined }],
  initContainers: []
})

/** One object's `metadata.github.com/*` annotations, told apart by `level`. */
const ours = (level: string): Readonly<Record<string, string>> => ({ "metadata.github.com/level": level })

/**
 * An object as the metadata API sends it. With `annotations`, it also
 * carries one that is not ours, which must not reach the attribution.
 */
const object = (
  name: string,
  uid: string,
  owners: ReadonlyArray<SlimOwnerReference> = [],
  annotations?: Readonly<Record<string, string>>
) => ({
  apiVersion: "meta.k8s.io/v1",
  kind: "PartialObjectMetadata",
  metadata: {
    name,
    namespace: NS,
    uid,
    resourceVersion: "1",
    ...(owners.length === 0 ? {} : { ownerReferences: owners }),
    ...(annotations === undefined ? {} : { annotations: { "deployment.kubernetes.io/revision": "3", ...annotations } })
  }
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

const anchor = (kind: string, apiVersion: string, name: string, uid: string, watched: boolean): Anchor => ({
  kind,
  apiVersion,
  namespace: NS,
  name,
  uid,
  watched
})

/** The attribution expected: spelled out, not built with the module's helper. */
const attribution = (workloadName: string, anchored: Anchor, ownerAnnotations: AnnotationChain): Attribution => ({
  key: `${NS}/${workloadName}`,
  namespace: NS,
  workloadName,
  anchor: anchored,
  ownerAnnotations
})

const failure = (status: number) => new KubeApiError({ status, reason: `HTTP${status}`, message: `injected ${status}` })

/**
 * The attributor over the real MetadataReader and a counting fake API:
 * `objects` are what GETs find, `failures` answer chosen paths with an
 * error, `watched` is what the workload watch caches hold. With
 * `getLatency` every GET takes that long on the TestClock.
 */
const setup = (
  objects: Map<string, unknown> = new Map(),
  options: {
    readonly failures?: Map<string, KubeApiError>
    readonly watched?: ReadonlyArray<ObjectMeta>
    readonly getLatency?: Duration.DurationInput
  } = {}
) => {
  const kube = countingKubeApi(objects, options.failures ?? new Map(), options.watched ?? [])
  const api = options.getLatency === undefined
    ? kube.layer
    : Layer.merge(withGetLatency(options.getLatency)(kube.layer), fixedWorkloadWatches(options.watched ?? []))
  return { kube, layer: metadataReaderOver(api) }
}

/** The attribution of a pod by its controlling owner. */
const attribute = (target: SlimPod) =>
  Effect.gen(function*() {
    const attributor = yield* makePodAttributor
    return yield* attributor.attribute(target, target.ownerReferences[0]!)
  })

describe("PodAttributor: pods of ReplicaSets", () => {
  it.effect("a Deployment's pod (pod-template-hash suffix, Deployment cached) is the Deployment, with no read at all", () => {
    // Any read would fail loudly: the ReplicaSet is not even readable.
    const { kube, layer } = setup(new Map(), {
      failures: new Map([[rsPath("web-7d9f8b6c5d"), failure(500)]]),
      watched: [meta("Deployment", "web", "uid-web", { annotations: ours("deployment") })]
    })
    return Effect.gen(function*() {
      const result = yield* attribute(pod("web-7d9f8b6c5d-abcde", rsRef("web-7d9f8b6c5d"), "7d9f8b6c5d"))
      // The Deployment's annotations are read live from its cache, so none are carried here.
      expect(result).toEqual(attribution("web", anchor("Deployment", APPS, "web", "uid-web", true), []))
      expect(kube.gets).toEqual([])
    }).pipe(Effect.provide(layer))
  })

  it.effect("a dash-rich Deployment name is cut at the hash, not at the last dash", () => {
    const { kube, layer } = setup(new Map(), { watched: [meta("Deployment", "shop-web-api", "uid-api")] })
    return Effect.gen(function*() {
      const result = yield* attribute(pod("shop-web-api-7d9f8b6c5d-x", rsRef("shop-web-api-7d9f8b6c5d"), "7d9f8b6c5d"))
      expect(result?.key).toBe(`${NS}/shop-web-api`)
      expect(kube.gets).toEqual([])
    }).pipe(Effect.provide(layer))
  })

  it.effect("without the Deployment cached (its watch behind), the ReplicaSet is read and its controlling Deployment is the workload", () => {
    const { kube, layer } = setup(
      new Map([[rsPath("web-7d9f8b6c5d"), object("web-7d9f8b6c5d", "uid-web-7d9f8b6c5d", [ref(APPS, "Deployment", "web", "uid-web")], ours("replicaset"))]])
    )
    return Effect.gen(function*() {
      const result = yield* attribute(pod("web-7d9f8b6c5d-abcde", rsRef("web-7d9f8b6c5d"), "7d9f8b6c5d"))
      expect(result).toEqual(attribution("web", anchor("Deployment", APPS, "web", "uid-web", true), [ours("replicaset")]))
      expect(kube.reads).toEqual([{ path: rsPath("web-7d9f8b6c5d"), as: "metadata" }])
    }).pipe(Effect.provide(layer))
  })

  it.effect("without the hash label the owner reference decides, not the name: the ReplicaSet's controller is the workload", () => {
    // A Deployment named like the cut ReplicaSet name is cached; the name
    // heuristic would pick it, the owner reference says otherwise.
    const { kube, layer } = setup(
      new Map([[rsPath("web-7d9f8b6c5d"), object("web-7d9f8b6c5d", "uid-web-7d9f8b6c5d", [
        ref(APPS, "Deployment", "frontend", "uid-frontend", false),
        ref(APPS, "Deployment", "frontend", "uid-frontend")
      ])]]),
      { watched: [meta("Deployment", "web", "uid-web")] }
    )
    return Effect.gen(function*() {
      const result = yield* attribute(pod("web-7d9f8b6c5d-abcde", rsRef("web-7d9f8b6c5d")))
      expect(result).toEqual(attribution("frontend", anchor("Deployment", APPS, "frontend", "uid-frontend", true), [undefined]))
      expect(kube.gets).toEqual([rsPath("web-7d9f8b6c5d")])
    }).pipe(Effect.provide(layer))
  })

  it.effect("many pods of one ReplicaSet attributed at once cost exactly one read (concurrent reads share it)", () => {
    const { kube, layer } = setup(
      new Map([[rsPath("web-7d9f8b6c5d"), object("web-7d9f8b6c5d", "uid-rs", [ref(APPS, "Deployment", "web", "uid-web")])]]),
      { getLatency: "1 second" }
    )
    return Effect.gen(function*() {
      const attributor = yield* makePodAttributor
      const pods = Array.from({ length: 40 }, (_, i) => pod(`web-7d9f8b6c5d-${i}`, rsRef("web-7d9f8b6c5d", "uid-rs"), "7d9f8b6c5d"))
      const all = yield* Effect.fork(
        Effect.forEach(pods, (p) => attributor.attribute(p, p.ownerReferences[0]!), { concurrency: "unbounded" })
      )
      // Every pod is waiting on the one read before it answers.
      yield* TestClock.adjust("1 second")
      const results = yield* Fiber.join(all)
      expect(new Set(results.map((r) => r?.key))).toEqual(new Set([`${NS}/web`]))
      expect(kube.gets).toEqual([rsPath("web-7d9f8b6c5d")])
      // And the next pod within the minute reads nothing.
      yield* TestClock.adjust("30 seconds")
      yield* attributor.attribute(pods[0]!, pods[0]!.ownerReferences[0]!)
      expect(kube.gets).toHaveLength(1)
    }).pipe(Effect.provide(layer))
  })

  it.effect("a bare ReplicaSet is its own workload under its full name, dashes and all, anchored on itself (not watched)", () => {
    // Its only Deployment reference is not a controller: it does not count.
    const { kube, layer } = setup(
      new Map([[rsPath("cache-web-5f6d7"), object("cache-web-5f6d7", "uid-cache", [ref(APPS, "Deployment", "cache", "uid-d", false)], ours("replicaset"))]])
    )
    return Effect.gen(function*() {
      // Even with a hash label matching its suffix (copied from a Deployment's template).
      for (const hash of [undefined, "5f6d7"]) {
        const result = yield* attribute(pod("cache-web-5f6d7-x", rsRef("cache-web-5f6d7", "uid-cache"), hash))
        expect(result).toEqual(
          attribution("cache-web-5f6d7", anchor("ReplicaSet", APPS, "cache-web-5f6d7", "uid-cache", false), [ours("replicaset")])
        )
      }
      expect(kube.gets).toEqual([rsPath("cache-web-5f6d7")])
    }).pipe(Effect.provide(layer))
  })

  it.effect("an Argo Rollout that can be read is the workload: key is the Rollout's name, annotations [ReplicaSet, Rollout]", () => {
    const { kube, layer } = setup(
      new Map([
        [rsPath("checkout-6c8d9f"), object("checkout-6c8d9f", "uid-rs", [ref(ARGO, "Rollout", "checkout", "uid-rollout")], ours("replicaset"))],
        [rolloutPath("checkout"), object("checkout", "uid-rollout", [], ours("rollout"))]
      ])
    )
    return Effect.gen(function*() {
      const result = yield* attribute(pod("checkout-6c8d9f-p1", rsRef("checkout-6c8d9f", "uid-rs")))
      expect(result).toEqual(
        attribution("checkout", anchor("Rollout", ARGO, "checkout", "uid-rollout", false), [ours("replicaset"), ours("rollout")])
      )
      expect(kube.reads).toEqual([
        { path: rsPath("checkout-6c8d9f"), as: "metadata" },
        { path: rolloutPath("checkout"), as: "metadata" }
      ])
    }).pipe(Effect.provide(layer))
  })

  const unreadableOwners: ReadonlyArray<readonly [label: string, owner: SlimOwnerReference, path: string, answer: KubeApiError | "absent" | "other uid"]> = [
    ["an Argo Rollout the ClusterRole cannot read (403)", ref(ARGO, "Rollout", "checkout", "uid-rollout"), rolloutPath("checkout"), failure(403)],
    ["an Argo Rollout already gone (404)", ref(ARGO, "Rollout", "checkout", "uid-rollout"), rolloutPath("checkout"), "absent"],
    ["a Rollout of that name that is another object (other uid)", ref(ARGO, "Rollout", "checkout", "uid-rollout"), rolloutPath("checkout"), "other uid"],
    [
      "a custom owner of another kind, forbidden (403)",
      ref("deploy.example.com/v1", "Shipper", "checkout", "uid-shipper"),
      "/apis/deploy.example.com/v1/namespaces/shop/shippers/checkout",
      failure(403)
    ],
    [
      "a custom owner of an unknown kind (404 from the API server)",
      ref("deploy.example.com/v1", "Shipper", "checkout", "uid-shipper"),
      "/apis/deploy.example.com/v1/namespaces/shop/shippers/checkout",
      "absent"
    ]
  ]
  for (const [label, owner, path, answer] of unreadableOwners) {
    it.effect(`${label}: named after the ReplicaSet minus its hash, anchored on the ReplicaSet, never retried for ever`, () => {
      const objects = new Map<string, unknown>([[rsPath("checkout-6c8d9f"), object("checkout-6c8d9f", "uid-rs", [owner], ours("replicaset"))]])
      if (answer === "other uid") objects.set(path, object(owner.name, "uid-someone-else", [], ours("other")))
      const failures = new Map(answer instanceof KubeApiError ? [[path, answer]] : [])
      const { kube, layer } = setup(objects, { failures })
      return Effect.gen(function*() {
        const result = yield* attribute(pod("checkout-6c8d9f-p1", rsRef("checkout-6c8d9f", "uid-rs")))
        expect(result).toEqual(
          attribution("checkout", anchor("ReplicaSet", APPS, "checkout-6c8d9f", "uid-rs", false), [ours("replicaset")])
        )
        expect(kube.gets).toEqual([rsPath("checkout-6c8d9f"), path])
      }).pipe(Effect.provide(layer))
    })
  }

  it.effect("a forbidden owner is asked about once a minute, not once per ReplicaSet or pod", () => {
    const rolloutOf = (rs: string) => object(rs, `uid-${rs}`, [ref(ARGO, "Rollout", "checkout", "uid-rollout")])
    const { kube, layer } = setup(
      new Map([[rsPath("checkout-6c8d9f"), rolloutOf("checkout-6c8d9f")], [rsPath("checkout-7a1b2c"), rolloutOf("checkout-7a1b2c")]]),
      { failures: new Map([[rolloutPath("checkout"), failure(403)]]) }
    )
    return Effect.gen(function*() {
      const attributor = yield* makePodAttributor
      for (const [podName, rs] of [["a", "checkout-6c8d9f"], ["b", "checkout-6c8d9f"], ["c", "checkout-7a1b2c"]] as const) {
        const target = pod(`${rs}-${podName}`, rsRef(rs))
        expect((yield* attributor.attribute(target, target.ownerReferences[0]!))?.key).toBe(`${NS}/checkout`)
      }
      expect(getsOf(kube.gets, rolloutPath("checkout"))).toBe(1)
      yield* TestClock.adjust("61 seconds")
      const later = pod("checkout-6c8d9f-d", rsRef("checkout-6c8d9f"))
      yield* attributor.attribute(later, later.ownerReferences[0]!)
      expect(getsOf(kube.gets, rolloutPath("checkout"))).toBe(2)
    }).pipe(Effect.provide(layer))
  })

  it.effect("an unreadable owner whose fallback name is a cached Deployment is anchored on that Deployment", () => {
    const { layer } = setup(
      new Map([[rsPath("checkout-6c8d9f"), object("checkout-6c8d9f", "uid-rs", [ref(ARGO, "Rollout", "checkout", "uid-rollout")])]]),
      { failures: new Map([[rolloutPath("checkout"), failure(403)]]), watched: [meta("Deployment", "checkout", "uid-dep")] }
    )
    return Effect.gen(function*() {
      const result = yield* attribute(pod("checkout-6c8d9f-p1", rsRef("checkout-6c8d9f", "uid-rs")))
      expect(result).toEqual(attribution("checkout", anchor("Deployment", APPS, "checkout", "uid-dep", true), [undefined]))
    }).pipe(Effect.provide(layer))
  })

  it.effect("a ReplicaSet already gone (404) is named by cutting its hash (exactly, with the label), anchored on itself, no annotations", () => {
    const { kube, layer } = setup()
    return Effect.gen(function*() {
      const result = yield* attribute(pod("web-7d9f8b6c5d-abcde", rsRef("web-7d9f8b6c5d"), "7d9f8b6c5d"))
      expect(result).toEqual(attribution("web", anchor("ReplicaSet", APPS, "web-7d9f8b6c5d", "uid-web-7d9f8b6c5d", false), []))
      // Only the ReplicaSet was asked about.
      expect(new Set(kube.gets)).toEqual(new Set([rsPath("web-7d9f8b6c5d")]))
    }).pipe(Effect.provide(layer))
  })

  it.effect("a gone ReplicaSet whose cut name is a cached Deployment is that Deployment (no hash label, so no fast path)", () => {
    // The Deployment's annotations are not copied: it is anchored, and read live from its cache.
    const { layer } = setup(new Map(), { watched: [meta("Deployment", "web", "uid-web", { annotations: ours("deployment") })] })
    return Effect.gen(function*() {
      const result = yield* attribute(pod("web-7d9f8b6c5d-abcde", rsRef("web-7d9f8b6c5d")))
      expect(result).toEqual(attribution("web", anchor("Deployment", APPS, "web", "uid-web", true), []))
    }).pipe(Effect.provide(layer))
  })

  it.effect("a gone ReplicaSet whose name has no hash to cut is named after itself", () => {
    const { layer } = setup()
    return Effect.gen(function*() {
      const result = yield* attribute(pod("standalone-x", rsRef("standalone", "uid-standalone")))
      expect(result).toEqual(attribution("standalone", anchor("ReplicaSet", APPS, "standalone", "uid-standalone", false), []))
    }).pipe(Effect.provide(layer))
  })

  it.effect("a ReplicaSet name now held by another object (other uid) is not the pod's: neither its owner nor its annotations are used", () => {
    const { kube, layer } = setup(
      new Map([[rsPath("web-7d9f8b6c5d"), object("web-7d9f8b6c5d", "uid-new", [ref(ARGO, "Rollout", "other", "uid-other")], ours("new"))]])
    )
    return Effect.gen(function*() {
      const result = yield* attribute(pod("web-7d9f8b6c5d-old", rsRef("web-7d9f8b6c5d", "uid-old"), "7d9f8b6c5d"))
      expect(result).toEqual(attribution("web", anchor("ReplicaSet", APPS, "web-7d9f8b6c5d", "uid-old", false), []))
      // The new object's owner was not followed.
      expect(kube.gets).not.toContain(rolloutPath("other"))
    }).pipe(Effect.provide(layer))
  })

  it.effect("a ReplicaSet reference without an apiVersion is read as apps/v1", () => {
    const { kube, layer } = setup(new Map([[rsPath("cache-5f6d7"), object("cache-5f6d7", "uid-cache")]]))
    return Effect.gen(function*() {
      const result = yield* attribute(pod("cache-5f6d7-x", ref("", "ReplicaSet", "cache-5f6d7", "uid-cache")))
      expect(result?.key).toBe(`${NS}/cache-5f6d7`)
      expect(kube.gets).toEqual([rsPath("cache-5f6d7")])
    }).pipe(Effect.provide(layer))
  })
})

describe("PodAttributor: an owner recreated under the same name within the cache's minute", () => {
  // The pod's owner reference names the object it was made by (its uid); an
  // answer kept from before about another object of that name, or about the
  // name being free, says nothing about this one.
  it.effect("a bare ReplicaSet deleted and recreated: the new pods keep the ReplicaSet's full name", () => {
    const { kube, layer } = setup(new Map([[rsPath("cache-5f6d7"), object("cache-5f6d7", "uid-first")]]))
    return Effect.gen(function*() {
      const attributor = yield* makePodAttributor
      const before = yield* attributor.attribute(pod("cache-5f6d7-a", rsRef("cache-5f6d7", "uid-first")), rsRef("cache-5f6d7", "uid-first"))
      expect(before?.key).toBe(`${NS}/cache-5f6d7`)
      kube.objects.set(rsPath("cache-5f6d7"), object("cache-5f6d7", "uid-second"))
      yield* TestClock.adjust("10 seconds")
      const after = yield* attributor.attribute(pod("cache-5f6d7-b", rsRef("cache-5f6d7", "uid-second")), rsRef("cache-5f6d7", "uid-second"))
      expect(after).toEqual(attribution("cache-5f6d7", anchor("ReplicaSet", APPS, "cache-5f6d7", "uid-second", false), [undefined]))
    }).pipe(Effect.provide(layer))
  })

  it.effect("a bare ReplicaSet found gone, then recreated: its new pods are not named as if it were still gone", () => {
    const { kube, layer } = setup()
    return Effect.gen(function*() {
      const attributor = yield* makePodAttributor
      // The reconcile that decommissions the deleted ReplicaSet asks whether it
      // still exists (Reconciler: readFresh of the anchor): 404, kept a minute.
      expect((yield* (yield* MetadataReader).readFresh({ kind: "ReplicaSet", apiVersion: APPS, namespace: NS, name: "cache-5f6d7" }))._tag)
        .toBe("Absent")
      kube.objects.set(rsPath("cache-5f6d7"), object("cache-5f6d7", "uid-second", [], ours("replicaset")))
      yield* TestClock.adjust("10 seconds")
      const after = yield* attributor.attribute(pod("cache-5f6d7-b", rsRef("cache-5f6d7", "uid-second")), rsRef("cache-5f6d7", "uid-second"))
      expect(after).toEqual(
        attribution("cache-5f6d7", anchor("ReplicaSet", APPS, "cache-5f6d7", "uid-second", false), [ours("replicaset")])
      )
    }).pipe(Effect.provide(layer))
  })
})

describe("PodAttributor: pods of Jobs", () => {
  const nightly = ref(BATCH, "CronJob", "nightly-report", "uid-nightly")

  it.effect("a cached Job controlled by a CronJob is the CronJob, with the Job's annotations, and no read", () => {
    const { kube, layer } = setup(new Map(), {
      watched: [
        meta("Job", "manual-run", "uid-manual-run", { controller: nightly, annotations: ours("job") }),
        meta("CronJob", "nightly-report", "uid-nightly", { annotations: ours("cronjob") })
      ]
    })
    return Effect.gen(function*() {
      const result = yield* attribute(pod("manual-run-z", jobRef("manual-run")))
      expect(result).toEqual(attribution("nightly-report", anchor("CronJob", BATCH, "nightly-report", "uid-nightly", true), [ours("job")]))
      expect(kube.gets).toEqual([])
    }).pipe(Effect.provide(layer))
  })

  it.effect("a Job its cache has not seen yet is read once; controlled by a CronJob, it is the CronJob (owner followed, not the name)", () => {
    const { kube, layer } = setup(new Map([[jobPath("manual-run"), object("manual-run", "uid-manual-run", [nightly], ours("job"))]]))
    return Effect.gen(function*() {
      const result = yield* attribute(pod("manual-run-z", jobRef("manual-run")))
      expect(result).toEqual(attribution("nightly-report", anchor("CronJob", BATCH, "nightly-report", "uid-nightly", true), [ours("job")]))
      expect(kube.reads).toEqual([{ path: jobPath("manual-run"), as: "metadata" }])
    }).pipe(Effect.provide(layer))
  })

  it.effect("a Job without a controlling CronJob is its own workload, even with a CronJob-like name and that CronJob cached", () => {
    const { kube, layer } = setup(new Map(), {
      watched: [meta("Job", "migrate-28745130", "uid-migrate-28745130"), meta("CronJob", "migrate", "uid-cron-migrate")]
    })
    return Effect.gen(function*() {
      const result = yield* attribute(pod("migrate-28745130-q", jobRef("migrate-28745130")))
      expect(result).toEqual(
        attribution("migrate-28745130", anchor("Job", BATCH, "migrate-28745130", "uid-migrate-28745130", true), [])
      )
      expect(kube.gets).toEqual([])
    }).pipe(Effect.provide(layer))
  })

  it.effect("a Job already gone named <cronjob>-<digits> is that CronJob when the CronJob is cached (its uid from the cache)", () => {
    const { kube, layer } = setup(new Map(), { watched: [meta("CronJob", "nightly", "uid-nightly-cron")] })
    return Effect.gen(function*() {
      const result = yield* attribute(pod("nightly-28745130-a", jobRef("nightly-28745130")))
      expect(result).toEqual(attribution("nightly", anchor("CronJob", BATCH, "nightly", "uid-nightly-cron", true), []))
      // The Job was read (404); the CronJob came from its cache.
      expect(kube.gets).toEqual([jobPath("nightly-28745130")])
    }).pipe(Effect.provide(layer))
  })

  it.effect("a Job already gone named <cronjob>-<digits> is the Job itself when no such CronJob is cached (no read of the CronJob)", () => {
    // The API would find the CronJob: only the cache is asked.
    const { kube, layer } = setup(new Map([[cronJobPath("nightly"), object("nightly", "uid-nightly-cron")]]))
    return Effect.gen(function*() {
      const result = yield* attribute(pod("nightly-28745130-a", jobRef("nightly-28745130")))
      expect(result).toEqual(attribution("nightly-28745130", anchor("Job", BATCH, "nightly-28745130", "uid-nightly-28745130", true), []))
      expect(kube.gets).toEqual([jobPath("nightly-28745130")])
    }).pipe(Effect.provide(layer))
  })

  it.effect("a Job already gone whose name does not end in digits is the Job, whatever CronJob is cached", () => {
    const { layer } = setup(new Map(), { watched: [meta("CronJob", "nightly", "uid-nightly-cron")] })
    return Effect.gen(function*() {
      const result = yield* attribute(pod("nightly-manual-a", jobRef("nightly-manual")))
      expect(result?.anchor).toEqual(anchor("Job", BATCH, "nightly-manual", "uid-nightly-manual", true))
    }).pipe(Effect.provide(layer))
  })

  it.effect("a cached Job of another uid (recreated) is not the pod's Job: its CronJob is not used", () => {
    const { kube, layer } = setup(new Map(), {
      watched: [meta("Job", "manual-run", "uid-new", { controller: nightly }), meta("CronJob", "nightly-report", "uid-nightly")]
    })
    return Effect.gen(function*() {
      const result = yield* attribute(pod("manual-run-z", jobRef("manual-run", "uid-old")))
      expect(result).toEqual(attribution("manual-run", anchor("Job", BATCH, "manual-run", "uid-old", true), []))
      // Not trusted from the cache: asked once.
      expect(kube.gets).toEqual([jobPath("manual-run")])
    }).pipe(Effect.provide(layer))
  })
})

describe("PodAttributor: pods of DaemonSets and StatefulSets, of any API group", () => {
  it.effect("apps DaemonSets and StatefulSets are the owner itself, anchored on the watched object, with no read (even uncached)", () => {
    const { kube, layer } = setup(new Map(), { watched: [meta("DaemonSet", "agent", "uid-agent", { annotations: ours("ds") })] })
    return Effect.gen(function*() {
      const ds = yield* attribute(pod("agent-x1", ref(APPS, "DaemonSet", "agent", "uid-agent")))
      const ss = yield* attribute(pod("db-0", ref(APPS, "StatefulSet", "db", "uid-db")))
      expect(ds).toEqual(attribution("agent", anchor("DaemonSet", APPS, "agent", "uid-agent", true), []))
      expect(ss).toEqual(attribution("db", anchor("StatefulSet", APPS, "db", "uid-db", true), []))
      expect(kube.gets).toEqual([])
    }).pipe(Effect.provide(layer))
  })

  it.effect("an OpenKruise Advanced StatefulSet (apps.kruise.io) is reported by kind, read for its annotations, anchor not watched", () => {
    const { kube, layer } = setup(new Map([[kruiseStatefulSetPath("db"), object("db", "uid-kdb", [], ours("kruise"))]]), {
      // An apps StatefulSet of the same name must not stand in for it.
      watched: [meta("StatefulSet", "db", "uid-apps-db", { annotations: ours("apps") })]
    })
    return Effect.gen(function*() {
      const result = yield* attribute(pod("db-0", ref(KRUISE, "StatefulSet", "db", "uid-kdb")))
      expect(result).toEqual(attribution("db", anchor("StatefulSet", KRUISE, "db", "uid-kdb", false), [ours("kruise")]))
      expect(kube.reads).toEqual([{ path: kruiseStatefulSetPath("db"), as: "metadata" }])
    }).pipe(Effect.provide(layer))
  })

  it.effect("an OpenKruise Advanced DaemonSet is reported by kind too", () => {
    const { layer } = setup(new Map([[kruiseDaemonSetPath("agent"), object("agent", "uid-kagent")]]))
    return Effect.gen(function*() {
      const result = yield* attribute(pod("agent-x", ref("apps.kruise.io/v1alpha1", "DaemonSet", "agent", "uid-kagent")))
      expect(result).toEqual(attribution("agent", anchor("DaemonSet", "apps.kruise.io/v1alpha1", "agent", "uid-kagent", false), [undefined]))
    }).pipe(Effect.provide(layer))
  })

  const unreadable: ReadonlyArray<readonly [label: string, failures: Map<string, KubeApiError>, objects: Map<string, unknown>]> = [
    ["forbidden (403)", new Map([[kruiseStatefulSetPath("db"), failure(403)]]), new Map()],
    ["absent (404)", new Map(), new Map()],
    ["another object of that name (other uid)", new Map(), new Map([[kruiseStatefulSetPath("db"), object("db", "uid-other", [], ours("other"))]])]
  ]
  for (const [label, failures, objects] of unreadable) {
    it.effect(`an OpenKruise StatefulSet that cannot be read, ${label}, is still reported, without annotations`, () => {
      const { layer } = setup(objects, { failures })
      return Effect.gen(function*() {
        const result = yield* attribute(pod("db-0", ref(KRUISE, "StatefulSet", "db", "uid-kdb")))
        expect(result).toEqual(attribution("db", anchor("StatefulSet", KRUISE, "db", "uid-kdb", false), []))
      }).pipe(Effect.provide(layer))
    })
  }
})

describe("PodAttributor: pods that are not reported", () => {
  it.effect("pods of other owners (an OpenKruise CloneSet, a Node for static pods, another custom kind) have no attribution, and nothing is read", () => {
    const { kube, layer } = setup()
    return Effect.gen(function*() {
      for (
        const owner of [
          ref("apps.kruise.io/v1alpha1", "CloneSet", "web", "uid-clone"),
          ref("v1", "Node", "node-1", "uid-node"),
          ref(ARGO, "Workflow", "build", "uid-wf"),
          ref(APPS, "Deployment", "web", "uid-web")
        ]
      ) {
        expect(yield* attribute(pod("p", owner))).toBeUndefined()
      }
      expect(kube.gets).toEqual([])
    }).pipe(Effect.provide(layer))
  })
})

describe("PodAttributor: transient API errors fail the attribution, never guess", () => {
  const rolloutRs = object("checkout-6c8d9f", "uid-rs", [ref(ARGO, "Rollout", "checkout", "uid-rollout")])
  const cases: ReadonlyArray<readonly [label: string, path: string, target: SlimPod, status: number, objects: ReadonlyArray<readonly [string, unknown]>]> = [
    ["500 on the ReplicaSet", rsPath("web-7d9f8b6c5d"), pod("p", rsRef("web-7d9f8b6c5d"), "7d9f8b6c5d"), 500, []],
    ["429 on the ReplicaSet", rsPath("web-7d9f8b6c5d"), pod("p", rsRef("web-7d9f8b6c5d")), 429, []],
    ["a transport failure (0) on the ReplicaSet", rsPath("web-7d9f8b6c5d"), pod("p", rsRef("web-7d9f8b6c5d")), 0, []],
    ["503 on the Rollout above a ReplicaSet", rolloutPath("checkout"), pod("p", rsRef("checkout-6c8d9f", "uid-rs")), 503, [[rsPath("checkout-6c8d9f"), rolloutRs]]],
    ["500 on a Job not yet cached", jobPath("nightly-28745130"), pod("p", jobRef("nightly-28745130")), 500, []],
    ["502 on an OpenKruise StatefulSet", kruiseStatefulSetPath("db"), pod("p", ref(KRUISE, "StatefulSet", "db", "uid-kdb")), 502, []]
  ]
  for (const [label, path, target, status, objects] of cases) {
    it.effect(label, () => {
      const { kube, layer } = setup(new Map(objects), { failures: new Map([[path, failure(status)]]) })
      return Effect.gen(function*() {
        const error = yield* Effect.flip(attribute(target))
        expect(error).toBeInstanceOf(KubeApiError)
        expect(error.status).toBe(status)
        expect(getsOf(kube.gets, path)).toBe(1)
      }).pipe(Effect.provide(layer))
    })
  }
})

describe("PodAttributor.attributeFromNames: from the caches and names alone (when the API keeps failing)", () => {
  const cronJob = ref(BATCH, "CronJob", "nightly", "uid-nightly-cron")
  const watched = [
    meta("Deployment", "web", "uid-web"),
    meta("Job", "manual-run", "uid-manual-run", { controller: cronJob, annotations: ours("job") }),
    meta("CronJob", "nightly", "uid-nightly-cron")
  ]
  const cases: ReadonlyArray<readonly [label: string, target: SlimPod, expected: Attribution | undefined]> = [
    [
      "a Deployment's pod: the cached Deployment",
      pod("web-7d9f8b6c5d-a", rsRef("web-7d9f8b6c5d"), "7d9f8b6c5d"),
      attribution("web", anchor("Deployment", APPS, "web", "uid-web", true), [])
    ],
    [
      "a ReplicaSet with no Deployment of its cut name: the cut name, anchored on the ReplicaSet",
      pod("checkout-6c8d9f-a", rsRef("checkout-6c8d9f")),
      attribution("checkout", anchor("ReplicaSet", APPS, "checkout-6c8d9f", "uid-checkout-6c8d9f", false), [])
    ],
    [
      "a cached Job of a cached CronJob: the CronJob, with the Job's annotations",
      pod("manual-run-a", jobRef("manual-run")),
      attribution("nightly", anchor("CronJob", BATCH, "nightly", "uid-nightly-cron", true), [ours("job")])
    ],
    [
      "an uncached Job named <cronjob>-<digits> of a cached CronJob: the CronJob",
      pod("nightly-28745130-a", jobRef("nightly-28745130")),
      attribution("nightly", anchor("CronJob", BATCH, "nightly", "uid-nightly-cron", true), [])
    ],
    [
      "an uncached Job with no CronJob to match: the Job",
      pod("backfill-7-a", jobRef("backfill-7")),
      attribution("backfill-7", anchor("Job", BATCH, "backfill-7", "uid-backfill-7", true), [])
    ],
    [
      "an apps StatefulSet: itself",
      pod("db-0", ref(APPS, "StatefulSet", "db", "uid-db")),
      attribution("db", anchor("StatefulSet", APPS, "db", "uid-db", true), [])
    ],
    [
      "an OpenKruise StatefulSet: itself, not watched",
      pod("db-0", ref(KRUISE, "StatefulSet", "db", "uid-kdb")),
      attribution("db", anchor("StatefulSet", KRUISE, "db", "uid-kdb", false), [])
    ],
    ["a Node's static pod: none", pod("etcd-node-1", ref("v1", "Node", "node-1", "uid-node")), undefined]
  ]
  for (const [label, target, expected] of cases) {
    it.effect(`${label}; nothing is read`, () => {
      // Every path the attributor could read fails: none may be tried.
      const everything = [
        rsPath("web-7d9f8b6c5d"),
        rsPath("checkout-6c8d9f"),
        jobPath("manual-run"),
        jobPath("nightly-28745130"),
        jobPath("backfill-7"),
        cronJobPath("nightly"),
        deploymentPath("web"),
        statefulSetPath("db"),
        daemonSetPath("db"),
        kruiseStatefulSetPath("db")
      ]
      const { kube, layer } = setup(new Map(), { failures: new Map(everything.map((p) => [p, failure(503)])), watched })
      return Effect.gen(function*() {
        const attributor = yield* makePodAttributor
        expect(attributor.attributeFromNames(target, target.ownerReferences[0]!)).toEqual(expected)
        expect(kube.gets).toEqual([])
      }).pipe(Effect.provide(layer))
    })
  }
})

describe("PodAttributor: RBAC", () => {
  /** group/resource of an object path such as /apis/apps/v1/namespaces/ns/replicasets/x. */
  const resourceOf = (path: string): string => {
    const parts = path.split("/")
    return `${parts[2]?.includes(".") || parts[2] === "apps" || parts[2] === "batch" ? parts[2] : ""}/${parts[6]}`
  }
  const granted = new Set(
    READ_RBAC_RULES.filter((rule) => rule.verbs.includes("get")).flatMap((rule) =>
      rule.apiGroups.flatMap((group) => rule.resources.map((resource) => `${group}/${resource}`))
    )
  )

  it.effect("every owner read for Deployments, bare ReplicaSets, Argo Rollouts and Jobs is granted `get` by the ClusterRole's rules", () => {
    const { kube, layer } = setup(
      new Map<string, unknown>([
        [rsPath("web-7d9f8b6c5d"), object("web-7d9f8b6c5d", "uid-rs1", [ref(APPS, "Deployment", "web", "uid-web")])],
        [rsPath("cache-5f6d7"), object("cache-5f6d7", "uid-rs2")],
        [rsPath("checkout-6c8d9f"), object("checkout-6c8d9f", "uid-rs3", [ref(ARGO, "Rollout", "checkout", "uid-ro")])],
        [rolloutPath("checkout"), object("checkout", "uid-ro")],
        [jobPath("manual-run"), object("manual-run", "uid-job", [ref(BATCH, "CronJob", "nightly", "uid-cron")])]
      ])
    )
    return Effect.gen(function*() {
      yield* attribute(pod("a", rsRef("web-7d9f8b6c5d", "uid-rs1")))
      yield* attribute(pod("b", rsRef("cache-5f6d7", "uid-rs2")))
      yield* attribute(pod("c", rsRef("checkout-6c8d9f", "uid-rs3")))
      yield* attribute(pod("d", jobRef("manual-run", "uid-job")))
      yield* attribute(pod("e", jobRef("nightly-28745130")))
      const read = [...new Set(kube.gets.map(resourceOf))].sort()
      expect(read).toEqual(["apps/replicasets", "argoproj.io/rollouts", "batch/jobs"])
      for (const resource of read) expect(granted).toContain(resource)
    }).pipe(Effect.provide(layer))
  })
})

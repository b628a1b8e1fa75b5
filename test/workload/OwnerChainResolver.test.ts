import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, TestClock } from "effect"
import { KubeApiError } from "../../src/kube/KubeApi.ts"
import type { SlimOwnerReference, SlimPod } from "../../src/kube/SlimPod.ts"
import {
  makeOwnerChainResolver,
  OWNER_CACHE_CAPACITY,
  OWNER_CHAIN_RBAC_RULES,
  type ResolvedWorkload
} from "../../src/workload/OwnerChainResolver.ts"
import type { Workload } from "../../src/workload/Workload.ts"
import { countingKubeApi, getsOf } from "./countingKube.ts"

// Paths are spelled out rather than built from the module, so a wrong path
// in the module fails here instead of agreeing with itself.
const NS = "shop"
const rsPath = (name: string) => `/apis/apps/v1/namespaces/${NS}/replicasets/${name}`
const jobPath = (name: string) => `/apis/batch/v1/namespaces/${NS}/jobs/${name}`
const cronJobPath = (name: string) => `/apis/batch/v1/namespaces/${NS}/cronjobs/${name}`
const deploymentPath = (name: string) => `/apis/apps/v1/namespaces/${NS}/deployments/${name}`
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

/** An object as the API server sends it; only metadata matters here. */
const object = (
  kind: string,
  name: string,
  uid: string,
  owners: ReadonlyArray<SlimOwnerReference> = [],
  extra: Record<string, unknown> = {}
) => ({
  kind,
  metadata: { name, namespace: NS, uid, ownerReferences: owners.length === 0 ? undefined : owners, ...extra },
  spec: {}
})

const rsRef = (name: string, uid = `uid-${name}`) => ref("apps/v1", "ReplicaSet", name, uid)
const jobRef = (name: string, uid = `uid-${name}`) => ref("batch/v1", "Job", name, uid)

const resolveWith = (target: SlimPod) =>
  Effect.gen(function*() {
    const resolver = yield* makeOwnerChainResolver
    return yield* resolver.resolve(target)
  })

const workload = (kind: string, name: string, apiVersion: string): Option.Option<ResolvedWorkload> =>
  Option.some({ kind, name, namespace: NS, apiVersion })

describe("resolve: following controlling owner references", () => {
  it.effect("pod -> ReplicaSet -> Deployment is named by the Deployment, not by cutting the RS name", () => {
    // The RS name's prefix ("web") differs from the Deployment ("frontend"):
    // the name heuristic would give the wrong answer.
    const kube = countingKubeApi(
      new Map([[rsPath("web-7d9f8b6c5d"), object("ReplicaSet", "web-7d9f8b6c5d", "uid-web-7d9f8b6c5d", [
        ref("apps/v1", "Deployment", "frontend", "uid-frontend", false),
        ref("apps/v1", "Deployment", "frontend", "uid-frontend")
      ])]])
    )
    return Effect.gen(function*() {
      const result = yield* resolveWith(pod("web-7d9f8b6c5d-abcde", [rsRef("web-7d9f8b6c5d")]))
      expect(result).toEqual(workload("Deployment", "frontend", "apps/v1"))
      expect(kube.gets).toEqual([rsPath("web-7d9f8b6c5d")])
    }).pipe(Effect.provide(kube.layer))
  })

  it.effect("a bare ReplicaSet (no controlling owner) is its own workload", () => {
    // A non-controller owner reference does not count as the workload.
    const kube = countingKubeApi(
      new Map([[rsPath("cache-5f6d7"), object("ReplicaSet", "cache-5f6d7", "uid-cache-5f6d7", [
        ref("apps/v1", "Deployment", "cache", "uid-cache", false)
      ])]])
    )
    return Effect.gen(function*() {
      const result = yield* resolveWith(pod("cache-5f6d7-xyz12", [rsRef("cache-5f6d7")]))
      expect(result).toEqual(workload("ReplicaSet", "cache-5f6d7", "apps/v1"))
    }).pipe(Effect.provide(kube.layer))
  })

  it.effect("a ReplicaSet owned by an Argo Rollout is reported as the Rollout", () => {
    const kube = countingKubeApi(
      new Map([[rsPath("checkout-6c8d9f"), object("ReplicaSet", "checkout-6c8d9f", "uid-checkout-6c8d9f", [
        ref("argoproj.io/v1alpha1", "Rollout", "checkout", "uid-rollout")
      ])]])
    )
    return Effect.gen(function*() {
      const result = yield* resolveWith(pod("checkout-6c8d9f-p1", [rsRef("checkout-6c8d9f")]))
      expect(result).toEqual(workload("Rollout", "checkout", "argoproj.io/v1alpha1"))
    }).pipe(Effect.provide(kube.layer))
  })

  it.effect("DaemonSet and StatefulSet owners are direct, with no API call", () => {
    const kube = countingKubeApi(new Map())
    return Effect.gen(function*() {
      const resolver = yield* makeOwnerChainResolver
      const ds = yield* resolver.resolve(pod("agent-x1", [ref("apps/v1", "DaemonSet", "agent", "uid-agent")]))
      const ss = yield* resolver.resolve(pod("db-0", [ref("apps/v1", "StatefulSet", "db", "uid-db")]))
      expect(ds).toEqual(workload("DaemonSet", "agent", "apps/v1"))
      expect(ss).toEqual(workload("StatefulSet", "db", "apps/v1"))
      expect(kube.gets).toEqual([])
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
        [jobPath("migrate-28745130"), object("Job", "migrate-28745130", "uid-migrate-28745130")],
        [cronJobPath("migrate"), object("CronJob", "migrate", "uid-cron-migrate")]
      ])
    )
    return Effect.gen(function*() {
      const result = yield* resolveWith(pod("migrate-28745130-q", [jobRef("migrate-28745130")]))
      expect(result).toEqual(workload("Job", "migrate-28745130", "batch/v1"))
      expect(kube.gets).toEqual([jobPath("migrate-28745130")])
    }).pipe(Effect.provide(kube.layer))
  })

  it.effect("a Job controlled by a CronJob is reported as the CronJob", () => {
    // The Job name does not follow the CronJob naming: the owner is followed.
    const kube = countingKubeApi(
      new Map([[jobPath("manual-run"), object("Job", "manual-run", "uid-manual-run", [
        ref("batch/v1", "CronJob", "nightly-report", "uid-nightly")
      ])]])
    )
    return Effect.gen(function*() {
      const result = yield* resolveWith(pod("manual-run-z", [jobRef("manual-run")]))
      expect(result).toEqual(workload("CronJob", "nightly-report", "batch/v1"))
    }).pipe(Effect.provide(kube.layer))
  })
})

describe("resolve: owner gone (404)", () => {
  it.effect("a gone ReplicaSet falls back to the Deployment named by cutting its hash", () => {
    const kube = countingKubeApi(new Map())
    return Effect.gen(function*() {
      const result = yield* resolveWith(pod("web-7d9f8b6c5d-abcde", [rsRef("web-7d9f8b6c5d")]))
      expect(result).toEqual(workload("Deployment", "web", "apps/v1"))
      expect(kube.gets).toEqual([rsPath("web-7d9f8b6c5d")])
    }).pipe(Effect.provide(kube.layer))
  })

  it.effect("a gone Job named <cronjob>-<digits> is the CronJob when that CronJob exists", () => {
    const kube = countingKubeApi(new Map([[cronJobPath("nightly"), object("CronJob", "nightly", "uid-nightly")]]))
    return Effect.gen(function*() {
      const result = yield* resolveWith(pod("nightly-28745130-a", [jobRef("nightly-28745130")]))
      expect(result).toEqual(workload("CronJob", "nightly", "batch/v1"))
      expect(kube.gets).toEqual([jobPath("nightly-28745130"), cronJobPath("nightly")])
    }).pipe(Effect.provide(kube.layer))
  })

  it.effect("a gone Job named <cronjob>-<digits> is the Job itself when no such CronJob exists", () => {
    const kube = countingKubeApi(new Map())
    return Effect.gen(function*() {
      const result = yield* resolveWith(pod("nightly-28745130-a", [jobRef("nightly-28745130")]))
      expect(result).toEqual(workload("Job", "nightly-28745130", "batch/v1"))
      expect(kube.gets).toEqual([jobPath("nightly-28745130"), cronJobPath("nightly")])
    }).pipe(Effect.provide(kube.layer))
  })

  it.effect("a gone Job whose name does not end in digits is the Job, with no CronJob lookup", () => {
    const kube = countingKubeApi(new Map([[cronJobPath("nightly"), object("CronJob", "nightly", "uid-nightly")]]))
    return Effect.gen(function*() {
      const result = yield* resolveWith(pod("nightly-manual-a", [jobRef("nightly-manual")]))
      expect(result).toEqual(workload("Job", "nightly-manual", "batch/v1"))
      expect(kube.gets).toEqual([jobPath("nightly-manual")])
    }).pipe(Effect.provide(kube.layer))
  })

  it.effect("a ReplicaSet name reused by a new object (other uid) counts as gone", () => {
    // The pod was made by the old ReplicaSet; the new one belongs elsewhere.
    const kube = countingKubeApi(
      new Map([[rsPath("web-7d9f8b6c5d"), object("ReplicaSet", "web-7d9f8b6c5d", "uid-new", [
        ref("argoproj.io/v1alpha1", "Rollout", "other", "uid-other")
      ])]])
    )
    return Effect.gen(function*() {
      const result = yield* resolveWith(pod("web-7d9f8b6c5d-old", [rsRef("web-7d9f8b6c5d", "uid-old")]))
      expect(result).toEqual(workload("Deployment", "web", "apps/v1"))
    }).pipe(Effect.provide(kube.layer))
  })
})

describe("resolve: other API errors fail, never guess", () => {
  const cases: ReadonlyArray<readonly [label: string, path: string, target: SlimPod, status: number]> = [
    ["500 on the ReplicaSet", rsPath("web-7d9f8b6c5d"), pod("p", [rsRef("web-7d9f8b6c5d")]), 500],
    ["403 on the ReplicaSet", rsPath("web-7d9f8b6c5d"), pod("p", [rsRef("web-7d9f8b6c5d")]), 403],
    ["403 on the Job", jobPath("nightly-28745130"), pod("p", [jobRef("nightly-28745130")]), 403],
    ["500 on the CronJob after a gone Job", cronJobPath("nightly"), pod("p", [jobRef("nightly-28745130")]), 500]
  ]
  for (const [label, path, target, status] of cases) {
    it.effect(label, () => {
      const kube = countingKubeApi(
        new Map(),
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
})

describe("resolve: owner cache", () => {
  const deployedRs = () =>
    object("ReplicaSet", "web-7d9f8b6c5d", "uid-web-7d9f8b6c5d", [ref("apps/v1", "Deployment", "frontend", "uid-frontend")])

  it.effect("a second pod of the same ReplicaSet within 60 s reads the cache; after 60 s it reads the API", () => {
    const kube = countingKubeApi(new Map([[rsPath("web-7d9f8b6c5d"), deployedRs()]]))
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
      expect(third).toEqual(workload("Deployment", "frontend", "apps/v1"))
    }).pipe(Effect.provide(kube.layer))
  })

  it.effect("a cached entry whose uid differs from the pod's owner reference is refetched", () => {
    const kube = countingKubeApi(new Map([[rsPath("web-7d9f8b6c5d"), deployedRs()]]))
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
      expect(result).toEqual(workload("Rollout", "web", "argoproj.io/v1alpha1"))
    }).pipe(Effect.provide(kube.layer))
  })

  it.effect("gone owners and errors are not cached", () => {
    const error = new KubeApiError({ status: 500, reason: "Boom", message: "injected" })
    const kube = countingKubeApi(new Map(), new Map([[rsPath("web-7d9f8b6c5d"), error]]))
    return Effect.gen(function*() {
      const resolver = yield* makeOwnerChainResolver
      const target = pod("web-7d9f8b6c5d-a", [rsRef("web-7d9f8b6c5d")])
      yield* Effect.flip(resolver.resolve(target))
      kube.failures.clear()
      expect(yield* resolver.resolve(target)).toEqual(workload("Deployment", "web", "apps/v1"))
      kube.objects.set(rsPath("web-7d9f8b6c5d"), deployedRs())
      expect(yield* resolver.resolve(target)).toEqual(workload("Deployment", "frontend", "apps/v1"))
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
  const check = (objects: Map<string, unknown>, target: Workload, failures?: Map<string, KubeApiError>) => {
    const kube = countingKubeApi(objects, failures)
    return Effect.gen(function*() {
      const resolver = yield* makeOwnerChainResolver
      const active = yield* resolver.isActive(target)
      return { active, gets: kube.gets }
    }).pipe(Effect.provide(kube.layer))
  }
  const frontend: Workload = { kind: "Deployment", name: "frontend", namespace: NS }

  it.effect("a present workload is active", () =>
    Effect.gen(function*() {
      const { active, gets } = yield* check(
        new Map([[deploymentPath("frontend"), object("Deployment", "frontend", "u")]]),
        frontend
      )
      expect(active).toBe(true)
      expect(gets).toEqual([deploymentPath("frontend")])
    }))

  it.effect("an absent workload (404) is not active", () =>
    Effect.gen(function*() {
      expect((yield* check(new Map(), frontend)).active).toBe(false)
    }))

  it.effect("a workload with a deletion timestamp (foreground deletion) is not active", () =>
    Effect.gen(function*() {
      const deleting = object("Deployment", "frontend", "u", [], { deletionTimestamp: "2026-11-24T10:00:00Z" })
      expect((yield* check(new Map([[deploymentPath("frontend"), deleting]]), frontend)).active).toBe(false)
    }))

  it.effect("each built-in kind is read at its own path", () =>
    Effect.gen(function*() {
      const kinds: ReadonlyArray<readonly [kind: string, path: string]> = [
        ["Deployment", deploymentPath("w")],
        ["DaemonSet", `/apis/apps/v1/namespaces/${NS}/daemonsets/w`],
        ["StatefulSet", `/apis/apps/v1/namespaces/${NS}/statefulsets/w`],
        ["ReplicaSet", rsPath("w")],
        ["Job", jobPath("w")],
        ["CronJob", cronJobPath("w")]
      ]
      for (const [kind, path] of kinds) {
        const { active, gets } = yield* check(new Map([[path, object(kind, "w", "u")]]), { kind, name: "w", namespace: NS })
        expect({ kind, active, gets }).toEqual({ kind, active: true, gets: [path] })
      }
    }))

  it.effect("a custom kind is read at /apis/{group}/{version}/namespaces/{ns}/{lower-case kind}s/{name}", () =>
    Effect.gen(function*() {
      const rollout: ResolvedWorkload = { kind: "Rollout", name: "checkout", namespace: NS, apiVersion: "argoproj.io/v1alpha1" }
      const present = yield* check(new Map([[rolloutPath("checkout"), object("Rollout", "checkout", "u")]]), rollout)
      expect(present).toEqual({ active: true, gets: [rolloutPath("checkout")] })
      expect((yield* check(new Map(), rollout)).active).toBe(false)
    }))

  it.effect("the Rollout a pod resolves to can be checked as is", () => {
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
      expect(kube.gets).toEqual([rsPath("checkout-6c8d9f"), rolloutPath("checkout")])
    }).pipe(Effect.provide(kube.layer))
  })

  it.effect("a custom kind without an apiVersion fails instead of reporting it gone", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(check(new Map(), { kind: "Rollout", name: "checkout", namespace: NS }))
      expect(error).toBeInstanceOf(KubeApiError)
    }))

  it.effect("other API errors fail instead of reporting the workload gone", () =>
    Effect.gen(function*() {
      const failures = new Map([[deploymentPath("frontend"), new KubeApiError({ status: 403, reason: "Forbidden", message: "no" })]])
      const error = yield* Effect.flip(check(new Map(), frontend, failures))
      expect(error.status).toBe(403)
    }))
})

describe("RBAC rules", () => {
  /** group/resource of an object path such as /apis/apps/v1/namespaces/ns/replicasets/x. */
  const resourceOf = (path: string): string => {
    const parts = path.split("/")
    return path.startsWith("/apis/") ? `${parts[2]}/${parts[6]}` : `/${parts[5]}`
  }

  it("cover every path the resolver reads, and nothing else", () => {
    const granted = new Set(
      OWNER_CHAIN_RBAC_RULES.flatMap((rule) =>
        rule.verbs.includes("get") ? rule.apiGroups.flatMap((g) => rule.resources.map((r) => `${g}/${r}`)) : []
      )
    )
    const read = [
      rsPath("x"),
      jobPath("x"),
      cronJobPath("x"),
      deploymentPath("x"),
      `/apis/apps/v1/namespaces/${NS}/daemonsets/x`,
      `/apis/apps/v1/namespaces/${NS}/statefulsets/x`,
      rolloutPath("x")
    ].map(resourceOf)
    expect([...granted].sort()).toEqual([...new Set(read)].sort())
  })
})

import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber, TestClock } from "effect"
import type { ControllerConfig } from "../../src/config/Config.ts"
import { KubeApiError } from "../../src/kube/KubeApi.ts"
import { METADATA_CACHE_TTL, type MetadataRead, MetadataReader, type ObjectRef } from "../../src/kube/MetadataReader.ts"
import { Metrics } from "../../src/observability/Metrics.ts"
import { metaJson } from "../support/fakeKube.ts"
import { metadataReaderOver, withGetLatency } from "../support/metadataReader.ts"
import { countingKubeApi, getsOf } from "../workload/countingKube.ts"

// Paths are spelled out rather than built from the module, so a wrong path
// in the module fails here instead of agreeing with itself.
const NS = "shop"
const rsPath = (name: string) => `/apis/apps/v1/namespaces/${NS}/replicasets/${name}`
const deploymentPath = (name: string) => `/apis/apps/v1/namespaces/${NS}/deployments/${name}`
const rolloutPath = (name: string) => `/apis/argoproj.io/v1alpha1/namespaces/${NS}/rollouts/${name}`
const kruiseStatefulSetPath = (name: string) => `/apis/apps.kruise.io/v1beta1/namespaces/${NS}/statefulsets/${name}`

const rsRef = (name: string): ObjectRef => ({ kind: "ReplicaSet", apiVersion: "apps/v1", namespace: NS, name })
const rs = (name: string, uid = `uid-${name}`, annotations?: Readonly<Record<string, string>>) =>
  metaJson(name, uid, { namespace: NS, ...(annotations === undefined ? {} : { annotations }) })

const failure = (status: number) => new KubeApiError({ status, reason: `HTTP${status}`, message: `injected ${status}` })

/** The reader over the counting fake API (every GET recorded); with `getLatency`, each GET takes that long. */
const setup = (
  objects: Map<string, unknown> = new Map(),
  options: {
    readonly failures?: Map<string, KubeApiError>
    readonly config?: Partial<ControllerConfig>
    readonly getLatency?: Duration.DurationInput
  } = {}
) => {
  const kube = countingKubeApi(objects, options.failures ?? new Map())
  const api = options.getLatency === undefined ? kube.layer : withGetLatency(options.getLatency)(kube.layer)
  return { kube, layer: metadataReaderOver(api, options.config) }
}

const found = (read: MetadataRead) => {
  if (read._tag !== "Found") throw new Error(`expected Found, got ${read._tag}`)
  return read.meta
}

const metadataReads = (kind: string, result: string) =>
  Effect.gen(function*() {
    const text = yield* (yield* Metrics).render
    const line = new RegExp(`deployment_tracker_metadata_reads_total\\{kind="${kind}",result="${result}"\\} (\\d+)`).exec(text)
    return Number(line?.[1] ?? "0")
  })

describe("MetadataReader: answers", () => {
  it.effect("an object is Found with its metadata, read once through the metadata API at its kind's path", () => {
    const { kube, layer } = setup(new Map([[rsPath("web-1"), rs("web-1", "uid-web-1", { "metadata.github.com/team": "shop" })]]))
    return Effect.gen(function*() {
      const reader = yield* MetadataReader
      const meta = found(yield* reader.read(rsRef("web-1")))
      expect(meta).toMatchObject({
        kind: "ReplicaSet",
        namespace: NS,
        name: "web-1",
        uid: "uid-web-1",
        annotations: { "metadata.github.com/team": "shop" }
      })
      expect(kube.reads).toEqual([{ path: rsPath("web-1"), as: "metadata" }])
    }).pipe(Effect.provide(layer))
  })

  it.effect("built-in and custom kinds are read at /apis/{group}/{version}/namespaces/{ns}/{plural}/{name}", () => {
    const { kube, layer } = setup()
    return Effect.gen(function*() {
      const reader = yield* MetadataReader
      yield* reader.read({ kind: "Deployment", apiVersion: "apps/v1", namespace: NS, name: "web" })
      yield* reader.read({ kind: "Rollout", apiVersion: "argoproj.io/v1alpha1", namespace: NS, name: "checkout" })
      yield* reader.read({ kind: "StatefulSet", apiVersion: "apps.kruise.io/v1beta1", namespace: NS, name: "db" })
      expect(kube.reads).toEqual([
        { path: deploymentPath("web"), as: "metadata" },
        { path: rolloutPath("checkout"), as: "metadata" },
        { path: kruiseStatefulSetPath("db"), as: "metadata" }
      ])
    }).pipe(Effect.provide(layer))
  })

  it.effect("404 is Absent, not a failure", () => {
    const { layer } = setup()
    return Effect.gen(function*() {
      expect(yield* (yield* MetadataReader).read(rsRef("gone"))).toEqual({ _tag: "Absent" })
    }).pipe(Effect.provide(layer))
  })

  for (const status of [403, 401, 400, 410]) {
    it.effect(`${status} is Unreadable (an answer, not a failure: asking again soon would get the same)`, () => {
      const { layer } = setup(new Map(), { failures: new Map([[rsPath("web-1"), failure(status)]]) })
      return Effect.gen(function*() {
        const read = yield* (yield* MetadataReader).read(rsRef("web-1"))
        expect(read._tag).toBe("Unreadable")
        expect(read._tag === "Unreadable" && read.reason).toContain(`HTTP ${status}`)
      }).pipe(Effect.provide(layer))
    })
  }

  it.effect("an object the API sends without a uid is Unreadable, with the reason", () => {
    const { layer } = setup(new Map([[rsPath("web-1"), { kind: "PartialObjectMetadata", metadata: { name: "web-1", namespace: NS } }]]))
    return Effect.gen(function*() {
      const read = yield* (yield* MetadataReader).read(rsRef("web-1"))
      expect(read._tag === "Unreadable" && read.reason).toContain("metadata.uid is missing")
    }).pipe(Effect.provide(layer))
  })

  it.effect("a reference without an apiVersion is Unreadable without any GET (there is no path to read)", () => {
    const { kube, layer } = setup()
    return Effect.gen(function*() {
      const read = yield* (yield* MetadataReader).read({ kind: "Rollout", apiVersion: "", namespace: NS, name: "checkout" })
      expect(read._tag).toBe("Unreadable")
      expect(kube.gets).toEqual([])
    }).pipe(Effect.provide(layer))
  })

  for (const status of [0, 429, 500, 503]) {
    it.effect(`a transient error (status ${status}) fails the read with the API's error`, () => {
      const { layer } = setup(new Map([[rsPath("web-1"), rs("web-1")]]), { failures: new Map([[rsPath("web-1"), failure(status)]]) })
      return Effect.gen(function*() {
        const error = yield* Effect.flip((yield* MetadataReader).read(rsRef("web-1")))
        expect(error).toBeInstanceOf(KubeApiError)
        expect(error.status).toBe(status)
      }).pipe(Effect.provide(layer))
    })
  }
})

describe("MetadataReader: the cache", () => {
  it.effect("an answer is kept for 60 s: no GET within the minute, a new GET after it", () => {
    const { kube, layer } = setup(new Map([[rsPath("web-1"), rs("web-1")]]))
    return Effect.gen(function*() {
      const reader = yield* MetadataReader
      expect(Duration.toSeconds(METADATA_CACHE_TTL)).toBe(60)
      yield* reader.read(rsRef("web-1"))
      yield* TestClock.adjust("59 seconds")
      yield* reader.read(rsRef("web-1"))
      expect(getsOf(kube.gets, rsPath("web-1"))).toBe(1)
      yield* TestClock.adjust("2 seconds")
      yield* reader.read(rsRef("web-1"))
      expect(getsOf(kube.gets, rsPath("web-1"))).toBe(2)
    }).pipe(Effect.provide(layer))
  })

  it.effect("an object changed within the minute is still answered as first read (a cache, not a watch)", () => {
    const { kube, layer } = setup(new Map([[rsPath("web-1"), rs("web-1", "uid-first")]]))
    return Effect.gen(function*() {
      const reader = yield* MetadataReader
      yield* reader.read(rsRef("web-1"))
      kube.objects.set(rsPath("web-1"), rs("web-1", "uid-second"))
      yield* TestClock.adjust("30 seconds")
      expect(found(yield* reader.read(rsRef("web-1"))).uid).toBe("uid-first")
      yield* TestClock.adjust("31 seconds")
      expect(found(yield* reader.read(rsRef("web-1"))).uid).toBe("uid-second")
    }).pipe(Effect.provide(layer))
  })

  it.effect("the cache key is the whole reference: another kind, apiVersion or namespace of the same name is another read", () => {
    const { kube, layer } = setup()
    return Effect.gen(function*() {
      const reader = yield* MetadataReader
      const refs: ReadonlyArray<ObjectRef> = [
        rsRef("web"),
        { kind: "Deployment", apiVersion: "apps/v1", namespace: NS, name: "web" },
        { kind: "StatefulSet", apiVersion: "apps.kruise.io/v1beta1", namespace: NS, name: "web" },
        { kind: "ReplicaSet", apiVersion: "apps/v1", namespace: "other", name: "web" }
      ]
      for (const ref of refs) yield* reader.read(ref)
      // Each once; asking again (equal, not identical, references) reads nothing.
      for (const ref of refs) yield* reader.read({ ...ref })
      expect(kube.gets).toHaveLength(4)
      expect(new Set(kube.gets).size).toBe(4)
    }).pipe(Effect.provide(layer))
  })

  it.effect("concurrent reads of one object share one GET (the pods of one ReplicaSet arriving together)", () => {
    const { kube, layer } = setup(new Map([[rsPath("web-1"), rs("web-1")]]), { getLatency: "1 second" })
    return Effect.gen(function*() {
      const reader = yield* MetadataReader
      const readers = yield* Effect.fork(
        Effect.forEach(Array.from({ length: 50 }, () => rsRef("web-1")), (ref) => reader.read(ref), { concurrency: "unbounded" })
      )
      // Every reader is waiting (the GET is still in flight) before time moves.
      yield* TestClock.adjust("1 second")
      const reads = yield* Fiber.join(readers)
      expect(reads.map((read) => found(read).uid)).toEqual(Array.from({ length: 50 }, () => "uid-web-1"))
      expect(kube.gets).toEqual([rsPath("web-1")])
    }).pipe(Effect.provide(layer))
  })

  it.effect("404 (Absent) is kept for the minute too: an object created meanwhile is seen after it", () => {
    const { kube, layer } = setup()
    return Effect.gen(function*() {
      const reader = yield* MetadataReader
      expect((yield* reader.read(rsRef("web-1")))._tag).toBe("Absent")
      kube.objects.set(rsPath("web-1"), rs("web-1"))
      yield* TestClock.adjust("59 seconds")
      expect((yield* reader.read(rsRef("web-1")))._tag).toBe("Absent")
      expect(getsOf(kube.gets, rsPath("web-1"))).toBe(1)
      yield* TestClock.adjust("2 seconds")
      expect((yield* reader.read(rsRef("web-1")))._tag).toBe("Found")
    }).pipe(Effect.provide(layer))
  })

  it.effect("403 (Unreadable) is kept for the minute: a forbidden owner costs one GET a minute, not one per pod", () => {
    const { kube, layer } = setup(new Map(), { failures: new Map([[rolloutPath("checkout"), failure(403)]]) })
    const rollout: ObjectRef = { kind: "Rollout", apiVersion: "argoproj.io/v1alpha1", namespace: NS, name: "checkout" }
    return Effect.gen(function*() {
      const reader = yield* MetadataReader
      for (let i = 0; i < 5; i++) expect((yield* reader.read(rollout))._tag).toBe("Unreadable")
      expect(getsOf(kube.gets, rolloutPath("checkout"))).toBe(1)
      yield* TestClock.adjust("61 seconds")
      yield* reader.read(rollout)
      expect(getsOf(kube.gets, rolloutPath("checkout"))).toBe(2)
    }).pipe(Effect.provide(layer))
  })

  it.effect("a transient failure is not kept: the next read GETs again (and sees the recovered API)", () => {
    const { kube, layer } = setup(new Map([[rsPath("web-1"), rs("web-1")]]), {
      failures: new Map([[rsPath("web-1"), failure(503)]])
    })
    return Effect.gen(function*() {
      const reader = yield* MetadataReader
      yield* Effect.flip(reader.read(rsRef("web-1")))
      kube.failures.clear()
      // At once: a worker retrying, or another pod of the same ReplicaSet.
      expect(found(yield* reader.read(rsRef("web-1"))).uid).toBe("uid-web-1")
      expect(getsOf(kube.gets, rsPath("web-1"))).toBe(2)
    }).pipe(Effect.provide(layer))
  })

  it.effect("readFresh reads the API even within the minute, and what it finds is what later reads get", () => {
    const { kube, layer } = setup(new Map([[rsPath("web-1"), rs("web-1", "uid-first")]]))
    return Effect.gen(function*() {
      const reader = yield* MetadataReader
      yield* reader.read(rsRef("web-1"))
      // Deleted: a read from the cache would still find it.
      kube.objects.delete(rsPath("web-1"))
      yield* TestClock.adjust("10 seconds")
      expect((yield* reader.read(rsRef("web-1")))._tag).toBe("Found")
      expect((yield* reader.readFresh(rsRef("web-1")))._tag).toBe("Absent")
      expect(getsOf(kube.gets, rsPath("web-1"))).toBe(2)
      expect((yield* reader.read(rsRef("web-1")))._tag).toBe("Absent")
      expect(getsOf(kube.gets, rsPath("web-1"))).toBe(2)
      // And back: a fresh read of a cached Absent finds the recreated object.
      kube.objects.set(rsPath("web-1"), rs("web-1", "uid-second"))
      expect(found(yield* reader.readFresh(rsRef("web-1"))).uid).toBe("uid-second")
      expect(getsOf(kube.gets, rsPath("web-1"))).toBe(3)
    }).pipe(Effect.provide(layer))
  })
})

describe("MetadataReader.readUnlessStale: a cached answer the caller can tell is stale is read again", () => {
  const isUid = (uid: string) => (read: MetadataRead) => read._tag === "Found" && read.meta.uid === uid

  it.effect("a cached answer the caller accepts is returned with no GET", () => {
    const { kube, layer } = setup(new Map([[rsPath("web-1"), rs("web-1", "uid-first")]]))
    return Effect.gen(function*() {
      const reader = yield* MetadataReader
      yield* reader.read(rsRef("web-1"))
      kube.objects.set(rsPath("web-1"), rs("web-1", "uid-second"))
      expect(found(yield* reader.readUnlessStale(rsRef("web-1"), isUid("uid-first"))).uid).toBe("uid-first")
      expect(kube.gets).toHaveLength(1)
    }).pipe(Effect.provide(layer))
  })

  it.effect("a cached answer the caller rejects (another uid, or absent) is read again, and the new answer is kept", () => {
    const { kube, layer } = setup(new Map([[rsPath("web-1"), rs("web-1", "uid-first")]]))
    return Effect.gen(function*() {
      const reader = yield* MetadataReader
      yield* reader.read(rsRef("web-1"))
      // Deleted and recreated under the same name within the minute.
      kube.objects.set(rsPath("web-1"), rs("web-1", "uid-second"))
      expect(found(yield* reader.readUnlessStale(rsRef("web-1"), isUid("uid-second"))).uid).toBe("uid-second")
      expect(kube.gets).toHaveLength(2)
      expect(found(yield* reader.read(rsRef("web-1"))).uid).toBe("uid-second")
      expect(kube.gets).toHaveLength(2)

      yield* reader.read(rsRef("web-2"))
      kube.objects.set(rsPath("web-2"), rs("web-2", "uid-web-2"))
      expect(found(yield* reader.readUnlessStale(rsRef("web-2"), isUid("uid-web-2"))).uid).toBe("uid-web-2")
      expect(getsOf(kube.gets, rsPath("web-2"))).toBe(2)
    }).pipe(Effect.provide(layer))
  })

  it.effect("an answer read just now is taken as it is, even if the caller would reject it: one GET, not two", () => {
    const { kube, layer } = setup(new Map([[rsPath("web-1"), rs("web-1", "uid-other")]]))
    return Effect.gen(function*() {
      const reader = yield* MetadataReader
      expect(found(yield* reader.readUnlessStale(rsRef("web-1"), isUid("uid-mine"))).uid).toBe("uid-other")
      expect(kube.gets).toHaveLength(1)
    }).pipe(Effect.provide(layer))
  })

  it.effect("a transient failure fails it and is not kept", () => {
    const { kube, layer } = setup(new Map([[rsPath("web-1"), rs("web-1")]]), { failures: new Map([[rsPath("web-1"), failure(500)]]) })
    return Effect.gen(function*() {
      const reader = yield* MetadataReader
      expect((yield* Effect.flip(reader.readUnlessStale(rsRef("web-1"), () => true))).status).toBe(500)
      kube.failures.clear()
      expect(found(yield* reader.readUnlessStale(rsRef("web-1"), () => true)).uid).toBe("uid-web-1")
      expect(kube.gets).toHaveLength(2)
    }).pipe(Effect.provide(layer))
  })
})

describe("MetadataReader: the request budget (-kube-api-qps, -kube-api-burst)", () => {
  const names = (count: number) => Array.from({ length: count }, (_, i) => `rs-${i}`)

  it.effect("burst reads go at once; the next waits for a token (1 s at 1 request/s)", () => {
    const { kube, layer } = setup(new Map(), { config: { kubeApiQps: 1, kubeApiBurst: 2 } })
    return Effect.gen(function*() {
      const reader = yield* MetadataReader
      const [first, second, third] = names(3).map(rsRef)
      yield* reader.read(first!)
      yield* reader.read(second!)
      expect(kube.gets).toHaveLength(2)
      const waiting = yield* Effect.fork(reader.read(third!))
      yield* TestClock.adjust("999 millis")
      expect(kube.gets).toHaveLength(2)
      expect(yield* Fiber.poll(waiting)).toEqual(expect.objectContaining({ _tag: "None" }))
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(waiting)
      expect(kube.gets).toHaveLength(3)
    }).pipe(Effect.provide(layer))
  })

  it.effect("over time the rate holds: 2 + 10 reads at 5 requests/s, burst 2, take 2 s", () => {
    const { kube, layer } = setup(new Map(), { config: { kubeApiQps: 5, kubeApiBurst: 2 } })
    return Effect.gen(function*() {
      const reader = yield* MetadataReader
      const all = yield* Effect.fork(Effect.forEach(names(12).map(rsRef), (ref) => reader.read(ref), { concurrency: "unbounded" }))
      yield* TestClock.adjust("1 second")
      // The burst, then one per 200 ms.
      expect(kube.gets).toHaveLength(2 + 5)
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(all)
      expect(kube.gets).toHaveLength(12)
    }).pipe(Effect.provide(layer))
  })

  it.effect("answers from the cache use no budget", () => {
    const { kube, layer } = setup(new Map(), { config: { kubeApiQps: 1, kubeApiBurst: 1 } })
    return Effect.gen(function*() {
      const reader = yield* MetadataReader
      yield* reader.read(rsRef("web-1"))
      // The budget is spent; cached answers still come at once.
      for (let i = 0; i < 10; i++) yield* reader.read(rsRef("web-1"))
      expect(kube.gets).toHaveLength(1)
    }).pipe(Effect.provide(layer))
  })

  it.effect("-kube-api-qps 0 lifts the limit", () => {
    const { kube, layer } = setup(new Map(), { config: { kubeApiQps: 0, kubeApiBurst: 1 } })
    return Effect.gen(function*() {
      const reader = yield* MetadataReader
      yield* Effect.forEach(names(100).map(rsRef), (ref) => reader.read(ref), { concurrency: "unbounded" })
      expect(kube.gets).toHaveLength(100)
    }).pipe(Effect.provide(layer))
  })
})

describe("MetadataReader: deployment_tracker_metadata_reads_total{kind,result}", () => {
  it.effect("each GET is counted by kind and result (found, absent, unreadable, error); cache answers are not", () => {
    const { kube, layer } = setup(
      new Map<string, unknown>([[rsPath("web-1"), rs("web-1")], [rolloutPath("checkout"), metaJson("checkout", "uid-ro", { namespace: NS })]]),
      { failures: new Map([[rsPath("forbidden"), failure(403)], [rsPath("flaky"), failure(500)]]) }
    )
    const rollout: ObjectRef = { kind: "Rollout", apiVersion: "argoproj.io/v1alpha1", namespace: NS, name: "checkout" }
    return Effect.gen(function*() {
      const reader = yield* MetadataReader
      yield* reader.read(rsRef("web-1"))
      yield* reader.read(rsRef("web-1"))
      yield* reader.read(rollout)
      yield* reader.read(rsRef("gone"))
      yield* reader.read(rsRef("forbidden"))
      yield* reader.read(rsRef("forbidden"))
      yield* Effect.flip(reader.read(rsRef("flaky")))
      yield* TestClock.adjust("1 second")
      yield* Effect.flip(reader.read(rsRef("flaky")))
      expect(kube.gets).toHaveLength(6)
      expect(yield* metadataReads("ReplicaSet", "found")).toBe(1)
      expect(yield* metadataReads("Rollout", "found")).toBe(1)
      expect(yield* metadataReads("ReplicaSet", "absent")).toBe(1)
      expect(yield* metadataReads("ReplicaSet", "unreadable")).toBe(1)
      expect(yield* metadataReads("ReplicaSet", "error")).toBe(2)
      expect(yield* metadataReads("Rollout", "absent")).toBe(0)
    }).pipe(Effect.provide(layer))
  })
})

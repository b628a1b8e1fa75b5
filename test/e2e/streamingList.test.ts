import { describe, expect, inject, it } from "vitest"
import { Duration, Effect, Fiber, Stream } from "effect"
import type { Delta } from "../../src/kube/Delta.ts"
import { projectPod } from "../../src/kube/podProjection.ts"
import { makeReflector } from "../../src/kube/Reflector.ts"
import { podKey, type SlimPod } from "../../src/kube/SlimPod.ts"
import { apply } from "./support/kube.ts"
import { rawKubeApi } from "./support/rawKubeApi.ts"
import { recordsLand, runningDigests, useScenario } from "./support/scenario.ts"
import { deployment } from "./support/workloads.ts"

// The control plane (Kubernetes 1.37) serves streaming lists (the WatchList
// feature gate is on by default since 1.34): every list is one, and the
// fallback to pages is for servers that refuse them (unit tests).

const service = (namespace: string, name: string, replicas: number) =>
  deployment(namespace, name, { replicas, containers: [{ name: "main", image: `ghcr.io/octo-e2e/${name}:${namespace}` }] })

const expiredLine = `${
  JSON.stringify({
    type: "ERROR",
    object: { kind: "Status", apiVersion: "v1", status: "Failure", code: 410, reason: "Expired", message: "too old resource version" }
  })
}\n`

/** Polls `condition` (real time) until it holds, for at most a minute. */
const waitFor = (what: string, condition: () => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 600; i++) {
      if (condition()) return
      yield* Effect.sleep(Duration.millis(100))
    }
    return yield* Effect.dieMessage(`timed out waiting for ${what}`)
  })

const describeDelta = (d: Delta<SlimPod>) =>
  d._tag === "Synced"
    ? "synced"
    : d._tag === "Upsert"
    ? `upsert ${d.current.name}${d.previous === undefined ? " (new)" : ""}`
    : `delete ${d.last.name}`

describe("streaming list", () => {
  it("the tracker lists every collection with a streaming list; pods that ran before it started are posted from its initial events", async () => {
    const s = useScenario("stream")
    const ns = await s.namespace("stream")
    await apply(service(ns, "before", 2))
    const before = await runningDigests(ns, "before", "app=before", { count: 2 })
    const tracker = await s.startTracker({ args: ["-namespace", ns] })

    // Under -namespace the Namespaces list is that one namespace (by field selector), for its labels.
    expect(tracker.logsWith("Listed objects").map((l) => [l.annotations["path"], l.annotations["list"]]).sort()).toEqual([
      ["/api/v1/namespaces", "streaming"],
      [`/api/v1/namespaces/${ns}/pods`, "streaming"],
      [`/apis/apps/v1/namespaces/${ns}/daemonsets`, "streaming"],
      [`/apis/apps/v1/namespaces/${ns}/deployments`, "streaming"],
      [`/apis/apps/v1/namespaces/${ns}/statefulsets`, "streaming"],
      [`/apis/batch/v1/namespaces/${ns}/cronjobs`, "streaming"],
      [`/apis/batch/v1/namespaces/${ns}/jobs`, "streaming"]
    ])
    expect(tracker.logsWith("The API server did not serve a streaming list; using paginated lists")).toEqual([])
    await recordsLand(s, before, "deployed")

    // Later pods come as watch events on the same connections: no other list.
    await apply(service(ns, "after", 1))
    await recordsLand(s, await runningDigests(ns, "after", "app=after", { count: 1 }), "deployed")
    expect(tracker.logsWith("Listed objects")).toHaveLength(7)
    await s.expectNoViolations()
  })

  it("a reflector's streaming list, its relist from the last resourceVersion after a 410, and the watch that goes on, on the real API server", async () => {
    const s = useScenario("relist")
    const ns = await s.namespace("relist")
    await apply(service(ns, "web", 2))
    await runningDigests(ns, "web", "app=web", { count: 2 })

    // The first connection ends right after its initial events with a 410,
    // as the server sends one when a watch's resourceVersion is compacted.
    let cut = false
    const kube = rawKubeApi(inject("trackerKubeconfig"), (call, body) => {
      if (call.kind !== "watchList" || cut) return body
      cut = true
      return body.pipe(
        Stream.decodeText(),
        Stream.splitLines,
        Stream.takeUntil((line) => line.includes("k8s.io/initial-events-end")),
        Stream.map((line) => `${line}\n`),
        Stream.concat(Stream.make(expiredLine)),
        Stream.encodeText
      )
    })

    const seen = await Effect.gen(function*() {
      const reflector = yield* makeReflector<SlimPod>({
        path: `/api/v1/namespaces/${ns}/pods`,
        project: projectPod,
        keyOf: podKey,
        resourceVersionOf: (p) => p.resourceVersion
      })
      const deltas: Array<Delta<SlimPod>> = []
      const consumer = yield* reflector.deltas.pipe(
        Stream.runForEach((d) => Effect.sync(() => void deltas.push(d))),
        Effect.fork
      )
      const synced = () => deltas.filter((d) => d._tag === "Synced").length
      yield* waitFor("the list and the relist", () => synced() === 2)
      yield* Effect.promise(() => apply(service(ns, "late", 1)))
      yield* waitFor("the late pod", () => deltas.some((d) => d._tag === "Upsert" && d.current.name.startsWith("late-")))
      expect(reflector.size()).toBe(3)
      yield* Fiber.interrupt(consumer)
      return deltas.map(describeDelta)
    }).pipe(Effect.provide(kube.layer), Effect.runPromise)

    const firstSync = seen.indexOf("synced")
    const secondSync = seen.indexOf("synced", firstSync + 1)
    // The initial events, as a list's deltas: the two pods, then Synced.
    expect(seen.slice(0, firstSync)).toEqual([
      expect.stringMatching(/^upsert web-.* \(new\)$/),
      expect.stringMatching(/^upsert web-.* \(new\)$/)
    ])
    // The relist found the same pods: nothing new, nothing deleted.
    expect(seen.slice(firstSync + 1, secondSync).filter((d) => d.endsWith("(new)") || d.startsWith("delete"))).toEqual([])
    expect(seen.slice(secondSync + 1).some((d) => /^upsert late-.* \(new\)$/.test(d))).toBe(true)

    // Two requests: both streaming lists, the second from the first one's
    // snapshot resourceVersion; the late pod came on the second connection.
    expect(kube.calls.map((c) => c.kind)).toEqual(["watchList", "watchList"])
    const [first, second] = kube.calls
    expect(first!.query).toMatchObject({ sendInitialEvents: "true", resourceVersionMatch: "NotOlderThan", allowWatchBookmarks: "true" })
    expect(first!.query.resourceVersion).toBeUndefined()
    expect(second!.query).toMatchObject({ sendInitialEvents: "true", resourceVersionMatch: "NotOlderThan" })
    expect(second!.query.resourceVersion).toMatch(/^\d+$/)
  })

  it("a metadata-only reflector (as for workloads) streams PartialObjectMetadata", async () => {
    const s = useScenario("meta")
    const ns = await s.namespace("meta")
    await apply(service(ns, "api", 1))
    const kube = rawKubeApi(inject("trackerKubeconfig"))

    const kinds = await Effect.gen(function*() {
      const reflector = yield* makeReflector<{ readonly key: string; readonly kind: string; readonly rv: string }>({
        path: `/apis/apps/v1/namespaces/${ns}/deployments`,
        representation: "metadata",
        project: (raw) => {
          const object = raw as { kind?: string; metadata?: { namespace?: string; name?: string; resourceVersion?: string } }
          const name = object.metadata?.name
          return name === undefined
            ? { ok: false, reason: "no name" }
            : { ok: true, value: { key: name, kind: object.kind ?? "", rv: object.metadata?.resourceVersion ?? "" } }
        },
        keyOf: (o) => o.key,
        resourceVersionOf: (o) => o.rv
      })
      const deltas = yield* reflector.deltas.pipe(Stream.takeUntil((d) => d._tag === "Synced"), Stream.runCollect)
      return [...deltas].map((d) => d._tag === "Upsert" ? `${d.current.key} ${d.current.kind}` : d._tag)
    }).pipe(Effect.provide(kube.layer), Effect.runPromise)

    expect(kinds).toEqual(["api PartialObjectMetadata", "Synced"])
    expect(kube.calls.map((c) => c.kind)).toEqual(["watchList"])
  })
})

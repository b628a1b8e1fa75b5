import { describe, expect, it } from "@effect/vitest"
import { Chunk, Deferred, Duration, Effect, Fiber, Option, Queue, Stream, TestClock } from "effect"
import { KubeApiError } from "../../src/kube/KubeApi.ts"
import { projectPod } from "../../src/kube/podProjection.ts"
import { type Delta, makeReflector, type ReflectorOptions } from "../../src/kube/Reflector.ts"
import { podKey, type SlimPod } from "../../src/kube/SlimPod.ts"
import { MAX_STEPS_PER_CHUNK } from "../../src/kube/watchSession.ts"
import { Liveness } from "../../src/observability/Liveness.ts"
import { pushedWatch } from "../observability/pushedWatch.ts"
import { livePodReflector } from "../support/livePodReflector.ts"
import {
  bookmark,
  expiredLine,
  fakeKubeApi,
  initialEventsEnd,
  podJson,
  watchLine,
  watchListForbidden
} from "../support/fakeKube.ts"

type KubeScript = Parameters<typeof fakeKubeApi>[0]

const podReflector = (
  invalid: Array<string> = [],
  fieldSelector?: string,
  more: Partial<ReflectorOptions<SlimPod>> = {}
) =>
  makeReflector<SlimPod>({
    path: "/api/v1/pods",
    fieldSelector,
    project: projectPod,
    keyOf: podKey,
    resourceVersionOf: (p) => p.resourceVersion,
    onInvalid: (reason) => Effect.sync(() => void invalid.push(reason)),
    ...more
  })

/** A readable summary of a delta, for comparing sequences. */
const describeDelta = (d: Delta<SlimPod>) =>
  d._tag === "Synced"
    ? "synced"
    : d._tag === "Upsert"
    ? `upsert ${d.current.name}@${d.current.resourceVersion}${d.previous === undefined ? " (new)" : ""}`
    : `delete ${d.last.name}${d.finalStateUnknown ? " (relist)" : ""}`

const run = (script: KubeScript, count: number, fieldSelector?: string) =>
  Effect.gen(function*() {
    const kube = fakeKubeApi(script)
    const invalid: Array<string> = []
    const deltas = yield* Effect.gen(function*() {
      const reflector = yield* podReflector(invalid, fieldSelector)
      return yield* reflector.deltas.pipe(Stream.take(count), Stream.runCollect)
    }).pipe(Effect.provide(kube.layer))
    return { deltas: Chunk.toArray(deltas).map(describeDelta), calls: kube.calls, invalid }
  })

/** The calls as [kind, resourceVersion] pairs. */
const requests = (calls: ReturnType<typeof fakeKubeApi>["calls"]) => calls.map((c) => [c.kind, c.query.resourceVersion])

describe("Reflector", () => {
  it.effect("an empty list whose items are null (the metadata API's empty PartialObjectMetadataList) is an empty list", () =>
    Effect.gen(function*() {
      const { deltas } = yield* run({
        lists: [{ items: null as unknown as ReadonlyArray<unknown>, rv: "7" }],
        watches: [[watchLine("ADDED", podJson("a", { rv: "8" }))]]
      }, 2)
      expect(deltas).toEqual(["synced", "upsert a@8 (new)"])
    }))

  it.effect("where the server refuses streaming lists (422), lists page by page, then watches from the list's resourceVersion with bookmarks and a timeout", () =>
    Effect.gen(function*() {
      const { calls, deltas } = yield* run({
        lists: [
          { items: [podJson("a", { rv: "5" })], rv: "100", continue: "page2" },
          { items: [podJson("b", { rv: "6" })], rv: "100" }
        ],
        watches: [[watchLine("MODIFIED", podJson("a", { rv: "101" }))]]
      }, 4, "metadata.namespace!=kube-system")
      expect(deltas).toEqual(["upsert a@5 (new)", "upsert b@6 (new)", "synced", "upsert a@101"])
      expect(calls.map((c) => c.kind)).toEqual(["watchList", "list", "list", "watch"])
      expect(calls[1]?.query).toMatchObject({ limit: "500", fieldSelector: "metadata.namespace!=kube-system" })
      expect(calls[1]?.query.continue).toBeUndefined()
      expect(calls[2]?.query).toMatchObject({ continue: "page2" })
      const watch = calls[3]!.query
      expect(watch).toMatchObject({
        watch: "1",
        resourceVersion: "100",
        allowWatchBookmarks: "true",
        fieldSelector: "metadata.namespace!=kube-system"
      })
      expect(Number(watch.timeoutSeconds)).toBeGreaterThanOrEqual(300)
      expect(Number(watch.timeoutSeconds)).toBeLessThanOrEqual(600)
    }))

  it.effect("a watch the server closes is resumed from the last resourceVersion seen, bookmarks included", () =>
    Effect.gen(function*() {
      const { calls, deltas } = yield* run({
        lists: [{ items: [], rv: "10" }],
        watches: [
          [watchLine("ADDED", podJson("a", { rv: "11" })), bookmark("15")],
          [watchLine("DELETED", podJson("a", { rv: "16" }))]
        ]
      }, 3)
      expect(deltas).toEqual(["synced", "upsert a@11 (new)", "delete a"])
      expect(calls.map((c) => [c.kind, c.query.resourceVersion])).toEqual([
        ["watchList", undefined],
        ["list", undefined],
        ["watch", "10"],
        ["watch", "15"]
      ])
    }))

  it.effect("410 Gone in the stream relists and emits deletes for pods that vanished meanwhile", () =>
    Effect.gen(function*() {
      const { calls, deltas } = yield* run({
        lists: [
          { items: [podJson("a", { rv: "1" }), podJson("b", { rv: "2" })], rv: "10" },
          // While disconnected: b was deleted, c was created, a unchanged.
          { items: [podJson("a", { rv: "1" }), podJson("c", { rv: "30" })], rv: "40" }
        ],
        watches: [[expiredLine]]
      }, 6)
      expect(deltas).toEqual([
        "upsert a@1 (new)",
        "upsert b@2 (new)",
        "synced",
        "upsert c@30 (new)",
        "delete b (relist)",
        "synced"
      ])
      // The refusal is remembered: the relist is paginated at once.
      expect(calls.map((c) => c.kind)).toEqual(["watchList", "list", "watch", "list"])
    }))

  it.effect("an HTTP 410 on the watch request relists too", () =>
    Effect.gen(function*() {
      const { calls } = yield* run({
        lists: [{ items: [], rv: "10" }, { items: [], rv: "50" }],
        watches: [new KubeApiError({ status: 410, reason: "Expired", message: "too old" })]
      }, 2)
      expect(calls.map((c) => c.kind)).toEqual(["watchList", "list", "watch", "list"])
    }))

  it.effect("events before an in-stream error are kept", () =>
    Effect.gen(function*() {
      const { deltas } = yield* run({
        lists: [{ items: [], rv: "10" }, { items: [podJson("a", { rv: "11" })], rv: "12" }],
        watches: [[watchLine("ADDED", podJson("a", { rv: "11" })) + expiredLine]]
      }, 3)
      expect(deltas).toEqual(["synced", "upsert a@11 (new)", "synced"])
    }))

  it.effect("a dropped connection reconnects after a backoff, from the same resourceVersion, without relisting", () =>
    Effect.gen(function*() {
      const kube = fakeKubeApi({
        lists: [{ items: [], rv: "10" }],
        watches: [
          new KubeApiError({ status: 0, reason: "Transport", message: "ECONNRESET" }),
          new KubeApiError({ status: 0, reason: "Transport", message: "ECONNREFUSED" }),
          [watchLine("ADDED", podJson("a", { rv: "11" }))]
        ]
      })
      const fiber = yield* Effect.gen(function*() {
        const reflector = yield* podReflector()
        return yield* reflector.deltas.pipe(Stream.take(2), Stream.runCollect)
      }).pipe(Effect.provide(kube.layer), Effect.fork)

      // Step the clock and note when each watch attempt happens.
      const watchTimes: Array<number> = []
      let seen = 1
      for (let now = 0; now <= 4000; now += 10) {
        yield* TestClock.adjust(Duration.millis(10))
        const watches = kube.calls.filter((c) => c.kind === "watch").length
        if (watches > seen) {
          watchTimes.push(now + 10)
          seen = watches
        }
      }
      // 0.8 s then 1.6 s, each with 0.8-1.2x jitter.
      const [first, second] = watchTimes
      expect(first).toBeGreaterThanOrEqual(640)
      expect(first).toBeLessThanOrEqual(970)
      expect(second! - first!).toBeGreaterThanOrEqual(1270)
      expect(second! - first!).toBeLessThanOrEqual(1930)
      const deltas = yield* Fiber.join(fiber)
      expect(Chunk.toArray(deltas).map(describeDelta)).toEqual(["synced", "upsert a@11 (new)"])
      expect(kube.calls.map((c) => [c.kind, c.query.resourceVersion])).toEqual([
        ["watchList", undefined],
        ["list", undefined],
        ["watch", "10"],
        ["watch", "10"],
        ["watch", "10"]
      ])
    }))

  it.effect("a failing list (e.g. RBAC forbids it) is retried with backoff and never emits Synced", () =>
    Effect.gen(function*() {
      const forbidden = () => new KubeApiError({ status: 403, reason: "Forbidden", message: "pods is forbidden" })
      const kube = fakeKubeApi({ lists: [forbidden(), forbidden(), forbidden()], watches: [] })
      const fiber = yield* Effect.gen(function*() {
        const reflector = yield* podReflector()
        return yield* reflector.deltas.pipe(Stream.take(1), Stream.runCollect)
      }).pipe(Effect.provide(kube.layer), Effect.fork)
      yield* TestClock.adjust(Duration.seconds(5))
      expect(kube.calls.filter((c) => c.kind === "list").length).toBeGreaterThanOrEqual(3)
      expect(Option.isNone(yield* fiber.poll)).toBe(true)
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("a watch the transport ends for silence (IdleTimeout, see KubeApiIdleTimeout.test.ts) is resumed where it was, without a relist", () =>
    Effect.gen(function*() {
      const kube = fakeKubeApi({
        lists: [{ items: [], rv: "10" }],
        watches: [
          new KubeApiError({ status: 0, reason: "IdleTimeout", message: "no data for 3m" }),
          [watchLine("ADDED", podJson("a", { rv: "11" }))]
        ]
      })
      const fiber = yield* Effect.gen(function*() {
        const reflector = yield* podReflector()
        return yield* reflector.deltas.pipe(Stream.take(2), Stream.runCollect)
      }).pipe(Effect.provide(kube.layer), Effect.fork)
      yield* TestClock.adjust(Duration.minutes(1))
      const deltas = yield* Fiber.join(fiber)
      expect(Chunk.toArray(deltas).map(describeDelta)).toEqual(["synced", "upsert a@11 (new)"])
      expect(requests(kube.calls)).toEqual([["watchList", undefined], ["list", undefined], ["watch", "10"], ["watch", "10"]])
    }))

  it.effect("an object that is not a pod is reported and skipped; the rest carries on", () =>
    Effect.gen(function*() {
      const { deltas, invalid } = yield* run({
        lists: [{ items: [{ metadata: { name: "broken" } }, podJson("a")], rv: "10" }],
        watches: [[watchLine("ADDED", { kind: "Pod", metadata: {} }), watchLine("ADDED", podJson("b", { rv: "12" }))]]
      }, 3)
      expect(deltas).toEqual(["upsert a@1 (new)", "synced", "upsert b@12 (new)"])
      expect(invalid).toHaveLength(2)
    }))

  it.effect("the store mirrors the server: upserts and deletes are applied", () =>
    Effect.gen(function*() {
      const kube = fakeKubeApi({
        lists: [{ items: [podJson("a"), podJson("b")], rv: "10" }],
        watches: [[watchLine("DELETED", podJson("a", { rv: "11" })), watchLine("ADDED", podJson("c", { rv: "12" }))]]
      })
      const names = yield* Effect.gen(function*() {
        const reflector = yield* podReflector()
        yield* reflector.deltas.pipe(Stream.take(5), Stream.runDrain)
        return Array.from(reflector.values(), (p) => p.name).sort()
      }).pipe(Effect.provide(kube.layer))
      expect(names).toEqual(["b", "c"])
    }))
})

/** The sizes of the chunks the reflector hands over, until `count` deltas have come. */
const chunkSizes = (script: KubeScript, count: number) =>
  Effect.gen(function*() {
    const reflector = yield* podReflector()
    let seen = 0
    const sizes = yield* reflector.deltas.pipe(
      Stream.chunks,
      Stream.map(Chunk.size),
      Stream.takeUntil((size) => (seen += size) >= count),
      Stream.runCollect
    )
    return Chunk.toArray(sizes)
  }).pipe(Effect.provide(fakeKubeApi(script).layer))

describe("Reflector relists in pieces", () => {
  // A stream keeps the last chunk it handed over until the next one: one
  // chunk of a whole relist would keep every delta while the watch is quiet.
  const pods = Array.from({ length: 2 * MAX_STEPS_PER_CHUNK + 1 }, (_, i) => podJson(`p${i}`, { rv: String(i + 1) }))

  it.effect("a paginated list's deltas come in chunks of at most MAX_STEPS_PER_CHUNK", () =>
    Effect.gen(function*() {
      const sizes = yield* chunkSizes({ lists: [{ items: pods, rv: "900" }], watches: [] }, pods.length + 1)
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(pods.length + 1)
      expect(Math.max(...sizes)).toBeLessThanOrEqual(MAX_STEPS_PER_CHUNK)
    }))

  it.effect("a streaming list's deltas come in chunks of at most MAX_STEPS_PER_CHUNK", () =>
    Effect.gen(function*() {
      const sizes = yield* chunkSizes({
        lists: [],
        watches: [],
        watchLists: [[...pods.map((pod) => watchLine("ADDED", pod)), initialEventsEnd("900")]]
      }, pods.length + 1)
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(pods.length + 1)
      expect(Math.max(...sizes)).toBeLessThanOrEqual(MAX_STEPS_PER_CHUNK)
    }))
})

describe("Reflector streaming list", () => {
  it.effect("the initial events come out as a list's deltas (upserts, then Synced), and the watch goes on on the same connection", () =>
    Effect.gen(function*() {
      const { calls, deltas } = yield* run({
        lists: [],
        watches: [],
        watchLists: [[
          watchLine("ADDED", podJson("b", { rv: "7" })),
          watchLine("ADDED", podJson("a", { rv: "5" })),
          initialEventsEnd("9"),
          watchLine("MODIFIED", podJson("a", { rv: "10" }))
        ]]
      }, 4, "metadata.namespace!=kube-system")
      expect(deltas).toEqual(["upsert b@7 (new)", "upsert a@5 (new)", "synced", "upsert a@10"])
      expect(calls.map((c) => c.kind)).toEqual(["watchList"])
      const query = calls[0]!.query
      expect(query).toMatchObject({
        watch: "1",
        sendInitialEvents: "true",
        resourceVersionMatch: "NotOlderThan",
        allowWatchBookmarks: "true",
        fieldSelector: "metadata.namespace!=kube-system"
      })
      // The first one asks for the latest: a consistent snapshot.
      expect(query.resourceVersion).toBeUndefined()
      expect(Number(query.timeoutSeconds)).toBeGreaterThanOrEqual(300)
      expect(Number(query.timeoutSeconds)).toBeLessThanOrEqual(600)
    }))

  it.effect("the watch resumes from the end bookmark's resourceVersion (the snapshot's), not the last initial event's", () =>
    Effect.gen(function*() {
      const { calls, deltas } = yield* run({
        lists: [],
        watches: [[watchLine("ADDED", podJson("c", { rv: "41" }))]],
        watchLists: [[
          watchLine("ADDED", podJson("a", { rv: "50" })),
          watchLine("ADDED", podJson("b", { rv: "30" })),
          initialEventsEnd("40")
        ]]
      }, 4)
      expect(deltas).toEqual(["upsert a@50 (new)", "upsert b@30 (new)", "synced", "upsert c@41 (new)"])
      expect(requests(calls)).toEqual([["watchList", undefined], ["watch", "40"]])
    }))

  it.effect("a relist after 410 streams from the last resourceVersion; vanished objects are deleted, unchanged ones are quiet", () =>
    Effect.gen(function*() {
      const { calls, deltas } = yield* run({
        lists: [],
        watches: [],
        watchLists: [
          [watchLine("ADDED", podJson("a", { rv: "1" })), watchLine("ADDED", podJson("b", { rv: "2" })), initialEventsEnd("10"), expiredLine],
          // While disconnected: b was deleted, c was created, a unchanged.
          [watchLine("ADDED", podJson("c", { rv: "30" })), watchLine("ADDED", podJson("a", { rv: "1" })), initialEventsEnd("40")]
        ]
      }, 6)
      expect(deltas).toEqual([
        "upsert a@1 (new)",
        "upsert b@2 (new)",
        "synced",
        "upsert c@30 (new)",
        "delete b (relist)",
        "synced"
      ])
      expect(requests(calls)).toEqual([["watchList", undefined], ["watchList", "10"]])
    }))

  it.effect("a streaming list whose resourceVersion is too large (or expired) is asked again from the latest, at once", () =>
    Effect.gen(function*() {
      const { calls, deltas } = yield* run({
        lists: [],
        watches: [],
        watchLists: [
          [initialEventsEnd("10"), expiredLine],
          new KubeApiError({ status: 504, reason: "Timeout", message: "Too large resource version: 10, current: 5" }),
          [watchLine("ADDED", podJson("a", { rv: "50" })), initialEventsEnd("50")]
        ]
      }, 3)
      expect(deltas).toEqual(["synced", "upsert a@50 (new)", "synced"])
      expect(requests(calls)).toEqual([["watchList", undefined], ["watchList", "10"], ["watchList", undefined]])
    }))

  it.effect("a server that refuses streaming lists (422) is listed by pages; the refusal is remembered for an hour, then streaming is tried again", () =>
    Effect.gen(function*() {
      const kube = fakeKubeApi({
        lists: [{ items: [podJson("a", { rv: "1" })], rv: "10" }, { items: [podJson("a", { rv: "1" })], rv: "20" }],
        watches: [
          [expiredLine],
          // The next 410 comes an hour and a minute later.
          Stream.fromEffect(Effect.as(Effect.sleep(Duration.minutes(61)), expiredLine))
        ],
        watchLists: [
          watchListForbidden(),
          [watchLine("ADDED", podJson("a", { rv: "60" })), initialEventsEnd("60")]
        ]
      })
      const fiber = yield* Effect.gen(function*() {
        const reflector = yield* podReflector([], undefined)
        return yield* reflector.deltas.pipe(Stream.take(5), Stream.runCollect)
      }).pipe(Effect.provide(kube.layer), Effect.fork)
      yield* TestClock.adjust(Duration.minutes(1))
      // The relist right after the first 410 went by pages.
      expect(kube.calls.map((c) => c.kind)).toEqual(["watchList", "list", "watch", "list", "watch"])
      yield* TestClock.adjust(Duration.minutes(61))
      const deltas = yield* Fiber.join(fiber)
      expect(Chunk.toArray(deltas).map(describeDelta)).toEqual(["upsert a@1 (new)", "synced", "synced", "upsert a@60", "synced"])
      expect(requests(kube.calls)).toEqual([
        ["watchList", undefined],
        ["list", undefined],
        ["watch", "10"],
        ["list", undefined],
        ["watch", "20"],
        ["watchList", "20"]
      ])
    }))

  it.effect("an ERROR event among the initial events falls back to pages; nothing of the refused stream comes out", () =>
    Effect.gen(function*() {
      const { calls, deltas } = yield* run({
        lists: [{ items: [podJson("b", { rv: "6" })], rv: "10" }],
        watches: [],
        watchLists: [[
          watchLine("ADDED", podJson("a", { rv: "5" })),
          watchLine("ERROR", { kind: "Status", code: 500, reason: "InternalError", message: "RequestWatchProgress is not supported" })
        ]]
      }, 2)
      expect(deltas).toEqual(["upsert b@6 (new)", "synced"])
      expect(calls.map((c) => c.kind)).toEqual(["watchList", "list"])
    }))

  it.effect("a stream that ends before its initial events do falls back to pages", () =>
    Effect.gen(function*() {
      const { calls, deltas } = yield* run({
        lists: [{ items: [podJson("b", { rv: "6" })], rv: "10" }],
        watches: [],
        watchLists: [[watchLine("ADDED", podJson("a", { rv: "5" }))]]
      }, 2)
      expect(deltas).toEqual(["upsert b@6 (new)", "synced"])
      expect(calls.map((c) => c.kind)).toEqual(["watchList", "list"])
    }))

  it.effect("a streaming list cut by the network is streamed again after a backoff, from scratch: initial events (not in resourceVersion order) never move the resourceVersion", () =>
    Effect.gen(function*() {
      const kube = fakeKubeApi({
        lists: [],
        watches: [],
        watchLists: [
          Stream.concat(
            Stream.make(watchLine("ADDED", podJson("a", { rv: "5" }))),
            Stream.fail(new KubeApiError({ status: 0, reason: "Transport", message: "ECONNRESET" }))
          ),
          [watchLine("ADDED", podJson("b", { rv: "6" })), initialEventsEnd("20")]
        ]
      })
      const fiber = yield* Effect.gen(function*() {
        const reflector = yield* podReflector()
        return yield* reflector.deltas.pipe(Stream.take(2), Stream.runCollect)
      }).pipe(Effect.provide(kube.layer), Effect.fork)
      yield* TestClock.adjust(Duration.millis(600))
      expect(kube.calls).toHaveLength(1)
      yield* TestClock.adjust(Duration.millis(400))
      const deltas = yield* Fiber.join(fiber)
      // a, seen only by the cut stream, was never in a complete snapshot,
      // and its resourceVersion was not taken for the retry.
      expect(Chunk.toArray(deltas).map(describeDelta)).toEqual(["upsert b@6 (new)", "synced"])
      expect(requests(kube.calls)).toEqual([["watchList", undefined], ["watchList", undefined]])
    }))

  it.effect("objects are projected as they arrive: the store changes only at the end bookmark", () =>
    Effect.gen(function*() {
      const lines = yield* Queue.unbounded<string>()
      const kube = fakeKubeApi({ lists: [], watches: [], watchLists: [Stream.fromQueue(lines)] })
      let projected = 0
      const invalid: Array<string> = []
      yield* Effect.gen(function*() {
        const reflector = yield* podReflector(invalid, undefined, {
          project: (raw) => {
            projected++
            return projectPod(raw)
          }
        })
        const consumer = yield* reflector.deltas.pipe(Stream.runDrain, Effect.fork)
        yield* Queue.offerAll(lines, [
          watchLine("ADDED", podJson("a", { rv: "5" })),
          watchLine("ADDED", { kind: "Pod", metadata: {} }),
          watchLine("ADDED", podJson("b", { rv: "6" }))
        ])
        yield* Effect.iterate(0, { while: (i) => projected < 3 && i < 1000, body: (i) => Effect.as(Effect.yieldNow(), i + 1) })
        expect(projected).toBe(3)
        expect(invalid).toHaveLength(1)
        expect(reflector.size()).toBe(0)
        yield* Queue.offer(lines, initialEventsEnd("9"))
        yield* reflector.synced
        expect(reflector.size()).toBe(2)
        yield* Fiber.interrupt(consumer)
      }).pipe(Effect.provide(kube.layer))
    }))

  it.effect("synced completes at the end bookmark, before a slow consumer has taken the deltas", () =>
    Effect.gen(function*() {
      const kube = fakeKubeApi({
        lists: [],
        watches: [],
        watchLists: [[watchLine("ADDED", podJson("a")), watchLine("ADDED", podJson("b")), initialEventsEnd("10")]]
      })
      yield* Effect.gen(function*() {
        const reflector = yield* podReflector()
        const consumer = yield* reflector.deltas.pipe(Stream.take(1), Stream.runDrain, Effect.zipRight(Effect.never), Effect.fork)
        yield* reflector.synced
        expect(reflector.size()).toBe(2)
        yield* Fiber.interrupt(consumer)
      }).pipe(Effect.provide(kube.layer))
    }))

  it.effect("streaming lists can be turned off: pages only", () =>
    Effect.gen(function*() {
      const kube = fakeKubeApi({ lists: [{ items: [podJson("a")], rv: "10" }], watches: [], watchLists: [] })
      yield* Effect.gen(function*() {
        const reflector = yield* podReflector([], undefined, { streamingList: false })
        yield* reflector.deltas.pipe(Stream.take(2), Stream.runDrain)
      }).pipe(Effect.provide(kube.layer))
      expect(kube.calls.map((c) => c.kind)).toEqual(["list"])
    }))
})

describe("Reflector sync", () => {
  it.effect("synced completes when the list is stored, before a slow consumer has taken its deltas", () =>
    Effect.gen(function*() {
      const kube = fakeKubeApi({ lists: [{ items: [podJson("a"), podJson("b")], rv: "10" }], watches: [] })
      yield* Effect.gen(function*() {
        const reflector = yield* podReflector()
        // Consume one delta, then stall: the list is still complete.
        const consumer = yield* reflector.deltas.pipe(Stream.take(1), Stream.runDrain, Effect.zipRight(Effect.never), Effect.fork)
        yield* reflector.synced
        expect(reflector.size()).toBe(2)
        yield* Fiber.interrupt(consumer)
      }).pipe(Effect.provide(kube.layer))
    }))
})

describe("Reflector liveness", () => {
  const bounds = { watchStall: Duration.minutes(5), workStall: Duration.minutes(30) }
  const report = Effect.flatMap(Liveness, (l) => l.check)


  /** Lets the other fibers run until `condition` holds (they only wait on each other, never on time). */
  const until = (condition: Effect.Effect<boolean, never, Liveness>) =>
    Effect.gen(function*() {
      for (let i = 0; i < 1000; i++) {
        if (yield* condition) return
        yield* Effect.yieldNow()
      }
      return yield* Effect.dieMessage("condition not reached")
    })

  const silentSeconds = report.pipe(
    Effect.map((r) => r.watches[0]?.state === "waiting-for-server" ? r.watches[0].silentSeconds : undefined)
  )

  it.scoped("list pages, events and bookmarks are progress; a watch that goes quiet turns liveness red", () =>
    Effect.gen(function*() {
      const kube = yield* pushedWatch([podJson("a")])
      const seen: Array<string> = []
      const reflector = yield* livePodReflector.pipe(Effect.provide(kube.layer))
      const consumer = yield* reflector.deltas.pipe(
        Stream.runForEach((d) => Effect.sync(() => void seen.push(describeDelta(d)))),
        Effect.fork
      )
      yield* until(Effect.sync(() => seen.includes("synced")))
      yield* TestClock.adjust(Duration.minutes(4))
      expect((yield* report).live).toBe(true)

      // A bookmark, four minutes after the list, restarts the clock.
      yield* kube.push(bookmark("11"))
      yield* until(Effect.map(silentSeconds, (s) => s === 0))
      yield* TestClock.adjust(Duration.minutes(4))
      expect((yield* report).live).toBe(true)

      // So does an event.
      yield* kube.push(watchLine("ADDED", podJson("b", { rv: "12" })))
      yield* until(Effect.sync(() => seen.includes("upsert b@12 (new)")))
      yield* TestClock.adjust(Duration.minutes(5))
      expect((yield* report).live).toBe(true)

      // Then nothing more on a connection that stays open: stalled.
      yield* TestClock.adjust(Duration.seconds(1))
      const stalled = yield* report
      expect(stalled.live).toBe(false)
      expect(stalled.problems).toEqual(["watch pods: no list page, event or bookmark for 301 s"])
      expect(kube.watches()).toBe(1)

      // A watch stopped on purpose (interrupted, as at shutdown) is forgotten.
      yield* Fiber.interrupt(consumer)
      expect(yield* report).toMatchObject({ live: true, watches: [] })
    }).pipe(Effect.provide(Liveness.layer(bounds))))

  it.scoped("each page of a slow list is progress", () =>
    Effect.gen(function*() {
      // Four pages, two minutes each: eight minutes before the first delta.
      const kube = yield* pushedWatch([podJson("a")], { pages: 4, pageDelay: Duration.minutes(2) })
      const reflector = yield* livePodReflector.pipe(Effect.provide(kube.layer))
      yield* reflector.deltas.pipe(Stream.runDrain, Effect.fork)
      yield* TestClock.adjust(Duration.minutes(7))
      expect(kube.lists()).toBe(4)
      expect(yield* report).toMatchObject({ live: true, watches: [{ state: "waiting-for-server", silentSeconds: 60 }] })
    }).pipe(Effect.provide(Liveness.layer(bounds))))

  it.scoped("the initial events of a long streaming list are progress", () =>
    Effect.gen(function*() {
      const lines = yield* Queue.unbounded<string>()
      const kube = fakeKubeApi({ lists: [], watches: [], watchLists: [Stream.fromQueue(lines)] })
      const reflector = yield* livePodReflector.pipe(Effect.provide(kube.layer))
      yield* reflector.deltas.pipe(Stream.runDrain, Effect.fork)
      // An object every four minutes for twelve minutes: no Synced yet, but alive.
      for (const name of ["a", "b", "c"]) {
        yield* TestClock.adjust(Duration.minutes(4))
        yield* Queue.offer(lines, watchLine("ADDED", podJson(name)))
        yield* until(Effect.map(silentSeconds, (s) => s === 0))
      }
      yield* TestClock.adjust(Duration.minutes(5))
      expect((yield* report).live).toBe(true)
      yield* TestClock.adjust(Duration.seconds(1))
      expect((yield* report).problems).toEqual(["watch pods: no list page, event or bookmark for 301 s"])
    }).pipe(Effect.provide(Liveness.layer(bounds))))

  it.scoped("time the consumer holds the deltas is not a stall of the watch", () =>
    Effect.gen(function*() {
      const kube = yield* pushedWatch()
      const release = yield* Deferred.make<void>()
      const reflector = yield* livePodReflector.pipe(Effect.provide(kube.layer))
      // The consumer blocks on pod b, as a controller does when its work queue is full.
      yield* reflector.deltas.pipe(
        Stream.runForEach((d) => d._tag === "Upsert" && d.current.name === "b" ? Deferred.await(release) : Effect.void),
        Effect.fork
      )
      yield* kube.push(watchLine("ADDED", podJson("b", { rv: "12" })))
      yield* until(Effect.map(report, (r) => r.watches[0]?.state === "with-consumer"))
      yield* TestClock.adjust(Duration.minutes(20))
      expect(yield* report).toMatchObject({ live: true, watches: [{ state: "with-consumer", heldSeconds: 1200 }] })

      // Once it pulls again, the watch has the full bound to hear from the server.
      yield* Deferred.succeed(release, undefined)
      yield* until(Effect.map(silentSeconds, (s) => s === 0))
      yield* TestClock.adjust(Duration.minutes(5))
      expect((yield* report).live).toBe(true)
      yield* TestClock.adjust(Duration.seconds(1))
      expect((yield* report).live).toBe(false)
    }).pipe(Effect.provide(Liveness.layer(bounds))))

  it.scoped("a watch whose reconnects keep failing is stalled once the bound passes", () =>
    Effect.gen(function*() {
      const refused = () => new KubeApiError({ status: 0, reason: "Transport", message: "ECONNREFUSED" })
      const kube = fakeKubeApi({ lists: [{ items: [], rv: "10" }], watches: Array.from({ length: 40 }, refused) })
      const reflector = yield* livePodReflector.pipe(Effect.provide(kube.layer))
      yield* reflector.deltas.pipe(Stream.runDrain, Effect.fork)
      yield* until(Effect.sync(() => kube.calls.some((c) => c.kind === "watch")))
      yield* TestClock.adjust(Duration.minutes(5))
      expect((yield* report).live).toBe(true)
      yield* TestClock.adjust(Duration.seconds(1))
      const stalled = yield* report
      expect(stalled.live).toBe(false)
      expect(stalled.problems).toEqual(["watch pods: no list page, event or bookmark for 301 s"])
      // It kept trying (with its capped backoff) all along.
      expect(kube.calls.filter((c) => c.kind === "watch").length).toBeGreaterThan(8)
    }).pipe(Effect.provide(Liveness.layer(bounds))))

  it.scoped("a watch whose consumer dies is stopped at once", () =>
    Effect.gen(function*() {
      const kube = yield* pushedWatch([podJson("a")])
      const reflector = yield* livePodReflector.pipe(Effect.provide(kube.layer))
      const exit = yield* reflector.deltas.pipe(
        Stream.runForEach((d) => d._tag === "Synced" ? Effect.dieMessage("bug in the consumer") : Effect.void),
        Effect.exit
      )
      expect(exit._tag).toBe("Failure")
      expect(yield* report).toMatchObject({ live: false, problems: ["watch pods stopped: the loop died"] })
    }).pipe(Effect.provide(Liveness.layer(bounds))))
})

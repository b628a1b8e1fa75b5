// Memory at scale: the whole controller (reflector, queue, workers, client)
// lists and watches 100,000 realistic pods (100 replicas per workload, so
// 1,000 workloads) and reports them to a zero-latency GitHub stand-in.
// Measures heap per cached pod (heap after GC with the pods cached, minus
// the heap before the list, divided by the pod count) and the process RSS.
// BENCH_MEMORY_LIST=streaming serves the pods as a streaming list (initial
// events, then the end bookmark) instead of list pages.
// Run with --expose-gc.
import { writeFileSync } from "node:fs"
import { Effect, Exit, Layer, Scope, Stream } from "effect"
import { KubeApi, KubeApiError } from "../../src/kube/KubeApi.ts"
import { loggingLayer } from "../../src/observability/Logging.ts"
import { Metrics } from "../../src/observability/Metrics.ts"
import { arrivalCount, benchController, getOwnerObject, startZeroLatencyServer, waitUntil } from "./benchSupport.ts"
import { makePod, watchLine } from "./podFactory.ts"
import { isStreamingList, streamingListRefused } from "./streamingLists.ts"

const PODS = Number(process.env["BENCH_MEMORY_PODS"] ?? 100_000)
const REPLICAS = 100
const PAGE = 500
const LIST = process.env["BENCH_MEMORY_LIST"] === "streaming" ? "streaming" : "paginated"
const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error("run with node --expose-gc")

const settledHeap = () => {
  for (let i = 0; i < 3; i++) gc()
  return process.memoryUsage().heapUsed
}

const podsFrom = (from: number) =>
  Array.from(
    { length: Math.min(PODS, from + PAGE) - from },
    (_, i) => makePod({ index: from + i, phase: "Running", resourceVersion: 100 + from + i, podsPerWorkload: REPLICAS })
  )

const initialEventsEnd = watchLine("BOOKMARK", {
  kind: "Pod",
  metadata: { resourceVersion: "1", annotations: { "k8s.io/initial-events-end": "true" } }
})

/** A body in socket-sized pieces (a 4 MB chunk would be decoded into one 4 MB string). */
const SOCKET_CHUNK = 64 * 1024

/**
 * A streaming list of the pods, generated a page at a time as it is read
 * (chunk size 1: Stream.range would make every page at once), then a quiet
 * watch.
 */
const streamedPods = (onStart: () => void) =>
  Stream.range(0, Math.ceil(PODS / PAGE) - 1, 1).pipe(
    Stream.tap(() => Effect.sync(onStart)),
    Stream.mapConcat((page) => {
      const bytes = new TextEncoder().encode(podsFrom(page * PAGE).map((pod) => watchLine("ADDED", pod)).join(""))
      const pieces: Array<Uint8Array> = []
      for (let at = 0; at < bytes.length; at += SOCKET_CHUNK) pieces.push(bytes.subarray(at, at + SOCKET_CHUNK))
      return pieces
    }),
    Stream.rechunk(1),
    Stream.concat(Stream.make(new TextEncoder().encode(initialEventsEnd))),
    Stream.concat(Stream.never)
  )

const program = Effect.gen(function*() {
  const server = yield* Effect.promise(startZeroLatencyServer)
  let listStarted = false
  const kube = Layer.succeed(KubeApi, {
    server: "bench",
    send: () => Effect.fail(new KubeApiError({ status: 405, reason: "MethodNotAllowed", message: "writes are not scripted" })),
    // Pages are generated as they are asked for, like a real paginated
    // list, and parsed from their JSON text as KubeApi's answers are: the
    // factory's objects hold their strings as concatenations, which would
    // count against the cache (about 100 bytes per pod).
    getJson: (path, query) =>
      path !== "/api/v1/pods" ? getOwnerObject(path) : Effect.sync(() => {
        listStarted = true
        const from = Number(query["continue"] ?? 0)
        const to = Math.min(PODS, from + PAGE)
        const page = { kind: "PodList", metadata: { resourceVersion: "1", continue: to < PODS ? String(to) : undefined }, items: podsFrom(from) }
        return JSON.parse(JSON.stringify(page)) as unknown
      }),
    stream: (path, query) => {
      if (!isStreamingList(query)) return Stream.never
      if (LIST === "paginated") return streamingListRefused
      return path === "/api/v1/pods"
        ? streamedPods(() => (listStarted = true))
        : Stream.concat(Stream.make(new TextEncoder().encode(initialEventsEnd)), Stream.never)
    }
  })
  const app = benchController(server.url, kube)
  const heapBefore = settledHeap()
  const started = performance.now()
  const scope = yield* Scope.make()
  const context = yield* Layer.buildWithScope(app, scope)
  const expectedRecords = (PODS / REPLICAS) * 3
  yield* waitUntil(async () => (await arrivalCount(server.url)) >= expectedRecords, `${expectedRecords} records`)
  const seconds = (performance.now() - started) / 1000
  const metrics = yield* Metrics.pipe(Effect.provide(context))
  // The gauges are set when /metrics is read: render as a scrape does.
  yield* metrics.render
  const cached = (yield* Effect.promise(() => metrics.registry.getSingleMetric("deployment_tracker_cached_pods")!.get()))
    .values[0]?.value
  const heapAfter = settledHeap()
  const { external, heapTotal, rss } = process.memoryUsage()
  const maxRssBytes = process.resourceUsage().maxRSS * 1024
  yield* Scope.close(scope, Exit.void)
  server.child.kill("SIGTERM")
  if (!listStarted) throw new Error("the list never ran")
  return {
    bench: "memory",
    list: LIST,
    pods: PODS,
    workloads: PODS / REPLICAS,
    recordsPosted: expectedRecords,
    cachedPodsGauge: cached,
    seconds: +seconds.toFixed(1),
    heapPerPodBytes: Math.round((heapAfter - heapBefore) / PODS),
    heapUsedMiB: +(heapAfter / 2 ** 20).toFixed(1),
    heapTotalMiB: +(heapTotal / 2 ** 20).toFixed(1),
    externalMiB: +(external / 2 ** 20).toFixed(1),
    rssMiB: +(rss / 2 ** 20).toFixed(1),
    maxRssMiB: +(maxRssBytes / 2 ** 20).toFixed(1)
  }
})

const result = await Effect.runPromise(program.pipe(Effect.provide(loggingLayer("INFO"))))
const out = `${JSON.stringify(result)}\n`
if (process.env["BENCH_RESULT"] !== undefined) writeFileSync(process.env["BENCH_RESULT"], out)
else process.stderr.write(out)

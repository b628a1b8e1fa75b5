// End-to-end throughput and latency: pod watch events through the real
// controller (reflector, event rules, work queue, 2 workers, GitHub client)
// to a zero-latency HTTP server in another process, throttle lifted.
// Two runs: as fast as possible (throughput), then paced below that
// (enqueue-to-response latency when the pipeline keeps up).
import { writeFileSync } from "node:fs"
import { Effect, Exit, Layer, Option, Scope, Stream } from "effect"
import { KubeApi, KubeApiError } from "../../src/kube/KubeApi.ts"
import { loggingLayer } from "../../src/observability/Logging.ts"
import { renderDeploymentName, DEFAULT_TEMPLATE } from "../../src/record/deploymentName.ts"
import { arrivalCount, arrivalTimes, benchController, getOwnerObject, isWorkloadCollection, percentile, startZeroLatencyServer, waitUntil } from "./benchSupport.ts"
import { makePod, watchLine } from "./podFactory.ts"
import { isStreamingList, streamingListRefused } from "./streamingLists.ts"

const PODS = Number(process.env["BENCH_E2E_PODS"] ?? 4000)
const PACED_RECORDS_PER_SECOND = Number(process.env["BENCH_E2E_PACE"] ?? 1000)
const now = () => performance.timeOrigin + performance.now()

interface RunResult {
  readonly records: number
  readonly seconds: number
  readonly recordsPerSecond: number
  readonly cpuMicrosPerRecord: number
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly max: number }
}

const run = (offset: number, pods: number, podsPerSecond: number | undefined) =>
  Effect.gen(function*() {
    const server = yield* Effect.promise(startZeroLatencyServer)
    // Prepared before timing: the watch lines and each pod's record names.
    const lines = Array.from({ length: pods }, (_, i) => {
      const pod = makePod({ index: offset + i, phase: "Running", resourceVersion: 10 + i })
      const names = [...pod.spec.containers, ...pod.spec.initContainers].map((c: { name: string }) =>
        renderDeploymentName(DEFAULT_TEMPLATE, {
          namespace: pod.metadata.namespace,
          workloadName: `svc-${offset + i}`,
          containerName: c.name
        })
      )
      return { bytes: new TextEncoder().encode(watchLine("ADDED", pod)), names }
    })
    const emitted = new Array<number>(pods)
    let started = 0

    const kube = Layer.succeed(KubeApi, {
      server: "bench",
      send: () => Effect.fail(new KubeApiError({ status: 405, reason: "MethodNotAllowed", message: "writes are not scripted" })),
      getJson: (path) =>
        path === "/api/v1/pods"
          ? Effect.succeed({ kind: "PodList", metadata: { resourceVersion: "1" }, items: [] })
          : getOwnerObject(path),
      stream: (path, query) =>
        isStreamingList(query) ? streamingListRefused : isWorkloadCollection(path) ? Stream.never : Stream.unfoldEffect(0, (i) =>
          i >= pods ? Effect.succeed(Option.none()) : Effect.gen(function*() {
            if (i === 0) started = now()
            if (podsPerSecond !== undefined) {
              const due = started + (i * 1000) / podsPerSecond
              const wait = due - now()
              if (wait > 1) yield* Effect.sleep(`${Math.floor(wait)} millis`)
            }
            emitted[i] = now()
            return Option.some([lines[i]!.bytes, i + 1] as const)
          })).pipe(Stream.concat(Stream.never))
    })

    const app = benchController(server.url, kube)
    const cpuBefore = process.cpuUsage()
    const scope = yield* Scope.make()
    yield* Layer.buildWithScope(app, scope)
    const total = pods * lines[0]!.names.length
    yield* waitUntil(async () => (await arrivalCount(server.url)) >= total, `${total} records`)
    const arrivals = yield* Effect.promise(() => arrivalTimes(server.url))
    const cpu = process.cpuUsage(cpuBefore)
    yield* Scope.close(scope, Exit.void)
    server.child.kill("SIGTERM")

    const latencies = lines.flatMap((line, i) => line.names.map((n) => arrivals[n]! - emitted[i]!)).sort((a, b) => a - b)
    const last = Math.max(...Object.values(arrivals))
    const seconds = (last - started) / 1000
    return {
      records: total,
      seconds: +seconds.toFixed(2),
      recordsPerSecond: Math.round(total / seconds),
      // CPU time of the controller process per record: comparable across
      // runs even when other processes compete for the cores.
      cpuMicrosPerRecord: Math.round((cpu.user + cpu.system) / total),
      latencyMs: {
        p50: +percentile(latencies, 50).toFixed(1),
        p99: +percentile(latencies, 99).toFixed(1),
        max: +latencies[latencies.length - 1]!.toFixed(1)
      }
    } satisfies RunResult
  })

const program = Effect.gen(function*() {
  const saturated = yield* run(0, PODS, undefined)
  const recordsPerPod = 3
  const paced = yield* run(1_000_000, Math.min(PODS, 3000), PACED_RECORDS_PER_SECOND / recordsPerPod)
  return {
    bench: "end-to-end",
    workers: 2,
    recordsPerPod,
    saturated,
    paced: { offeredRecordsPerSecond: PACED_RECORDS_PER_SECOND, ...paced }
  }
})

// The product's own logging at INFO: one line per posted record, as in production.
const result = await Effect.runPromise(program.pipe(
  Effect.provide(loggingLayer(process.env["BENCH_LOG_LEVEL"] === "WARN" ? "WARN" : "INFO"))
))
const out = `${JSON.stringify(result)}\n`
if (process.env["BENCH_RESULT"] !== undefined) writeFileSync(process.env["BENCH_RESULT"], out)
else process.stderr.write(out)

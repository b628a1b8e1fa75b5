// Watch decoding and event derivation throughput: a recorded NDJSON pod
// watch stream (realistic 7.8 KB pods) through the real reflector (bytes ->
// lines -> JSON -> slim pod -> store -> delta) and the event rules.
// Writes one JSON result line to $BENCH_RESULT (or stderr).
import { createReadStream, existsSync, mkdirSync, statSync, writeFileSync } from "node:fs"
import { Effect, Layer, Stream } from "effect"
import { podTrigger } from "../../src/controller/triggers.ts"
import { KubeApi, KubeApiError } from "../../src/kube/KubeApi.ts"
import { projectPod } from "../../src/kube/podProjection.ts"
import { makeReflector } from "../../src/kube/Reflector.ts"
import { podKey, type SlimPod } from "../../src/kube/SlimPod.ts"
import { makePod, watchLine } from "./podFactory.ts"
import { isStreamingList, streamingListRefused } from "./streamingLists.ts"

const PODS = Number(process.env["BENCH_WATCH_PODS"] ?? 15_000)
const DATA_DIR = new URL("../../bench-data/", import.meta.url).pathname
const RECORDING = `${DATA_DIR}watch-${PODS}.ndjson`

/** Each pod is ADDED Pending, then MODIFIED Running: 2 watch events per pod. */
const record = () => {
  mkdirSync(DATA_DIR, { recursive: true })
  const lines: Array<string> = []
  let rv = 1000
  for (let i = 0; i < PODS; i++) lines.push(watchLine("ADDED", makePod({ index: i, phase: "Pending", resourceVersion: rv++ })))
  for (let i = 0; i < PODS; i++) lines.push(watchLine("MODIFIED", makePod({ index: i, phase: "Running", resourceVersion: rv++ })))
  writeFileSync(RECORDING, lines.join(""))
}

if (!existsSync(RECORDING)) record()
const bytes = statSync(RECORDING).size
const events = PODS * 2

const fakeApi = Layer.succeed(KubeApi, {
  server: "bench",
  send: () => Effect.fail(new KubeApiError({ status: 405, reason: "MethodNotAllowed", message: "writes are not scripted" })),
  getJson: () => Effect.succeed({ kind: "PodList", metadata: { resourceVersion: "1" }, items: [] }),
  // The reflector lists (empty) by pages, then reads the recording as its watch.
  stream: (_path, query) =>
    isStreamingList(query)
      ? streamingListRefused
      : Stream.fromAsyncIterable(
        createReadStream(RECORDING, { highWaterMark: 64 * 1024 }),
        (cause) => new KubeApiError({ status: 0, reason: "Transport", message: String(cause) })
      ).pipe(Stream.map((chunk) => chunk as Uint8Array))
})

const program = Effect.gen(function*() {
  const reflector = yield* makeReflector<SlimPod>({
    path: "/api/v1/pods",
    project: projectPod,
    keyOf: podKey,
    resourceVersionOf: (p) => p.resourceVersion
  })
  let derived = 0
  let deltas = 0
  const cpuBefore = process.cpuUsage()
  const started = performance.now()
  yield* reflector.deltas.pipe(
    Stream.filter((d) => d._tag === "Upsert"),
    Stream.take(events),
    Stream.runForEach((d) =>
      Effect.sync(() => {
        deltas++
        if (d._tag === "Upsert" && podTrigger(d.previous, d.current) === "CREATED") derived++
      })
    )
  )
  const seconds = (performance.now() - started) / 1000
  const cpu = process.cpuUsage(cpuBefore)
  return {
    bench: "watch-decode",
    events: deltas,
    createdEvents: derived,
    megabytes: +(bytes / 1e6).toFixed(1),
    averagePodBytes: Math.round(bytes / events),
    seconds: +seconds.toFixed(2),
    eventsPerSecond: Math.round(deltas / seconds),
    cpuSecondsPerWallSecond: +((cpu.user + cpu.system) / 1e6 / seconds).toFixed(2)
  }
})

const result = await Effect.runPromise(program.pipe(Effect.provide(fakeApi)))
if (result.createdEvents !== PODS) throw new Error(`expected ${PODS} CREATED events, got ${result.createdEvents}`)
const out = `${JSON.stringify(result)}\n`
if (process.env["BENCH_RESULT"] !== undefined) writeFileSync(process.env["BENCH_RESULT"], out)
else process.stderr.write(out)

// One scenario of the process benchmark: stand-ins up, the tracker
// spawned, then three phases measured from outside the process:
// start-up (spawn -> /readyz 200 -> CPU quiet and queue empty), idle (the
// settled figures), burst (N MODIFIED pod events -> quiet again). Every
// wait has a deadline; a tracker that dies is a result, not an error.
// The Go original has no /healthz or /readyz: it is ready when it logs
// "Controller started", and it has no work-queue gauge (quiet CPU only).
import { readFileSync } from "node:fs"
import { cpus, loadavg } from "node:os"
import { join } from "node:path"
import { MetricsScraper, Prober, summariseProbes } from "./probes.ts"
import { ProcSampler, resetPeak } from "./procSampler.ts"
import { ApiServerStandIn, GitHubStandIn } from "./standIns.ts"
import { writeKubeconfig } from "./tls.ts"
import { type Connection, freePort, type Implementation, TrackerProcess } from "./tracker.ts"

export interface ScenarioOptions {
  readonly pods: number
  readonly replicas: number
  readonly namespaces: number
  readonly implementation: Implementation
  /** In-cluster (as in a pod, the default) or through a kubeconfig file. */
  readonly connection: Connection["kind"]
  readonly watchList: boolean
  readonly bookmarkSeconds: number
  readonly burstEvents: number
  readonly burstVariant: "status" | "rollout"
  /**
   * Seconds the settled tracker is left alone (kubelet-paced probes) before
   * the burst; `idle.afterHold` is the figure at its end. V8 gives memory
   * back some seconds after allocation stops, so the first quiet moment
   * overstates what a long-running idle process holds.
   */
  readonly idleHoldSeconds: number
  /** Deadline of each phase (ready, quiet after start, burst delivered and quiet). */
  readonly phaseTimeoutSeconds: number
  readonly tlsDir: string
  readonly workDir: string
  readonly logFile: string
}

const SAMPLE_MS = 100
/** What the Go original logs once its caches synced and its start-up sync ended. */
const GO_READY_LINE = "Controller started"
/** Heap in use and heap held, as each runtime's default metrics name them. */
const NODE_HEAP = { used: "nodejs_heap_size_used_bytes", total: "nodejs_heap_size_total_bytes" }
const GO_HEAP = { used: "go_memstats_heap_inuse_bytes", total: "go_memstats_heap_sys_bytes" }
/**
 * Probe and scrape paces. Fast while something happens (start-up until the
 * queue is empty, the burst until its events are delivered): that is where
 * a blocked event loop shows. Kubelet's pace (the manifest's probe periods)
 * and a usual Prometheus one otherwise: ten probes a second cost the idle
 * tracker about 2 % of a core and, on a small cluster, grow its RSS by
 * some 40 MiB over a minute (young-generation garbage), which would make
 * the idle figures the probes' own.
 */
const FAST = { healthzMs: 200, readyzMs: 100, scrapeMs: 2_000 }
const KUBELET = { healthzMs: 20_000, readyzMs: 10_000, scrapeMs: 10_000 }
/** Quiet: under 2 % of one core over 5 s. */
const QUIET_WINDOW_MS = 5_000
const QUIET_CORE_FRACTION = 0.02
/** The work-queue gauge is refreshed every 5 s: a reading counts only this long after the moment it must describe. */
const QUEUE_GAUGE_PERIOD_MS = 5_500
/** SIGTERM to exit: the tracker drains its queue for up to 60 s by default. */
const SHUTDOWN_GRACE_MS = 75_000

const MiB = (bytes: number | undefined) => (bytes === undefined ? undefined : Math.round((bytes / 2 ** 20) * 10) / 10)
const seconds = (ms: number) => Math.round(ms / 10) / 100
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

type WaitOutcome = "ok" | "died" | "timeout"

/** Polls `done` every 100 ms until it holds, the tracker exits, or the deadline passes. */
const waitFor = async (tracker: TrackerProcess, done: () => boolean | Promise<boolean>, timeoutSeconds: number): Promise<WaitOutcome> => {
  const deadline = performance.now() + timeoutSeconds * 1000
  while (true) {
    if (!tracker.running) return "died"
    if (await done()) return "ok"
    if (performance.now() > deadline) return "timeout"
    await sleep(SAMPLE_MS)
  }
}

export const runScenario = async (options: ScenarioOptions) => {
  const loadAtStart = loadavg()
  const api = await ApiServerStandIn.start({
    pods: options.pods,
    replicas: options.replicas,
    namespaces: options.namespaces,
    bookmarkSeconds: options.bookmarkSeconds,
    watchList: options.watchList,
    tlsDir: options.tlsDir
  })
  const github = await GitHubStandIn.start()
  const caFile = join(options.tlsDir, "ca.crt")
  const connection: Connection = options.connection === "kubeconfig"
    ? { kind: "kubeconfig", path: join(options.workDir, "kubeconfig") }
    : { kind: "in-cluster", host: new URL(api.url).hostname, port: Number(new URL(api.url).port), caPem: readFileSync(caFile, "utf8") }
  if (connection.kind === "kubeconfig") writeKubeconfig(connection.path, api.url, caFile)
  const metricsPort = await freePort()

  const tracker = new TrackerProcess({
    connection,
    gitHubUrl: github.url,
    metricsPort,
    implementation: options.implementation,
    logFile: options.logFile,
    home: options.workDir
  })
  const spawnedAt = tracker.spawnedAt
  const sampler = new ProcSampler(tracker.pid, SAMPLE_MS)
  const isNode = options.implementation.kind === "node"
  const probers = isNode
    ? { healthz: new Prober(metricsPort, "/healthz", FAST.healthzMs), readyz: new Prober(metricsPort, "/readyz", FAST.readyzMs) }
    : undefined
  const scraper = new MetricsScraper(metricsPort, FAST.scrapeMs, isNode ? NODE_HEAP : GO_HEAP)
  const pace = (p: typeof FAST) => {
    probers?.healthz.pace.set(p.healthzMs)
    probers?.readyz.pace.set(p.readyzMs)
    scraper.pace.set(p.scrapeMs)
  }
  const summarise = (from: number, to: number) =>
    probers === undefined
      ? undefined
      : { healthz: summariseProbes(probers.healthz.results, from, to), readyz: summariseProbes(probers.readyz.results, from, to) }
  const since = (at: number | undefined) => (at === undefined ? undefined : seconds(at - spawnedAt))
  /** The queue gauge read 0 in a scrape that came a full gauge period after `after`. */
  const queueEmptyAfter = (after: number) => {
    const reading = scraper.latest
    return reading !== undefined && reading.at >= after + QUEUE_GAUGE_PERIOD_MS && reading.queueDepth === 0
  }
  const quietSince = () => sampler.quietSince(QUIET_WINDOW_MS, QUIET_CORE_FRACTION)
  const phases: Array<{ phase: string; outcome: WaitOutcome }> = []
  const run = async (phase: string, done: () => boolean | Promise<boolean>) => {
    const outcome = await waitFor(tracker, done, options.phaseTimeoutSeconds)
    phases.push({ phase, outcome })
    if (outcome !== "ok") log(`${phase}: ${outcome}`)
    return outcome === "ok"
  }
  const log = (line: string) =>
    process.stderr.write(`[process ${options.pods} pods, ${options.implementation.label}] ${line}\n`)

  // ---- start-up: spawn -> /readyz 200 -> the events held back during the sync handled (queue empty)
  log(`tracker pid ${tracker.pid} started; log ${options.logFile}`)
  let readyAt: number | undefined
  const ready = await run("ready", () => {
    if (probers !== undefined) readyAt = probers.readyz.firstOk()?.at
    else if (tracker.logHas(GO_READY_LINE)) readyAt = performance.now()
    return readyAt !== undefined
  })
  const cpuAtReady = readyAt === undefined ? undefined : sampler.at(readyAt + SAMPLE_MS)?.cpuSeconds
  if (ready) log(`ready after ${since(readyAt)} s`)
  probers?.readyz.pace.set(FAST.healthzMs)
  const drained = ready && (!isNode || await run("queue drained after ready", () => queueEmptyAfter(readyAt!)))
  const startupEnd = performance.now()

  // ---- settle at kubelet pace: CPU quiet -> the idle figures
  pace(KUBELET)
  let idleAt: number | undefined
  // The quiet window lies wholly in the kubelet-paced part, so the fast probes' cost is not in it.
  const settled = drained && await run("settle", () => (idleAt = quietSince()) !== undefined && idleAt >= startupEnd)
  if (settled) log(`quiet ${since(idleAt)} s after start`)
  const idleSample = settled ? sampler.latest : undefined
  // A scrape now: the idle heap figures (the last paced one may be 10 s old).
  const idleMetrics = settled ? await scraper.scrapeNow() : undefined
  const holdUntil = performance.now() + options.idleHoldSeconds * 1000
  const held = settled && options.idleHoldSeconds > 0 && await run("idle hold", () => performance.now() >= holdUntil)
  const heldSample = held ? sampler.sample() ?? sampler.latest : undefined
  const heldMetrics = held ? await scraper.scrapeNow() : undefined
  const hwmBeforeBurst = sampler.sample()?.hwmBytes ?? sampler.latest?.hwmBytes

  // ---- burst: N MODIFIED events -> delivered (fast probes) -> CPU quiet (kubelet pace)
  let burst: Record<string, unknown> | undefined
  if (settled && options.burstEvents > 0) {
    pace(FAST)
    const peakReset = resetPeak(tracker.pid)
    const startSample = sampler.sample()!
    await api.startBurst(options.burstEvents, options.burstVariant)
    log(`burst of ${options.burstEvents} ${options.burstVariant} events started`)
    let deliveredAt: number | undefined
    const delivered = await run("burst delivered", async () => {
      if ((await api.burst()).delivered) deliveredAt = performance.now()
      return deliveredAt !== undefined
    })
    const burstProbesEnd = performance.now()
    pace(KUBELET)
    let quietAt: number | undefined
    // The quiet window must start after the last event went out: the tracker may still be reading its socket.
    const quiet = delivered && await run("burst settle", () => (quietAt = quietSince()) !== undefined && quietAt >= deliveredAt!)
    // The burst's CPU ends where the quiet window starts.
    const end = quiet ? quietAt! : performance.now()
    const endSample = sampler.at(end) ?? sampler.latest!
    const finalSample = sampler.sample() ?? sampler.latest!
    const cpuSeconds = endSample.cpuSeconds - startSample.cpuSeconds
    burst = {
      outcome: quiet ? "ok" : delivered ? "not quiet" : "not delivered",
      events: options.burstEvents,
      variant: options.burstVariant,
      deliveredSeconds: deliveredAt === undefined ? undefined : seconds(deliveredAt - startSample.at),
      settledSeconds: seconds(end - startSample.at),
      cpuSeconds: Math.round(cpuSeconds * 100) / 100,
      cpuMicrosPerEvent: Math.round((cpuSeconds * 1e6) / options.burstEvents),
      coresUsed: Math.round((cpuSeconds / ((end - startSample.at) / 1000)) * 100) / 100,
      peakRssMiB: MiB(peakReset ? finalSample.hwmBytes : sampler.peakRss(startSample.at, end)),
      peakFrom: peakReset ? "VmHWM reset at burst start" : "sampled VmRSS",
      rssAfterMiB: MiB(endSample.rssBytes),
      heapUsedPeakMiB: MiB(scraper.peakHeapUsed(startSample.at, end)),
      probes: summarise(startSample.at, burstProbesEnd)
    }
    log(`burst ${String(burst["outcome"])}: ${String(burst["cpuMicrosPerEvent"])} µs CPU per event`)
  }

  // ---- shut down and collect
  const died = tracker.exit
  const hwmEnd = sampler.sample()?.hwmBytes ?? sampler.latest?.hwmBytes ?? 0
  probers?.healthz.stop()
  probers?.readyz.stop()
  scraper.stop()
  sampler.stop()
  const lastSample = sampler.latest
  const shutdown = died === undefined ? await tracker.stop(SHUTDOWN_GRACE_MS) : undefined
  const [apiCounters, gitHubCounters] = await Promise.all([api.counters(), github.counters()])
  // The stand-ins' own CPU: they must not be what limits the tracker.
  const standInCpuSeconds = { apiServer: api.cpuSeconds(), github: github.cpuSeconds() }
  await Promise.all([api.stop(), github.stop()])
  const deathCause = died === undefined ? undefined : tracker.deathCause()
  if (died !== undefined) {
    log(`!!! THE TRACKER DIED after ${since(died.at)} s: exit code ${died.code}, signal ${died.signal}: ${deathCause ?? "cause not in the log"}`)
  }

  const timedOut = phases.find((p) => p.outcome === "timeout")
  return {
    bench: "process",
    scenario: {
      pods: options.pods,
      deployments: Math.ceil(options.pods / options.replicas),
      namespaces: options.namespaces,
      tracker: options.implementation.kind === "node" ? "dist/main.js" : `Go original ${options.implementation.binary}`,
      nodeOptions: options.implementation.kind === "node" ? options.implementation.nodeOptions ?? "none" : undefined,
      connection: options.connection,
      apiServerWatchList: options.watchList,
      bookmarkSeconds: options.bookmarkSeconds
    },
    probePaceMs: { fast: FAST, kubelet: KUBELET },
    machine: { cores: cpus().length, loadAverageAtStart: loadAtStart.map((l) => Math.round(l * 100) / 100), loadAverageAtEnd: loadavg().map((l) => Math.round(l * 100) / 100) },
    outcome: died !== undefined ? "died" : timedOut !== undefined ? `timeout (${timedOut.phase})` : "ok",
    phases,
    died: died === undefined ? undefined : { afterSeconds: since(died.at), code: died.code, signal: died.signal, cause: deathCause },
    startup: {
      readySeconds: since(readyAt),
      cpuSecondsToReady: cpuAtReady === undefined ? undefined : Math.round(cpuAtReady * 100) / 100,
      // Cores the tracker got on average until ready: well under its need means the machine's other work starved it.
      coresUsedToReady: cpuAtReady === undefined || readyAt === undefined ? undefined : Math.round((cpuAtReady / ((readyAt - spawnedAt) / 1000)) * 100) / 100,
      queueDrainedSeconds: isNode && drained ? since(startupEnd) : undefined,
      settledSeconds: since(idleAt),
      cpuSecondsToSettled: idleSample === undefined ? undefined : Math.round(idleSample.cpuSeconds * 100) / 100,
      peakRssMiB: MiB(hwmBeforeBurst),
      probes: summarise(spawnedAt, startupEnd)
    },
    idle: idleSample === undefined
      ? undefined
      : {
        rssMiB: MiB(idleSample.rssBytes),
        heapUsedMiB: MiB(idleMetrics?.heapUsedBytes),
        heapTotalMiB: MiB(idleMetrics?.heapTotalBytes),
        probes: summarise(startupEnd, idleAt ?? startupEnd),
        afterHold: heldSample === undefined ? undefined : {
          seconds: options.idleHoldSeconds,
          rssMiB: MiB(heldSample.rssBytes),
          heapUsedMiB: MiB(heldMetrics?.heapUsedBytes),
          heapTotalMiB: MiB(heldMetrics?.heapTotalBytes)
        }
      },
    burst,
    peakRssMiB: MiB(Math.max(hwmBeforeBurst ?? 0, hwmEnd)),
    cpuSecondsTotal: lastSample === undefined ? undefined : Math.round(lastSample.cpuSeconds * 100) / 100,
    shutdown: shutdown === undefined
      ? undefined
      : { code: shutdown.code, signal: shutdown.signal, killedAfterGrace: shutdown.killed },
    apiServer: {
      ownerGets: apiCounters.ownerGets,
      podList: apiCounters.podList,
      watches: apiCounters.watches,
      requests: apiCounters.requests,
      configMaps: apiCounters.configMaps,
      otherWrites: apiCounters.otherWrites,
      unknownPaths: apiCounters.unknown,
      podEventsWritten: apiCounters.podEventsWritten,
      megabytes: { list: Math.round(apiCounters.bytes.list / 1e6), watch: Math.round(apiCounters.bytes.watch / 1e6) },
      cpuSeconds: standInCpuSeconds.apiServer
    },
    github: { ...gitHubCounters, cpuSeconds: standInCpuSeconds.github },
    logFile: options.logFile
  }
}

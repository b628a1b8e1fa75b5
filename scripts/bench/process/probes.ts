// What a kubelet and Prometheus would ask the tracker, asked on a timer:
// `/healthz` and `/readyz` probes (a new connection each, as the kubelet
// makes; latency recorded per answer) and `/metrics` scrapes for the V8
// heap and the work-queue depth.
import { get } from "node:http"

export interface ProbeResult {
  /** performance.now() when the probe was sent. */
  readonly at: number
  readonly latencyMs: number
  /** HTTP status; 0 for a timeout or a connection error after the endpoint came up. */
  readonly status: number
}

const PROBE_TIMEOUT_MS = 10_000

/** One GET on a fresh connection; resolves with the status and body, or status 0 and the error. */
const fetchOnce = (port: number, path: string, timeoutMs: number) =>
  new Promise<{ status: number; body: string; error?: string }>((resolve) => {
    const req = get({ host: "127.0.0.1", port, path, agent: false, timeout: timeoutMs }, (res) => {
      let body = ""
      res.setEncoding("utf8")
      res.on("data", (chunk: string) => (body += chunk))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }))
      res.on("error", (e) => resolve({ status: 0, body, error: e.message }))
    })
    req.on("timeout", () => req.destroy(new Error("timeout")))
    req.on("error", (e) => resolve({ status: 0, body: "", error: (e as NodeJS.ErrnoException).code ?? e.message }))
  })

/**
 * A loop's pace: the wait between two requests, changeable at any time (a
 * change ends the current wait, so fast probing starts at once).
 */
class Pace {
  #intervalMs: number
  #wake: (() => void) | undefined

  constructor(intervalMs: number) {
    this.#intervalMs = intervalMs
  }

  get intervalMs(): number {
    return this.#intervalMs
  }

  set(intervalMs: number): void {
    this.#intervalMs = intervalMs
    this.#wake?.()
  }

  /** Waits out the rest of the interval begun at `since`. */
  wait(since: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        this.#wake = undefined
        resolve()
      }
      const timer = setTimeout(done, Math.max(0, this.#intervalMs - (performance.now() - since)))
      this.#wake = done
    })
  }
}

/** Probes one path every `pace` (the next probe waits for the previous answer). */
export class Prober {
  readonly results: Array<ProbeResult> = []
  #stopped = false
  /** Until the endpoint first answers, refused connections are the process starting, not failed probes. */
  #up = false
  readonly #port: number
  readonly #path: string
  readonly pace: Pace

  constructor(port: number, path: string, intervalMs: number) {
    this.#port = port
    this.#path = path
    this.pace = new Pace(intervalMs)
    void this.#loop()
  }

  async #loop() {
    while (!this.#stopped) {
      const at = performance.now()
      const answer = await fetchOnce(this.#port, this.#path, PROBE_TIMEOUT_MS)
      const latencyMs = performance.now() - at
      if (answer.status !== 0) this.#up = true
      if (this.#up && !this.#stopped) this.results.push({ at, latencyMs, status: answer.status })
      await this.pace.wait(at)
    }
  }

  /** When the path first answered 200, if it has. */
  firstOk(): ProbeResult | undefined {
    return this.results.find((r) => r.status === 200)
  }

  stop(): void {
    this.#stopped = true
    this.pace.set(0)
  }
}

export interface ProbeSummary {
  readonly probes: number
  readonly maxMs: number
  readonly p99Ms: number
  readonly over250ms: number
  /** Timeouts and connection errors (the endpoint did not answer at all). */
  readonly unanswered: number
  /** Answers with another status than 200 (503 of /readyz before the sync is expected). */
  readonly non200: number
}

export const summariseProbes = (results: ReadonlyArray<ProbeResult>, from: number, to: number): ProbeSummary => {
  const inPhase = results.filter((r) => r.at >= from && r.at < to)
  const latencies = inPhase.map((r) => r.latencyMs).sort((a, b) => a - b)
  const round = (ms: number) => Math.round(ms * 10) / 10
  return {
    probes: inPhase.length,
    maxMs: round(latencies.at(-1) ?? 0),
    p99Ms: round(latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))] ?? 0),
    over250ms: latencies.filter((ms) => ms > 250).length,
    unanswered: inPhase.filter((r) => r.status === 0).length,
    non200: inPhase.filter((r) => r.status !== 0 && r.status !== 200).length
  }
}

export interface MetricsReading {
  readonly at: number
  readonly heapUsedBytes: number | undefined
  readonly heapTotalBytes: number | undefined
  readonly queueDepth: number | undefined
}

const QUEUE_DEPTH = "deployment_tracker_workqueue_depth"

/** The series of the heap in use and the heap held (they differ by runtime). */
export interface HeapSeries {
  readonly used: string
  readonly total: string
}

/** The value of an unlabelled series in Prometheus text. */
const seriesValue = (text: string, name: string): number | undefined => {
  const match = new RegExp(`^${name} ([0-9.eE+-]+)$`, "m").exec(text)
  return match === null ? undefined : Number(match[1])
}

/** Scrapes /metrics every `intervalMs`; a scrape costs the tracker a little CPU, so not too often. */
export class MetricsScraper {
  readonly readings: Array<MetricsReading> = []
  #stopped = false
  readonly #port: number
  readonly #heap: HeapSeries
  readonly pace: Pace

  constructor(port: number, intervalMs: number, heap: HeapSeries) {
    this.#port = port
    this.#heap = heap
    this.pace = new Pace(intervalMs)
    void this.#loop()
  }

  async #loop() {
    while (!this.#stopped) {
      const at = performance.now()
      await this.scrapeNow()
      await this.pace.wait(at)
    }
  }

  /** One scrape now; its reading (undefined when /metrics did not answer). */
  async scrapeNow(): Promise<MetricsReading | undefined> {
    const at = performance.now()
    const answer = await fetchOnce(this.#port, "/metrics", PROBE_TIMEOUT_MS)
    if (answer.status !== 200 || this.#stopped) return undefined
    const reading = {
      at,
      heapUsedBytes: seriesValue(answer.body, this.#heap.used),
      heapTotalBytes: seriesValue(answer.body, this.#heap.total),
      queueDepth: seriesValue(answer.body, QUEUE_DEPTH)
    }
    this.readings.push(reading)
    return reading
  }

  get latest(): MetricsReading | undefined {
    return this.readings.at(-1)
  }

  /** The largest heap in use scraped in [from, to]. */
  peakHeapUsed(from: number, to: number): number | undefined {
    const values = this.readings.filter((r) => r.at >= from && r.at <= to && r.heapUsedBytes !== undefined)
    return values.length === 0 ? undefined : Math.max(...values.map((r) => r.heapUsedBytes!))
  }

  stop(): void {
    this.#stopped = true
    this.pace.set(0)
  }
}

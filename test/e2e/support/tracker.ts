import { type ChildProcess, spawn } from "node:child_process"
import { createWriteStream, mkdirSync, type WriteStream } from "node:fs"
import { freePorts } from "../../../scripts/cluster/processes.ts"
import { dirname } from "node:path"
import { fileURLToPath } from "node:url"
import { GITHUB_TOKEN } from "./constants.ts"
import { eventually, GiveUp } from "./eventually.ts"

/**
 * The built tracker: `npm test` builds before vitest runs. DT_E2E_TRACKER_MAIN
 * points the tests at another build (e.g. of an older commit, to bisect).
 */
export const TRACKER_MAIN = process.env["DT_E2E_TRACKER_MAIN"] ?? fileURLToPath(new URL("../../../dist/main.js", import.meta.url))

/** One JSON log line of the tracker: `{time, level, msg, ...fields}`, read into this shape. */
export interface LogLine {
  readonly message: unknown
  readonly logLevel: string
  readonly timestamp: string
  readonly annotations: Readonly<Record<string, unknown>>
}

export interface TrackerOptions {
  readonly kubeconfig: string
  readonly githubUrl: string
  readonly org: string
  readonly cluster: string
  readonly logicalEnvironment: string
  readonly logFile: string
  /** Extra flags, e.g. ["-namespace", "x"]. */
  readonly args?: ReadonlyArray<string>
  /** Environment on top of the defaults below. */
  readonly env?: Readonly<Record<string, string>>
}

export interface Exit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}


/**
 * The tracker as an operator runs it: `node dist/main.js` with flags and
 * environment, logs (JSON lines on stdout, anything on stderr) kept in memory
 * and in a file. Short timings where the tracker has settings for them.
 */
export class TrackerProcess {
  readonly options: TrackerOptions
  readonly metricsPort: number
  readonly exited: Promise<Exit>
  private readonly child: ChildProcess
  private readonly file: WriteStream
  private readonly raw: Array<string> = []
  private exit: Exit | undefined
  private partial = ""

  private constructor(options: TrackerOptions, metricsPort: number) {
    this.options = options
    this.metricsPort = metricsPort
    mkdirSync(dirname(options.logFile), { recursive: true })
    this.file = createWriteStream(options.logFile, { flags: "a" })
    this.child = spawn(
      process.execPath,
      [
        TRACKER_MAIN,
        "-kubeconfig",
        options.kubeconfig,
        "-metrics-port",
        String(metricsPort),
        "-workers",
        "2",
        ...(options.args ?? [])
      ],
      {
        env: {
          PATH: process.env["PATH"] ?? "",
          // Nothing from the user's home (no ~/.kube/config fallback).
          HOME: dirname(options.logFile),
          GITHUB_ORG: options.org,
          LOGICAL_ENVIRONMENT: options.logicalEnvironment,
          CLUSTER: options.cluster,
          API_TOKEN: GITHUB_TOKEN,
          BASE_URL: options.githubUrl,
          // Per-record posts unless a test turns the start-up bulk sync on (test/e2e/bulkSync.test.ts).
          BULK_CLUSTER_SYNC: "false",
          API_RATE_LIMIT: "0",
          API_TIMEOUT_SECONDS: "5",
          SHUTDOWN_TIMEOUT_SECONDS: "5",
          LOG_LEVEL: "DEBUG",
          ...options.env
        },
        stdio: ["ignore", "pipe", "pipe"]
      }
    )
    this.file.write(`# ${new Date().toISOString()} pid ${this.child.pid} ${(options.args ?? []).join(" ")}\n`)
    this.child.stdout?.setEncoding("utf8").on("data", (chunk: string) => this.onOutput(chunk))
    this.child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      this.file.write(chunk)
      for (const line of chunk.split("\n")) if (line !== "") this.raw.push(`[stderr] ${line}`)
    })
    this.exited = new Promise((resolve) => {
      this.child.once("exit", (code, signal) => {
        this.exit = { code, signal }
        this.file.write(`# exited code=${code} signal=${signal}\n`)
        resolve(this.exit)
      })
    })
  }

  /** Starts the tracker and waits until it reports ready (its pod cache synced). */
  static async start(options: TrackerOptions): Promise<TrackerProcess> {
    const tracker = await TrackerProcess.spawn(options)
    await tracker.waitReady()
    return tracker
  }

  /** Starts the tracker without waiting for it (for runs expected to stop at start-up). */
  static async spawn(options: TrackerOptions): Promise<TrackerProcess> {
    return new TrackerProcess(options, (await freePorts(1))[0]!)
  }

  /** Everything the process printed so far (stdout and stderr), raw. */
  output(): string {
    return [...this.raw, this.partial].join("\n")
  }

  private onOutput(chunk: string): void {
    this.file.write(chunk)
    const text = this.partial + chunk
    const lines = text.split("\n")
    this.partial = lines.pop() ?? ""
    for (const line of lines) if (line !== "") this.raw.push(line)
  }

  get pid(): number | undefined {
    return this.child.pid
  }

  get running(): boolean {
    return this.exit === undefined
  }

  /** Every log line so far, parsed (stderr and unparsable lines are left out). */
  logs(): ReadonlyArray<LogLine> {
    const parsed: Array<LogLine> = []
    for (const line of this.raw) {
      if (!line.startsWith("{")) continue
      try {
        const { level, msg, time, ...fields } = JSON.parse(line) as Record<string, unknown>
        parsed.push({ message: msg, logLevel: String(level), timestamp: String(time), annotations: fields })
      } catch {
        // a line cut by a kill
      }
    }
    return parsed
  }

  /** The last `n` raw output lines, for a failure report. */
  tail(n = 60): string {
    return [...this.raw.slice(-n), ...(this.partial === "" ? [] : [this.partial])].join("\n")
  }

  /** Log lines with this message (and these annotations, when given). */
  logsWith(message: string, annotations: Readonly<Record<string, unknown>> = {}): ReadonlyArray<LogLine> {
    return this.logs().filter((line) =>
      line.message === message && Object.entries(annotations).every(([k, v]) => line.annotations[k] === v)
    )
  }

  async waitReady(deadlineMs = 60_000): Promise<void> {
    await eventually(`tracker ${this.options.org} ready on :${this.metricsPort}`, async () => {
      if (this.exit !== undefined) {
        throw new GiveUp(`tracker exited (${JSON.stringify(this.exit)}) before it was ready:\n${this.tail(20)}`)
      }
      const response = await fetch(`http://127.0.0.1:${this.metricsPort}/readyz`)
      if (response.status !== 200) throw new Error(`/readyz ${response.status}`)
    }, { deadlineMs })
  }

  /** A metric from /metrics: the sum of its samples, or of those with these labels. */
  async metric(name: string, labels: Readonly<Record<string, string>> = {}): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${this.metricsPort}/metrics`)).text()
    const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`)
    let sum = 0
    for (const line of text.split("\n")) {
      if (!line.startsWith(`${name} `) && !line.startsWith(`${name}{`)) continue
      const labelText = line.startsWith(`${name}{`) ? line.slice(name.length + 1, line.indexOf("}")) : ""
      if (wanted.every((w) => labelText.split(",").includes(w))) sum += Number(line.slice(line.lastIndexOf(" ") + 1))
    }
    return sum
  }

  /** Sends a signal and waits for the exit (SIGKILLs it if the deadline passes). */
  async stop(signal: NodeJS.Signals = "SIGTERM", deadlineMs = 15_000): Promise<Exit> {
    if (this.exit !== undefined) return this.exit
    this.child.kill(signal)
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), deadlineMs)))
    const outcome = await Promise.race([this.exited, deadline])
    clearTimeout(timer)
    if (outcome === "timeout") {
      this.child.kill("SIGKILL")
      await this.exited
      throw new Error(`tracker did not exit within ${deadlineMs} ms of ${signal}; killed`)
    }
    return outcome
  }

  /** Waits for the log file to be flushed. */
  async close(): Promise<void> {
    if (this.exit === undefined) await this.stop("SIGKILL")
    await new Promise<void>((resolve) => this.file.end(resolve))
  }
}

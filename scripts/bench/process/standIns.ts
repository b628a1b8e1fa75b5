// Starting the two stand-ins as processes of their own and talking to their
// control routes. Each holds a pipe on its stdin and exits when it closes,
// so a benchmark that dies takes its stand-ins with it.
import { type ChildProcess, spawn } from "node:child_process"
import { once } from "node:events"
import { createInterface } from "node:readline"
import type { ApiCountersSummary } from "./apiCounters.ts"
import { readProc } from "./procSampler.ts"

const script = (name: string) => new URL(`./${name}`, import.meta.url).pathname

/** Starts a stand-in and waits for the first line it prints (its ports). */
const startProcess = async (file: string, args: ReadonlyArray<string>): Promise<{ child: ChildProcess; firstLine: string }> => {
  const child = spawn(process.execPath, [script(file), ...args], { stdio: ["pipe", "pipe", "inherit"] })
  const lines = createInterface({ input: child.stdout! })
  const exited = once(child, "exit").then(([code]) => {
    throw new Error(`${file} exited with ${String(code)} before it was listening`)
  })
  const firstLine = await Promise.race([once(lines, "line").then(([line]) => line as string), exited])
  return { child, firstLine }
}

const cpuSecondsOf = (child: ChildProcess) => {
  const cpu = child.pid === undefined ? undefined : readProc(child.pid)?.cpuSeconds
  return cpu === undefined ? undefined : Math.round(cpu * 100) / 100
}

const stopProcess = async (child: ChildProcess) => {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, "exit")
  child.stdin?.end()
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000)
  await exited
  clearTimeout(timer)
}

export interface ApiServerOptions {
  readonly pods: number
  readonly replicas: number
  readonly namespaces: number
  readonly bookmarkSeconds: number
  readonly watchList: boolean
  readonly tlsDir: string
}

export interface BurstProgress {
  readonly events: number
  readonly lastVersion: number
  readonly delivered: boolean
  readonly lastVersionWritten: number
}

export class ApiServerStandIn {
  readonly url: string
  readonly #control: string
  readonly #child: ChildProcess

  private constructor(child: ChildProcess, apiPort: number, controlPort: number) {
    this.#child = child
    this.url = `https://127.0.0.1:${apiPort}`
    this.#control = `http://127.0.0.1:${controlPort}`
  }

  static async start(options: ApiServerOptions): Promise<ApiServerStandIn> {
    const { child, firstLine } = await startProcess("apiServer.ts", [
      "--pods", String(options.pods),
      "--replicas", String(options.replicas),
      "--namespaces", String(options.namespaces),
      "--bookmark-seconds", String(options.bookmarkSeconds),
      "--tls-dir", options.tlsDir,
      ...(options.watchList ? [] : ["--no-watch-list"])
    ])
    const { apiPort, controlPort } = JSON.parse(firstLine) as { apiPort: number; controlPort: number }
    return new ApiServerStandIn(child, apiPort, controlPort)
  }

  async counters(): Promise<ApiCountersSummary> {
    return (await fetch(`${this.#control}/counters`)).json() as Promise<ApiCountersSummary>
  }

  async startBurst(events: number, variant: "status" | "rollout"): Promise<BurstProgress> {
    return (await fetch(`${this.#control}/burst?events=${events}&variant=${variant}`, { method: "POST" })).json() as Promise<BurstProgress>
  }

  async burst(): Promise<BurstProgress> {
    return (await fetch(`${this.#control}/burst`)).json() as Promise<BurstProgress>
  }

  /** CPU seconds the stand-in has used so far. */
  cpuSeconds(): number | undefined {
    return cpuSecondsOf(this.#child)
  }

  stop(): Promise<void> {
    return stopProcess(this.#child)
  }
}

export interface GitHubCounters {
  readonly recordPosts: number
  readonly jobPosts: number
  readonly jobDeployments: number
  readonly jobPolls: number
  readonly other: Readonly<Record<string, number>>
}

export class GitHubStandIn {
  readonly url: string
  readonly #child: ChildProcess

  private constructor(child: ChildProcess, port: number) {
    this.#child = child
    this.url = `http://127.0.0.1:${port}`
  }

  static async start(): Promise<GitHubStandIn> {
    const { child, firstLine } = await startProcess("gitHubStandIn.ts", [])
    return new GitHubStandIn(child, Number(firstLine))
  }

  async counters(): Promise<GitHubCounters> {
    return (await fetch(`${this.url}/_counters`)).json() as Promise<GitHubCounters>
  }

  /** CPU seconds the stand-in has used so far. */
  cpuSeconds(): number | undefined {
    return cpuSecondsOf(this.#child)
  }

  stop(): Promise<void> {
    return stopProcess(this.#child)
  }
}

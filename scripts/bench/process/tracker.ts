// The tracker as a user runs it: `node dist/main.js` with the defaults
// (bulk sync on, 2 workers, the default state ConfigMap), only what the
// stand-ins need set, its output to a log file. The Go original
// (github/deployment-tracker, built separately) runs the same way for
// comparison; its settings have the same names.
import { type ChildProcess, spawn } from "node:child_process"
import { once } from "node:events"
import { closeSync, openSync, readFileSync, readSync } from "node:fs"
import { createServer } from "node:net"
import { IMAGE_ENV, manifestNodeOptions } from "../../package/imageContents.ts"

export { manifestNodeOptions }
import { mountServiceAccountLines, stageServiceAccount } from "../../package/serviceAccountMount.ts"

const REPO_ROOT = new URL("../../../", import.meta.url).pathname
export const MAIN_JS = `${REPO_ROOT}dist/main.js`

/** A port nothing listens on now (for -metrics-port). */
export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })

/** What is run: ours under Node (with or without NODE_OPTIONS), or a Go original's binary. */
export type Implementation =
  | { readonly kind: "node"; readonly label: string; readonly nodeOptions: string | undefined }
  | { readonly kind: "go"; readonly label: string; readonly binary: string }

/**
 * How the tracker finds the API server: in-cluster, as in a pod (the
 * service account's token and CA at their usual path, in a private mount
 * namespace; KUBERNETES_SERVICE_HOST/PORT), or a kubeconfig file.
 */
export type Connection =
  | { readonly kind: "in-cluster"; readonly host: string; readonly port: number; readonly caPem: string }
  | { readonly kind: "kubeconfig"; readonly path: string }

export interface TrackerOptions {
  readonly implementation: Implementation
  readonly connection: Connection
  readonly gitHubUrl: string
  readonly metricsPort: number
  readonly logFile: string
  readonly home: string
}

export interface TrackerExit {
  readonly code: number | null
  readonly signal: string | null
  /** performance.now() of the exit. */
  readonly at: number
}

export class TrackerProcess {
  readonly child: ChildProcess
  readonly pid: number
  readonly spawnedAt: number
  readonly logFile: string
  exit: TrackerExit | undefined
  readonly exited: Promise<TrackerExit>

  constructor(options: TrackerOptions) {
    // Only what a user would set, from an empty environment: nothing of this shell leaks in (BULK_CLUSTER_SYNC, NODE_OPTIONS, …).
    const env: Record<string, string> = {
      PATH: process.env["PATH"] ?? "/usr/bin:/bin",
      HOME: options.home,
      GITHUB_ORG: "bench-org",
      CLUSTER: "bench",
      LOGICAL_ENVIRONMENT: "bench",
      API_TOKEN: "bench-token",
      BASE_URL: options.gitHubUrl,
      // As the manifest's downward API sets it; the state ConfigMap lives there.
      POD_NAMESPACE: "deployment-tracker"
    }
    const implementation = options.implementation
    const connection = options.connection
    if (connection.kind === "kubeconfig") env["KUBECONFIG"] = connection.path
    else Object.assign(env, { KUBERNETES_SERVICE_HOST: connection.host, KUBERNETES_SERVICE_PORT: String(connection.port) })
    // The image's own environment (allocator settings), as the container runs with it.
    if (implementation.kind === "node") Object.assign(env, IMAGE_ENV)
    if (implementation.kind === "node" && implementation.nodeOptions !== undefined) env["NODE_OPTIONS"] = implementation.nodeOptions
    // BENCH_TRACKER_ENV ("NAME=value NAME=value", e.g. allocator settings) and
    // BENCH_TRACKER_NODE_FLAGS (e.g. --cpu-prof): for finding causes, never for the figures.
    for (const pair of (process.env["BENCH_TRACKER_ENV"] ?? "").split(" ").filter((p) => p.includes("="))) {
      env[pair.slice(0, pair.indexOf("="))] = pair.slice(pair.indexOf("=") + 1)
    }
    const profiling = (process.env["BENCH_TRACKER_NODE_FLAGS"] ?? "").split(" ").filter((flag) => flag !== "")
    const program = implementation.kind === "node"
      ? [process.execPath, ...profiling, MAIN_JS, `-metrics-port=${options.metricsPort}`]
      : [implementation.binary, `-metrics-port=${options.metricsPort}`]
    const [file, ...args] = connection.kind === "kubeconfig" ? program : inClusterCommand(connection, options.home, program)
    const log = openSync(options.logFile, "w")
    this.logFile = options.logFile
    this.spawnedAt = performance.now()
    this.child = spawn(file!, args, {
      env,
      stdio: ["ignore", log, log]
    })
    closeSync(log)
    this.pid = this.child.pid!
    this.exited = once(this.child, "exit").then(([code, signal]) => {
      this.exit = { code: code as number | null, signal: signal as string | null, at: performance.now() }
      return this.exit
    })
  }

  get running(): boolean {
    return this.exit === undefined
  }

  /** SIGTERM, then SIGKILL after `graceMs`; the exit as it happened. */
  async stop(graceMs: number): Promise<TrackerExit & { readonly killed: boolean }> {
    if (this.exit !== undefined) return { ...this.exit, killed: false }
    this.child.kill("SIGTERM")
    let killed = false
    const timer = setTimeout(() => {
      killed = true
      this.child.kill("SIGKILL")
    }, graceMs)
    const exit = await this.exited
    clearTimeout(timer)
    return { ...exit, killed }
  }

  #logRead = 0
  #logTail = ""
  readonly #logFound = new Set<string>()

  /**
   * Whether the log has shown `text` yet (the Go original says "Controller
   * started" once synced; it has no /readyz). Reads only what is new.
   */
  logHas(text: string): boolean {
    if (this.#logFound.has(text)) return true
    const fd = openSync(this.logFile, "r")
    try {
      const buffer = Buffer.alloc(1 << 20)
      let read: number
      while ((read = readSync(fd, buffer, 0, buffer.length, this.#logRead)) > 0) {
        this.#logRead += read
        const chunk = this.#logTail + buffer.toString("utf8", 0, read)
        if (chunk.includes(text)) {
          this.#logFound.add(text)
          return true
        }
        this.#logTail = chunk.slice(-text.length)
      }
      return false
    } finally {
      closeSync(fd)
    }
  }

  /** Why the process died, from its log: V8's out-of-memory abort, or the last error line. */
  deathCause(): string | undefined {
    const log = readFileSync(this.logFile, "utf8")
    if (/heap out of memory/i.test(log)) return "JavaScript heap out of memory"
    const fatal = /FATAL ERROR[^\n]*/.exec(log)
    if (fatal !== null) return fatal[0]
    const lastError = log.split("\n").reverse().find((line) => /"level":"(ERROR|FATAL)"|Error/.test(line))
    return lastError?.slice(0, 300)
  }
}

/**
 * `program` with a pod's service account files mounted at their usual path
 * in a private mount namespace (needs root or user namespaces). unshare and
 * sh exec the program, so its pid is the one spawned.
 */
const inClusterCommand = (
  connection: Extract<Connection, { kind: "in-cluster" }>,
  home: string,
  program: ReadonlyArray<string>
): ReadonlyArray<string> => {
  const dir = stageServiceAccount({ token: "bench-token", ca: connection.caPem, namespace: "deployment-tracker" })
  const script = ["set -e", "mount --make-rprivate /", ...mountServiceAccountLines(JSON.stringify(dir)), `cd ${JSON.stringify(home)}`, `exec "$@"`].join("\n")
  const namespaces = process.getuid?.() === 0 ? ["--mount"] : ["--user", "--map-root-user", "--mount"]
  return ["unshare", ...namespaces, "sh", "-c", script, "tracker", ...program]
}

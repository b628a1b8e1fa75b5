// `npm run demo`: the tracker against a real local control plane and the
// GitHub simulator, with a few sample workloads; prints each deployment
// record as GitHub (the simulator) stores it. Ctrl-C tears everything down.
//
//   node scripts/demo/demo.ts [--keep-logs]
//
// Everything lives in a fresh temp directory (control plane state, logs);
// DT_CLUSTER_DIR is ignored so a control plane someone else uses is never
// touched. Needs dist/main.js (`npm run build`; the npm script does it).
import { type ChildProcess, spawn } from "node:child_process"
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, type WriteStream } from "node:fs"
import { freePorts } from "../cluster/processes.ts"
import { tmpdir } from "node:os"
import { join, relative } from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { down, kubectl, kubectlResult, up } from "../cluster/controlPlane.ts"
import { type GitHubSimulator, startGitHubSimulator } from "../github-sim/simulator.ts"

const ROOT = fileURLToPath(new URL("../../", import.meta.url))
const TRACKER_MAIN = join(ROOT, "dist", "main.js")
const WORKLOADS = join(ROOT, "scripts", "demo", "workloads.yaml")
const TOKEN = "ghp_demo_token"
const ORG = "octo-demo"
const CLUSTER = "kwok-demo"

const { values: flags } = parseArgs({ options: { "keep-logs": { type: "boolean" }, help: { type: "boolean" } } })
if (flags.help === true) {
  process.stdout.write("usage: node scripts/demo/demo.ts [--keep-logs]\n")
  process.exit(0)
}

const useColor = process.stdout.isTTY === true && process.env["NO_COLOR"] === undefined
const paint = (code: string, text: string) => (useColor ? `\x1b[${code}m${text}\x1b[0m` : text)
const say = (message: string) => process.stdout.write(`${paint("2", "[demo]")} ${message}\n`)
const time = () => new Date().toISOString().slice(11, 19)


const shortDigest = (digest: string) => {
  const [algorithm, hex] = digest.includes(":") ? digest.split(":", 2) : ["", digest]
  return `${algorithm}:${(hex ?? "").slice(0, 12)}`
}

/** One line per stored record: time, status, deployment_name, short digest, image. */
const printRecord = (line: Record<string, unknown>) => {
  const status = String(line["status"])
  const colored = status === "deployed" ? paint("32", status.padEnd(14)) : paint("33", status.padEnd(14))
  const image = `${String(line["name"])}${line["version"] === null || line["version"] === undefined ? "" : `:${String(line["version"])}`}`
  const update = Number(line["update_count"]) > 0 ? paint("2", ` (update ${String(line["update_count"])})`) : ""
  process.stdout.write(
    `${paint("2", time())} ${colored} ${String(line["deployment_name"]).padEnd(28)} ${shortDigest(String(line["digest"]))}  ${paint("2", image)}${update}\n`
  )
}

// ------------------------------------------------------------------ state and teardown

const workDir = mkdtempSync(join(tmpdir(), "dt-demo-"))
const stateDir = join(workDir, "cluster")
let clusterStarted = false
let simulator: GitHubSimulator | undefined
let simulatorLog: WriteStream | undefined
let tracker: ChildProcess | undefined
let trackerExit: Promise<string> | undefined
let stopping: Promise<void> | undefined

const stopTracker = async () => {
  if (tracker === undefined || trackerExit === undefined) return
  if (tracker.exitCode === null && tracker.signalCode === null) {
    say("stopping the tracker (SIGTERM)")
    tracker.kill("SIGTERM")
  }
  const timer = setTimeout(() => tracker?.kill("SIGKILL"), 30_000)
  const how = await trackerExit
  clearTimeout(timer)
  say(`tracker exited (${how})`)
}

const teardown = (exitCode: number): Promise<void> => {
  stopping ??= (async () => {
    try {
      await stopTracker()
    } catch (error) {
      say(`stopping the tracker failed: ${String(error)}`)
    }
    if (simulator !== undefined) {
      say("stopping the GitHub simulator")
      await simulator.close().catch(() => undefined)
    }
    simulatorLog?.end()
    if (clusterStarted || existsSync(stateDir)) {
      say("stopping the control plane")
      await down(stateDir, { log: () => {} }).catch((error: unknown) => say(`control plane teardown failed: ${String(error)}`))
    }
    if (flags["keep-logs"] === true) say(`logs kept in ${workDir}`)
    else rmSync(workDir, { recursive: true, force: true })
    say("done")
    process.exit(exitCode)
  })()
  return stopping
}

for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(signal, () => {
    if (stopping !== undefined) return
    process.stdout.write("\n")
    say(`${signal}: tearing down`)
    void teardown(0)
  })
}

// ------------------------------------------------------------------ steps

const startTracker = async (kubeconfig: string, githubUrl: string): Promise<void> => {
  if (!existsSync(TRACKER_MAIN)) throw new Error(`${relative(process.cwd(), TRACKER_MAIN)} is missing: run npm run build first`)
  const [metricsPort] = await freePorts(1)
  const logFile = join(workDir, "tracker.log")
  const log = createWriteStream(logFile)
  // The demo cluster has no deployment-tracker namespace for the state ConfigMap: state persistence off.
  const args = [TRACKER_MAIN, "-kubeconfig", kubeconfig, "-metrics-port", String(metricsPort), "-state-configmap="]
  const child = spawn(process.execPath, args, {
    env: {
      PATH: process.env["PATH"] ?? "",
      HOME: workDir,
      GITHUB_ORG: ORG,
      LOGICAL_ENVIRONMENT: "demo",
      CLUSTER,
      API_TOKEN: TOKEN,
      BASE_URL: githubUrl,
      // The demo's workloads start after the tracker, so the start-up bulk job is small; it shows the path anyway.
      BULK_CLUSTER_SYNC: "true",
      SHUTDOWN_TIMEOUT_SECONDS: "5"
    },
    stdio: ["ignore", "pipe", "pipe"]
  })
  tracker = child
  trackerExit = new Promise((resolve) =>
    child.once("exit", (code, signal) => resolve(signal === null ? `status ${code}` : `signal ${signal}`))
  )
  let ready: () => void = () => {}
  const synced = new Promise<void>((resolve) => (ready = resolve))
  let partial = ""
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    log.write(chunk)
    const lines = (partial + chunk).split("\n")
    partial = lines.pop() ?? ""
    for (const line of lines) {
      let entry: Record<string, unknown>
      try {
        entry = JSON.parse(line) as typeof entry
      } catch {
        continue
      }
      if (entry["msg"] === "Caches synced; controller running") ready()
      // Warnings and errors are worth seeing; the rest is in the log file.
      if (entry["level"] === "WARN" || entry["level"] === "ERROR") {
        const detail = entry["deployment_name"] ?? entry["error"] ?? ""
        say(paint("31", `tracker ${String(entry["level"])}: ${String(entry["msg"])} ${String(detail)}`))
      }
    }
  })
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    log.write(chunk)
    process.stderr.write(chunk)
  })
  child.once("exit", (code, signal) => {
    log.end()
    if (stopping === undefined) {
      say(paint("31", `the tracker exited unexpectedly (status ${code}, signal ${signal}); see ${logFile}`))
      void teardown(1)
    }
  })
  say(`tracker started (pid ${child.pid}), metrics on http://127.0.0.1:${metricsPort}/metrics, log ${logFile}`)
  await synced
  say("tracker ready: pod cache synced")
}

/** Applies the sample workloads; the Namespace first, so its ServiceAccount exists before any pod. */
const applyWorkloads = async () => {
  const text = readFileSync(WORKLOADS, "utf8")
  const namespaces = text.split(/^---\s*$/m).filter((doc) => /^kind:\s*Namespace\s*$/m.test(doc))
  await kubectl(["apply", "-f", "-"], { stateDir, input: namespaces.join("\n---\n") })
  for (const doc of namespaces) {
    const name = /^\s+name:\s*(\S+)/m.exec(doc)?.[1]
    if (name === undefined) continue
    for (let i = 0; ; i++) {
      if ((await kubectlResult(["get", "serviceaccount", "default", "-n", name], { stateDir })).code === 0) break
      if (i > 100) throw new Error(`ServiceAccount ${name}/default never appeared`)
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
  }
  say(`applying ${relative(process.cwd(), WORKLOADS)}`)
  process.stdout.write(await kubectl(["apply", "-f", WORKLOADS], { stateDir }))
}

const main = async () => {
  say(`state and logs in ${workDir}`)
  say("starting the control plane (the first run builds it: many minutes)")
  clusterStarted = true
  const cluster = await up({
    stateDir,
    nodes: 2,
    log: (message) => say(paint("2", `cluster: ${message}`)),
    // If this process dies without tearing down, the control plane goes too.
    stopWhenProcessExits: process.pid
  })
  if (stopping !== undefined) return
  say(`control plane ready: ${cluster.apiserverUrl} (Kubernetes ${cluster.versions.kubernetes})`)

  simulatorLog = createWriteStream(join(workDir, "github-sim.log"))
  simulator = await startGitHubSimulator({
    tokens: [TOKEN],
    log: (line) => {
      simulatorLog?.write(`${JSON.stringify(line)}\n`)
      if (line["event"] === "record") printRecord(line)
      if (line["event"] === "violation") say(paint("31", `GitHub simulator violation: ${String(line["kind"])}: ${String(line["message"])}`))
    }
  })
  say(`GitHub simulator on ${simulator.url} (records: ${simulator.origin}/_sim/records)`)
  if (stopping !== undefined) return

  await startTracker(cluster.kubeconfigPath, simulator.url)
  if (stopping !== undefined) return
  await applyWorkloads()

  say("records appear below as they land. Try, in another terminal:")
  const k = `DT_CLUSTER_DIR=${stateDir} npm run -s cluster -- kubectl`
  process.stdout.write(
    [
      `  ${k} -n demo set image deployment/web app=ghcr.io/octo-demo/web:1.5.0   # new digest`,
      `  ${k} -n demo scale deployment/web --replicas=1                          # nothing posted`,
      `  ${k} -n demo delete statefulset db                                      # decommissioned`,
      `  curl -s ${simulator.origin}/_sim/records`,
      ""
    ].join("\n")
  )
  say("Ctrl-C to stop and tear everything down")
}

main().catch((error: unknown) => {
  say(paint("31", `failed: ${error instanceof Error ? error.message : String(error)}`))
  void teardown(1)
})

// The process benchmark: the built tracker (dist/main.js) as its own
// process with default settings, against an API server stand-in and a
// GitHub stand-in in processes of their own; see process/README.md.
//
//   npm run bench -- process [--pods 32,10000,100000] [--node-options none|manifest|both|skip]
//                            [--burst-events 50000] [--burst-variant status|rollout] [--idle-hold 60]
//                            [--watch-list on|off] [--bookmark-seconds 10] [--phase-timeout 600]
//                            [--connection in-cluster|kubeconfig]
//                            [--go-original <binary of github/deployment-tracker, built separately>]
//
// One JSON line per scenario, appended to $BENCH_RESULT when set, else on
// stdout; progress on stderr. A tracker that dies (e.g. heap out of memory
// under the manifest's heap cap) is reported as such, not as a failure of
// the benchmark.
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { runScenario } from "./process/scenario.ts"
import { makeServingPki } from "./process/tls.ts"
import { type Implementation, MAIN_JS, manifestNodeOptions } from "./process/tracker.ts"

const { values: args } = parseArgs({
  args: process.argv.slice(2),
  options: {
    pods: { type: "string", default: "32,10000,100000" },
    "node-options": { type: "string", default: "both" },
    replicas: { type: "string" },
    namespaces: { type: "string", default: "50" },
    "burst-events": { type: "string", default: "50000" },
    "burst-variant": { type: "string", default: "status" },
    "idle-hold": { type: "string", default: "60" },
    "watch-list": { type: "string", default: "on" },
    "bookmark-seconds": { type: "string", default: "10" },
    "phase-timeout": { type: "string", default: "600" },
    // As in a pod: the service account's files in a private mount namespace (root or user namespaces).
    connection: { type: "string", default: "in-cluster" },
    "go-original": { type: "string" }
  }
})

const positive = (name: string, text: string | undefined) => {
  const value = Number(text)
  if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} must be a whole number, not ${text}`)
  return value
}

const podCounts = args.pods.split(",").map((p) => positive("pods", p.trim()))
const implementations: ReadonlyArray<Implementation> = (() => {
  const none: Implementation = { kind: "node", label: "NODE_OPTIONS none", nodeOptions: undefined }
  const manifest: Implementation = { kind: "node", label: "NODE_OPTIONS manifest", nodeOptions: manifestNodeOptions() }
  const goOriginal: ReadonlyArray<Implementation> = args["go-original"] === undefined
    ? []
    : [{ kind: "go", label: "Go original", binary: args["go-original"] }]
  switch (args["node-options"]) {
    case "none":
      return [none, ...goOriginal]
    case "manifest":
      return [manifest, ...goOriginal]
    case "both":
      return [none, manifest, ...goOriginal]
    case "skip":
      return goOriginal
    default:
      throw new Error(`--node-options is none, manifest, both or skip, not ${args["node-options"]}`)
  }
})()
if (args.connection !== "in-cluster" && args.connection !== "kubeconfig") {
  throw new Error(`--connection is in-cluster or kubeconfig, not ${args.connection}`)
}
const connection = args.connection
const burstVariant = args["burst-variant"] === "rollout" ? "rollout" : "status"

try {
  statSync(MAIN_JS)
} catch {
  throw new Error(`${MAIN_JS} is missing: run npm run build first`)
}

const repoRoot = new URL("../../", import.meta.url).pathname
const logDir = join(repoRoot, "bench-data", "process")
mkdirSync(logDir, { recursive: true })
const workDir = mkdtempSync(join(tmpdir(), "dt-process-bench-"))
makeServingPki(workDir)
const stamp = new Date().toISOString().replace(/[:.]/g, "-")

try {
  for (const pods of podCounts) {
    for (const implementation of implementations) {
      const result = await runScenario({
        pods,
        // A small cluster is a few replicas of several Deployments, not 32 replicas of one.
        replicas: args.replicas !== undefined ? positive("replicas", args.replicas) : pods < 1000 ? 4 : 100,
        namespaces: positive("namespaces", args.namespaces),
        implementation,
        connection,
        watchList: args["watch-list"] !== "off",
        bookmarkSeconds: positive("bookmark-seconds", args["bookmark-seconds"]),
        burstEvents: positive("burst-events", args["burst-events"]),
        burstVariant,
        idleHoldSeconds: positive("idle-hold", args["idle-hold"]),
        phaseTimeoutSeconds: positive("phase-timeout", args["phase-timeout"]),
        tlsDir: workDir,
        workDir,
        logFile: join(logDir, `${stamp}-${pods}-pods-${implementation.label.replace(/\W+/g, "-")}.log`)
      })
      const line = `${JSON.stringify(result)}\n`
      const resultFile = process.env["BENCH_RESULT"]
      if (resultFile !== undefined) {
        appendFileSync(resultFile, line)
        // run.ts prints the file at the very end; a long run can be followed (or salvaged) here.
        process.stderr.write(`result appended to ${resultFile}\n`)
      } else process.stdout.write(line)
    }
  }
} finally {
  rmSync(workDir, { recursive: true, force: true })
}

import { spawnSync } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"

// What the program loads costs memory for as long as it runs (BENCHMARKS.md,
// "Idle memory by module"). The static module graph of src/main.ts, as Node
// resolves it before running anything, must leave out what only some runs
// need, or what a smaller module does: @kubernetes/client-node (kubeconfig
// files only; loaded on demand) and @effect/platform's HTTP server (three
// fixed routes are served with node:http).

const MAIN = new URL("../src/main.ts", import.meta.url).pathname

/** Every module URL Node resolves while loading src/main.ts (which `--help` then runs and leaves). */
const staticGraph = (): ReadonlyArray<string> => {
  const hook = join(mkdtempSync(join(tmpdir(), "dt-graph-")), "hook.mjs")
  writeFileSync(hook, [
    "import { registerHooks } from 'node:module'",
    "const seen = new Set()",
    "registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); seen.add(r.url); return r } })",
    "process.on('exit', () => process.stderr.write('\\n' + JSON.stringify([...seen]) + '\\n'))"
  ].join("\n"))
  const run = spawnSync(process.execPath, ["--import", hook, MAIN, "--help"], { encoding: "utf8" })
  expect(run.status, run.stderr).toBe(0)
  return JSON.parse(run.stderr.trim().split("\n").at(-1)!) as Array<string>
}

describe("the program's module graph", () => {
  const graph = staticGraph()

  it("does not load @kubernetes/client-node until a kubeconfig file needs it", () => {
    expect(graph.some((url) => url.endsWith("/src/kube/KubeApi.ts"))).toBe(true)
    expect(graph.filter((url) => url.includes("/node_modules/@kubernetes/client-node/"))).toEqual([])
    expect(graph.filter((url) => url.includes("/src/kube/kubeconfigCredentials.ts"))).toEqual([])
  })

  it("serves /metrics, /healthz and /readyz without @effect/platform's HTTP server", () => {
    expect(graph.some((url) => url.endsWith("/src/observability/HttpEndpoints.ts"))).toBe(true)
    expect(graph.filter((url) => /\/(NodeHttpServer|HttpRouter|HttpServer|HttpMiddleware)\.js$/.test(url))).toEqual([])
  })
})

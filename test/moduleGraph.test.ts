import { build, type Metafile } from "esbuild"
import { spawnSync } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { bundleOptions, defaultOnlyLazyChunks, startUpInputs, startUpOutputs, startUpProblem } from "../scripts/build.ts"

// What the program loads costs memory for as long as it runs (BENCHMARKS.md,
// "Idle memory"). The static module graph of src/main.ts, as Node
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

// The built program (scripts/build.ts): code imported on demand stays in
// chunks of its own (splitting). The build fails when @kubernetes/client-node
// lands in a start-up chunk, or when a chunk imported on demand is a bare
// CommonJS module (its named exports would be undefined to the importer).
describe("the bundle", () => {
  let bundling: Promise<{ readonly metafile: Metafile }> | undefined
  /** One in-memory build for the tests below. */
  const bundled = () => (bundling ??= build({ ...bundleOptions(join(tmpdir(), "dt-bundle")), write: false, logLevel: "silent" }))

  it("holds neither @kubernetes/client-node nor kubeconfigCredentials.ts in its start-up chunks, but in a chunk loaded on demand", async () => {
    const { metafile } = await bundled()
    const startUp = startUpInputs(metafile)
    expect(startUp).toContain("src/kube/KubeApi.ts")
    expect(startUp.filter((input) => input.includes("@kubernetes/client-node/") || input.endsWith("kubeconfigCredentials.ts"))).toEqual([])
    const everything = Object.values(metafile.outputs).flatMap((output) => Object.keys(output.inputs))
    expect(everything).toContain("src/kube/kubeconfigCredentials.ts")
    expect(everything.some((input) => input.includes("node_modules/@kubernetes/client-node/"))).toBe(true)
    expect(startUpProblem(metafile)).toBeUndefined()
  })

  it("does not import node:http as an ES module at start-up (its ES module form loads Node's own undici)", async () => {
    const { metafile } = await bundled()
    const httpImports = startUpOutputs(metafile).flatMap((path) =>
      metafile.outputs[path]!.imports.filter((imported) => imported.kind === "import-statement" && /^(node:)?http$/.test(imported.path)).map(() => path)
    )
    expect(httpImports).toEqual([])
  })

  it("holds undici's dispatchers at start-up but not its fetch, WebSocket or cookies (client-node keeps its own whole copy)", async () => {
    const { metafile } = await bundled()
    const startUp = startUpInputs(metafile)
    expect(startUp).toContain("src/support/undiciCore.cjs")
    expect(startUp).toContain("node_modules/undici/lib/dispatcher/env-http-proxy-agent.js")
    // (Some of lib/web/ is in: the response body's helpers.)
    expect(startUp.filter((input) => /^node_modules\/undici\/lib\/(web\/(fetch\/index|websocket|cookies|cache|eventsource)|mock)/.test(input))).toEqual([])
    const everything = Object.values(metafile.outputs).flatMap((output) => Object.keys(output.inputs))
    // client-node (its own copy of undici) imports fetch.
    expect(everything.filter((input) => input.endsWith("/undici/lib/web/fetch/index.js"))).toEqual([
      "node_modules/@kubernetes/client-node/node_modules/undici/lib/web/fetch/index.js"
    ])
  })

  it("keeps the named exports of what is imported on demand (the OTLP exporter, OpenTelemetry's SDK): ES module builds are bundled", async () => {
    const { metafile } = await bundled()
    expect(defaultOnlyLazyChunks(metafile)).toEqual([])
    const exporter = Object.values(metafile.outputs).filter((output) => output.exports.includes("OTLPTraceExporter"))
    expect(exporter.flatMap((output) => Object.keys(output.inputs)).some((input) => input.includes("@opentelemetry/exporter-trace-otlp-http/"))).toBe(true)
  })

  it("the build's check names client-node when a start-up chunk holds it", () => {
    const output = (inputs: ReadonlyArray<string>, imports: ReadonlyArray<string>, entryPoint?: string) => ({
      bytes: 0,
      exports: [],
      inputs: Object.fromEntries(inputs.map((input) => [input, { bytesInOutput: 1 }])),
      imports: imports.map((path) => ({ path, kind: "import-statement" as const })),
      ...(entryPoint === undefined ? {} : { entryPoint })
    })
    const metafile = (clientNodeChunkImported: "statically" | "on demand") => ({
      inputs: {},
      outputs: {
        "dist/main.js": {
          ...output(["src/main.ts"], clientNodeChunkImported === "statically" ? ["dist/chunk-k.js"] : [], "src/main.ts"),
          ...(clientNodeChunkImported === "on demand" ? { imports: [{ path: "dist/chunk-k.js", kind: "dynamic-import" as const }] } : {})
        },
        "dist/chunk-k.js": output(["node_modules/@kubernetes/client-node/dist/index.js"], [])
      }
    })
    expect(startUpProblem(metafile("on demand"))).toBeUndefined()
    expect(startUpProblem(metafile("statically"))).toBe(
      "@kubernetes/client-node is loaded at start-up (node_modules/@kubernetes/client-node/dist/index.js); import it only for kubeconfig files (src/kube/loadKubeConfig.ts)"
    )
  })
})

// `npm run build` (after `tsc -p tsconfig.build.json` type-checks src/):
// src/main.ts and everything it imports, bundled and minified into dist/.
//
// Why a bundle: V8 keeps the source text of every module it loads for as
// long as the process runs (functions compile lazily from it), and Effect's
// sources are mostly documentation comments. Loaded file by file from
// node_modules, the program held some 78 MiB of heap and 210 MiB of RSS at
// rest with a small cluster; bundled and minified, 40 and 140 MiB, and
// start-up takes half the CPU (BENCHMARKS.md, "Idle memory").
//
// Code loaded on demand stays out of the entry's chunks (`splitting`):
// kubeconfig files bring @kubernetes/client-node, which a pod running
// in-cluster never loads; the build fails if it ever becomes a static
// import again.
//
// Names are kept (class and function names appear in logs and errors);
// dist/*.js.map map stack traces back to src/ and node_modules/ when Node
// runs with --enable-source-maps.
import { build, type BuildOptions, type Metafile, type Plugin } from "esbuild"
import { rmSync } from "node:fs"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../", import.meta.url))
const ENTRY = "src/main.ts"

/**
 * "undici" (not its subpaths) is src/support/undiciCore.cjs, what the
 * program uses of it; except in @kubernetes/client-node (loaded for
 * kubeconfig files only), which has its own copy and imports its fetch.
 */
const undiciCore: Plugin = {
  name: "undici-core",
  setup: (build) => {
    build.onResolve({ filter: /^undici$/ }, (args) =>
      args.importer.includes("/node_modules/@kubernetes/client-node/")
        ? undefined
        : { path: `${root}src/support/undiciCore.cjs` })
  }
}

/** The bundle of src/main.ts into `outdir` (test/moduleGraph.test.ts builds it in memory). */
export const bundleOptions = (outdir: string) => ({
  absWorkingDir: root,
  entryPoints: [ENTRY],
  outdir,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node24",
  // A package's ES module build before its CommonJS one (esbuild's default
  // for Node is the reverse): a CommonJS module imported on demand becomes a
  // chunk that exports only `default`, and the program's named imports from
  // it (e.g. OTLPTraceExporter) would be undefined.
  mainFields: ["module", "main"],
  plugins: [undiciCore],
  minify: true,
  keepNames: true,
  sourcemap: "linked",
  sourcesContent: false,
  metafile: true,
  logLevel: "warning",
  // CommonJS dependencies (prom-client) call require() for Node's own modules.
  banner: { js: "import { createRequire as __createRequire } from \"node:module\"; const require = __createRequire(import.meta.url);" }
} satisfies BuildOptions)

/** The chunks the entry loads before it runs (static imports, followed), the entry's first. */
export const startUpOutputs = (metafile: Metafile): ReadonlyArray<string> => {
  const outputs = metafile.outputs
  const entry = Object.keys(outputs).find((path) => outputs[path]!.entryPoint === ENTRY)!
  const loaded = new Set<string>()
  const visit = (path: string) => {
    if (loaded.has(path)) return
    loaded.add(path)
    for (const imported of outputs[path]!.imports) if (imported.kind === "import-statement" && !imported.external) visit(imported.path)
  }
  visit(entry)
  return [...loaded]
}

/** The source files in the start-up chunks (startUpOutputs). */
export const startUpInputs = (metafile: Metafile): ReadonlyArray<string> =>
  startUpOutputs(metafile).flatMap((path) => Object.keys(metafile.outputs[path]!.inputs))

/** What must stay out of the start-up chunks; the problem if something is in them. */
export const startUpProblem = (metafile: Metafile): string | undefined => {
  const found = startUpInputs(metafile).find((input) => input.includes("node_modules/@kubernetes/client-node/"))
  return found === undefined
    ? undefined
    : `@kubernetes/client-node is loaded at start-up (${found}); import it only for kubeconfig files (src/kube/loadKubeConfig.ts)`
}

/**
 * Chunks imported on demand that export only `default`: a CommonJS module
 * bundled on its own, whose named exports the importer would not find.
 */
export const defaultOnlyLazyChunks = (metafile: Metafile): ReadonlyArray<string> => {
  const outputs = metafile.outputs
  const lazy = new Set(Object.values(outputs).flatMap((output) =>
    output.imports.filter((imported) => imported.kind === "dynamic-import" && !imported.external).map((imported) => imported.path)
  ))
  return [...lazy].filter((path) => outputs[path]?.exports.join() === "default")
}

if (import.meta.main) {
  const outdir = `${root}dist`
  rmSync(outdir, { recursive: true, force: true })
  const result = await build(bundleOptions(outdir))
  const defaultOnly = defaultOnlyLazyChunks(result.metafile)
  const problem = startUpProblem(result.metafile) ??
    (defaultOnly.length === 0 ? undefined : `${defaultOnly.join(", ")} (imported on demand) export only a CommonJS default`)
  if (problem !== undefined) {
    process.stderr.write(`build: ${problem}\n`)
    process.exit(1)
  }
}

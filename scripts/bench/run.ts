// Runs every benchmark in its own process (logs discarded, results read
// from a file) and prints the figures as JSON lines. `npm run bench` runs
// the in-process ones; `npm run bench -- <prefix> [args]` runs those whose
// script starts with the prefix, passing the args on. The process benchmark
// takes many minutes, so it runs only when named: `npm run bench -- process`.
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const BENCHES: ReadonlyArray<{
  readonly script: string
  readonly nodeFlags: ReadonlyArray<string>
  readonly env?: Readonly<Record<string, string>>
  /** Left out of `npm run bench` without a name. */
  readonly onlyWhenNamed?: boolean
}> = [
  // One core: the watch path is single-threaded JavaScript.
  { script: "watchDecode.ts", nodeFlags: [] },
  { script: "endToEnd.ts", nodeFlags: [] },
  // The heap limit the manifest sets (NODE_OPTIONS), so RSS is what a pod would use.
  { script: "memory.ts", nodeFlags: ["--expose-gc", "--max-old-space-size=192"] },
  { script: "memory.ts", nodeFlags: ["--expose-gc", "--max-old-space-size=192"], env: { BENCH_MEMORY_LIST: "streaming" } },
  // The built dist/main.js as its own process against stand-ins (scripts/bench/process/README.md).
  { script: "processBench.ts", nodeFlags: [], onlyWhenNamed: true }
]

const [only, ...benchArgs] = process.argv.slice(2)
const dir = mkdtempSync(join(tmpdir(), "dt-bench-"))
let failed = false
for (const [index, { env, nodeFlags, onlyWhenNamed, script }] of BENCHES.entries()) {
  if (only === undefined ? onlyWhenNamed === true : !script.startsWith(only)) continue
  const resultFile = join(dir, `${index}-${script}.json`)
  const path = new URL(`./${script}`, import.meta.url).pathname
  const run = spawnSync(process.execPath, [...nodeFlags, path, ...benchArgs], {
    env: { ...process.env, ...env, BENCH_RESULT: resultFile },
    stdio: ["ignore", "ignore", "inherit"]
  })
  if (run.status !== 0) {
    process.stderr.write(`${script} failed with status ${run.status}\n`)
    failed = true
    continue
  }
  process.stdout.write(readFileSync(resultFile, "utf8"))
}
process.exit(failed ? 1 : 0)

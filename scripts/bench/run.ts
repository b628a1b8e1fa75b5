// Runs every benchmark in its own process (logs discarded, results read
// from a file) and prints the figures as JSON lines. `npm run bench`.
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const BENCHES: ReadonlyArray<{
  readonly script: string
  readonly nodeFlags: ReadonlyArray<string>
  readonly env?: Readonly<Record<string, string>>
}> = [
  // One core: the watch path is single-threaded JavaScript.
  { script: "watchDecode.ts", nodeFlags: [] },
  { script: "endToEnd.ts", nodeFlags: [] },
  // The heap limit the manifest sets (NODE_OPTIONS), so RSS is what a pod would use.
  { script: "memory.ts", nodeFlags: ["--expose-gc", "--max-old-space-size=192"] },
  { script: "memory.ts", nodeFlags: ["--expose-gc", "--max-old-space-size=192"], env: { BENCH_MEMORY_LIST: "streaming" } }
]

const only = process.argv[2]
const dir = mkdtempSync(join(tmpdir(), "dt-bench-"))
let failed = false
for (const [index, { env, nodeFlags, script }] of BENCHES.entries()) {
  if (only !== undefined && !script.startsWith(only)) continue
  const resultFile = join(dir, `${index}-${script}.json`)
  const path = new URL(`./${script}`, import.meta.url).pathname
  const run = spawnSync(process.execPath, [...nodeFlags, path], {
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

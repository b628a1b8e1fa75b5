// promtool, built from the Go module proxy and cached (see build.ts).
//
//   node scripts/promtool/promtool.ts build      build/cache promtool only; prints the binary's path
//   node scripts/promtool/promtool.ts ARGS...    run the cached promtool (built first if needed)
//
// Env: DT_CLUSTER_CACHE (cache root, shared with the control plane and helm), DT_GO (go binary).
// Progress goes to stderr.
import { spawn } from "node:child_process";
import { elapsed, type Logger } from "../cluster/log.ts";
import { ensurePromtool } from "./build.ts";

const started = Date.now();
const stderrLogger: Logger = (message) => process.stderr.write(`[promtool +${elapsed(started)}] ${message}\n`);

async function main(argv: string[]): Promise<number> {
  const promtool = await ensurePromtool({ log: argv[0] === "build" ? stderrLogger : () => {} });
  if (argv[0] === "build") {
    process.stdout.write(`${promtool.binary}\n`);
    return 0;
  }
  return await new Promise<number>((resolvePromise, reject) => {
    const child = spawn(promtool.binary, argv, { stdio: "inherit" });
    child.on("error", reject);
    child.on("exit", (code, signal) => resolvePromise(code ?? (signal ? 128 : 1)));
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);

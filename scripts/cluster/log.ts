// Progress output with timings. Progress goes to stderr so that stdout stays
// machine-readable (`up` prints only the kubeconfig path there).

export type Logger = (message: string) => void;

const started = Date.now();

export function elapsed(since: number): string {
  const ms = Date.now() - since;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  return `${m}m${String(s).padStart(2, "0")}s`;
}

export const stderrLogger: Logger = (message) => {
  process.stderr.write(`[cluster +${elapsed(started)}] ${message}\n`);
};

export const silentLogger: Logger = () => {};

/** Runs `fn`, logging its start and its duration. */
export async function timed<T>(log: Logger, what: string, fn: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  log(`${what}...`);
  const result = await fn();
  log(`${what}: done in ${elapsed(t0)}`);
  return result;
}

// Builds (once) and caches promtool with `go build`, from the builder module
// in scripts/promtool/go (committed go.mod/go.sum pinning
// github.com/prometheus/prometheus), exactly as scripts/helm/build.ts builds
// helm, next to it:
//
//   <cacheRoot>/promtool-<v>_<go>/bin/promtool
//   <cacheRoot>/promtool-<v>_<go>/stamps/promtool   (hash of the build inputs)
//   <cacheRoot>/promtool-<v>_<go>/logs/build-promtool.log
//
// <cacheRoot> is the control plane's (DT_CLUSTER_CACHE). promtool is rebuilt
// only when the binary is missing or its stamp differs; a separate cache
// entry, so building it never touches helm or the control-plane binaries.
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { goBin, goEnv } from "../cluster/build.ts";
import { acquireLock } from "../cluster/lock.ts";
import { elapsed, type Logger } from "../cluster/log.ts";
import { cacheRoot } from "../cluster/paths.ts";
import { tailFile } from "../cluster/processes.ts";

/** Bump when the build recipe (flags, package) changes, to invalidate caches. */
const RECIPE = "1";

const PROMETHEUS_MODULE = "github.com/prometheus/prometheus";
const PROMTOOL_PACKAGE = `${PROMETHEUS_MODULE}/cmd/promtool`;

/** scripts/promtool/go: the builder module. */
export const promtoolModuleDir: string = join(import.meta.dirname, "go");

export type Promtool = {
  /** Path of the promtool binary. */
  binary: string;
  /** The Prometheus release, e.g. v3.16.0. */
  version: string;
  go: string;
};

/**
 * The Prometheus release the builder module pins. Prometheus publishes its
 * Go module as v0.<major><minor 2 digits>.<patch>: v0.316.0 is v3.16.0.
 */
export function pinnedPromtoolVersion(): string {
  const goMod = readFileSync(join(promtoolModuleDir, "go.mod"), "utf8");
  const m = /^\s*github\.com\/prometheus\/prometheus\s+v0\.(\d+)\.(\d+)\s/m.exec(goMod);
  if (!m?.[1] || !m[2]) throw new Error(`scripts/promtool/go/go.mod does not require ${PROMETHEUS_MODULE} v0.X.Y`);
  const minorMajor = Number(m[1]);
  return `v${Math.floor(minorMajor / 100)}.${minorMajor % 100}.${m[2]}`;
}

function localGoVersion(): string | undefined {
  const r = spawnSync(goBin(), ["env", "GOVERSION"], { env: goEnv(), encoding: "utf8" });
  const v = r.status === 0 ? r.stdout.trim() : "";
  return v || undefined;
}

function stamp(version: string, go: string): string {
  const h = createHash("sha256");
  h.update(`recipe=${RECIPE}\npromtool=${version}\ngo=${go}\npackage=${PROMTOOL_PACKAGE}\n`);
  for (const f of ["go.mod", "go.sum"]) {
    h.update(`--- ${f}\n`);
    h.update(readFileSync(join(promtoolModuleDir, f)));
  }
  return h.digest("hex").slice(0, 16);
}

function isFresh(cacheDir: string, version: string, go: string): boolean {
  const stampFile = join(cacheDir, "stamps", "promtool");
  return (
    existsSync(join(cacheDir, "bin", "promtool")) &&
    existsSync(stampFile) &&
    readFileSync(stampFile, "utf8").trim() === stamp(version, go)
  );
}

/** Without a usable `go`: a complete cache of the pinned promtool built by any Go. */
function findCacheWithoutGo(version: string): Promtool | undefined {
  const root = cacheRoot();
  if (!existsSync(root)) return undefined;
  const prefix = `promtool-${version}_`;
  for (const name of readdirSync(root).sort().reverse()) {
    if (!name.startsWith(prefix)) continue;
    const go = name.slice(prefix.length);
    const dir = join(root, name);
    if (isFresh(dir, version, go)) return { binary: join(dir, "bin", "promtool"), version, go };
  }
  return undefined;
}

export type EnsurePromtoolOptions = {
  log: Logger;
  /** Build when missing or stale (default true). With false, throws if the cache is cold. */
  build?: boolean;
};

/** Returns the cached promtool, building it first if needed. */
export async function ensurePromtool(options: EnsurePromtoolOptions): Promise<Promtool> {
  const { log } = options;
  const version = pinnedPromtoolVersion();
  const go = localGoVersion();
  if (!go) {
    const cached = findCacheWithoutGo(version);
    if (cached) return cached;
    throw new Error(`'${goBin()} env GOVERSION' failed: Go is needed to build promtool (set DT_GO to use another go binary)`);
  }
  const cacheDir = join(cacheRoot(), `promtool-${version}_${go}`);
  const promtool: Promtool = { binary: join(cacheDir, "bin", "promtool"), version, go };
  if (isFresh(cacheDir, version, go)) {
    log(`promtool cached at ${promtool.binary}`);
    return promtool;
  }
  if (options.build === false) throw new Error(`promtool is not built in ${cacheDir}; run 'node scripts/promtool/promtool.ts build'`);
  mkdirSync(join(cacheDir, "bin"), { recursive: true });
  const release = await acquireLock(join(cacheDir, ".build.lock"), log);
  try {
    if (!isFresh(cacheDir, version, go)) await build(cacheDir, version, go, log);
  } finally {
    release();
  }
  return promtool;
}

async function build(cacheDir: string, version: string, go: string, log: Logger): Promise<void> {
  const logsDir = join(cacheDir, "logs");
  mkdirSync(logsDir, { recursive: true });
  const logFile = join(logsDir, "build-promtool.log");
  const outDir = join(cacheDir, `tmp-promtool-${process.pid}`);
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  // promu's stamping (the release builds'): without it `promtool --version` has no version.
  const ldflags = [
    "-s",
    "-w",
    `-X github.com/prometheus/common/version.Version=${version.slice(1)}`,
    `-X github.com/prometheus/common/version.Branch=HEAD`,
  ].join(" ");
  const args = ["build", "-trimpath", "-ldflags", ldflags, "-o", join(outDir, "promtool"), PROMTOOL_PACKAGE];
  const t0 = Date.now();
  log(`go build promtool ${version} with ${go} (many minutes cold on 2 cores: the prometheus module is big); log: ${logFile}`);
  const fd = openSync(logFile, "w");
  writeFileSync(fd, `# cd ${promtoolModuleDir} && GOTOOLCHAIN=local CGO_ENABLED=0 ${goBin()} ${args.map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(" ")}\n`);
  const ticker = setInterval(() => log(`  still building promtool (${elapsed(t0)})`), 60_000);
  try {
    const code = await new Promise<number>((resolvePromise, reject) => {
      const child = spawn(goBin(), args, { cwd: promtoolModuleDir, env: goEnv(), stdio: ["ignore", fd, fd] });
      child.on("error", reject);
      child.on("exit", (status, signal) => resolvePromise(status ?? (signal ? 128 : 1)));
    });
    if (code !== 0) throw new Error(`go build of promtool failed (exit ${code}); last lines of ${logFile}:\n${tailFile(logFile, 40)}`);
  } finally {
    clearInterval(ticker);
    closeSync(fd);
  }
  renameSync(join(outDir, "promtool"), join(cacheDir, "bin", "promtool"));
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(join(cacheDir, "stamps"), { recursive: true });
  writeFileSync(join(cacheDir, "stamps", "promtool"), `${stamp(version, go)}\n`);
  log(`built promtool in ${elapsed(t0)}`);
}

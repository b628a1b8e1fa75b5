// Builds (once) and caches helm with `go build`, from the builder module in
// scripts/helm/go (committed go.mod/go.sum: the same checksummed modules on
// every machine), next to the control-plane binaries and in the same way:
//
//   <cacheRoot>/helm-<v>_<go>/bin/helm
//   <cacheRoot>/helm-<v>_<go>/stamps/helm   (hash of the build inputs)
//   <cacheRoot>/helm-<v>_<go>/logs/build-helm.log
//
// <cacheRoot> is the control plane's (DT_CLUSTER_CACHE). helm is rebuilt only
// when the binary is missing or its stamp differs. It is a separate cache
// entry so that building helm never touches the control-plane binaries.
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

const HELM_MODULE = "helm.sh/helm/v4";
const HELM_PACKAGE = `${HELM_MODULE}/cmd/helm`;

/** scripts/helm/go: the builder module. */
export const helmModuleDir: string = join(import.meta.dirname, "go");

export type Helm = {
  /** Path of the helm binary. */
  binary: string;
  version: string;
  go: string;
};

/** The helm version the builder module pins. */
export function pinnedHelmVersion(): string {
  const goMod = readFileSync(join(helmModuleDir, "go.mod"), "utf8");
  const m = /^\s*helm\.sh\/helm\/v4\s+(v\S+)/m.exec(goMod);
  if (!m?.[1]) throw new Error(`scripts/helm/go/go.mod does not require ${HELM_MODULE}`);
  return m[1];
}

function localGoVersion(): string | undefined {
  const r = spawnSync(goBin(), ["env", "GOVERSION"], { env: goEnv(), encoding: "utf8" });
  const v = r.status === 0 ? r.stdout.trim() : "";
  return v || undefined;
}

function stamp(version: string, go: string): string {
  const h = createHash("sha256");
  h.update(`recipe=${RECIPE}\nhelm=${version}\ngo=${go}\npackage=${HELM_PACKAGE}\n`);
  for (const f of ["go.mod", "go.sum"]) {
    h.update(`--- ${f}\n`);
    h.update(readFileSync(join(helmModuleDir, f)));
  }
  return h.digest("hex").slice(0, 16);
}

function isFresh(cacheDir: string, version: string, go: string): boolean {
  const stampFile = join(cacheDir, "stamps", "helm");
  return (
    existsSync(join(cacheDir, "bin", "helm")) &&
    existsSync(stampFile) &&
    readFileSync(stampFile, "utf8").trim() === stamp(version, go)
  );
}

/** Without a usable `go`: a complete cache of the pinned helm built by any Go. */
function findCacheWithoutGo(version: string): Helm | undefined {
  const root = cacheRoot();
  if (!existsSync(root)) return undefined;
  const prefix = `helm-${version}_`;
  for (const name of readdirSync(root).sort().reverse()) {
    if (!name.startsWith(prefix)) continue;
    const go = name.slice(prefix.length);
    const dir = join(root, name);
    if (isFresh(dir, version, go)) return { binary: join(dir, "bin", "helm"), version, go };
  }
  return undefined;
}

export type EnsureHelmOptions = {
  log: Logger;
  /** Build when missing or stale (default true). With false, throws if the cache is cold. */
  build?: boolean;
};

/** Returns the cached helm, building it first if needed. */
export async function ensureHelm(options: EnsureHelmOptions): Promise<Helm> {
  const { log } = options;
  const version = pinnedHelmVersion();
  const go = localGoVersion();
  if (!go) {
    const cached = findCacheWithoutGo(version);
    if (cached) return cached;
    throw new Error(`'${goBin()} env GOVERSION' failed: Go is needed to build helm (set DT_GO to use another go binary)`);
  }
  const cacheDir = join(cacheRoot(), `helm-${version}_${go}`);
  const helm: Helm = { binary: join(cacheDir, "bin", "helm"), version, go };
  if (isFresh(cacheDir, version, go)) {
    log(`helm cached at ${helm.binary}`);
    return helm;
  }
  if (options.build === false) throw new Error(`helm is not built in ${cacheDir}; run 'node scripts/helm/helm.ts build'`);
  mkdirSync(join(cacheDir, "bin"), { recursive: true });
  const release = await acquireLock(join(cacheDir, ".build.lock"), log);
  try {
    if (!isFresh(cacheDir, version, go)) await build(cacheDir, version, go, log);
  } finally {
    release();
  }
  return helm;
}

async function build(cacheDir: string, version: string, go: string, log: Logger): Promise<void> {
  const logsDir = join(cacheDir, "logs");
  mkdirSync(logsDir, { recursive: true });
  const logFile = join(logsDir, "build-helm.log");
  const outDir = join(cacheDir, `tmp-helm-${process.pid}`);
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  // The release Makefile's stamping: without it `helm version` says "v4.3".
  const ldflags = [
    "-s",
    "-w",
    `-X ${HELM_MODULE}/internal/version.version=${version}`,
    `-X ${HELM_MODULE}/internal/version.gitTreeState=clean`,
  ].join(" ");
  const args = ["build", "-trimpath", "-ldflags", ldflags, "-o", join(outDir, "helm"), HELM_PACKAGE];
  const t0 = Date.now();
  log(`go build helm ${version} with ${go} (about 1-4 min cold on 2 cores); log: ${logFile}`);
  const fd = openSync(logFile, "w");
  writeFileSync(fd, `# cd ${helmModuleDir} && GOTOOLCHAIN=local CGO_ENABLED=0 ${goBin()} ${args.map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(" ")}\n`);
  const ticker = setInterval(() => log(`  still building helm (${elapsed(t0)})`), 60_000);
  try {
    const code = await new Promise<number>((resolvePromise, reject) => {
      const child = spawn(goBin(), args, { cwd: helmModuleDir, env: goEnv(), stdio: ["ignore", fd, fd] });
      child.on("error", reject);
      child.on("exit", (status, signal) => resolvePromise(status ?? (signal ? 128 : 1)));
    });
    if (code !== 0) throw new Error(`go build of helm failed (exit ${code}); last lines of ${logFile}:\n${tailFile(logFile, 40)}`);
  } finally {
    clearInterval(ticker);
    closeSync(fd);
  }
  renameSync(join(outDir, "helm"), join(cacheDir, "bin", "helm"));
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(join(cacheDir, "stamps"), { recursive: true });
  writeFileSync(join(cacheDir, "stamps", "helm"), `${stamp(version, go)}\n`);
  log(`built helm in ${elapsed(t0)}`);
}

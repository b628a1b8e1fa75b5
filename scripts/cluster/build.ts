// Builds (once) and caches the control-plane binaries with `go build`, from the
// builder modules under scripts/cluster/go/<name>/ (committed go.mod/go.sum).
//
// Cache layout, outside the repository:
//   <cacheRoot>/k8s-<v>_etcd-<v>_kwok-<v>_<go>/bin/<binary>
//   <cacheRoot>/k8s-<v>_etcd-<v>_kwok-<v>_<go>/stamps/<component>   (hash of the build inputs)
//   <cacheRoot>/k8s-<v>_etcd-<v>_kwok-<v>_<go>/logs/build-<component>.log
// A component is rebuilt only when a binary is missing or its stamp differs.
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { elapsed, type Logger } from "./log.ts";
import { builderModulesDir, cacheRoot } from "./paths.ts";
import { acquireLock } from "./lock.ts";
import { tailFile } from "./processes.ts";

/** Bump when the build recipe (flags, packages) changes, to invalidate caches. */
const RECIPE = "2";

export type Versions = {
  kubernetes: string;
  etcd: string;
  kwok: string;
  go: string;
};

export type Binaries = {
  binDir: string;
  cacheDir: string;
  versions: Versions;
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kubeScheduler: string;
  kubectl: string;
  kwok: string;
  pki: string;
};

type ComponentName = "pki" | "etcd" | "kwok" | "k8s";

type Component = {
  name: ComponentName;
  /** Binary names produced into bin/. */
  outputs: string[];
  /** Packages to build (one per output, same order). */
  packages: string[];
  /** Files whose content is part of the cache stamp (relative to the module dir). */
  inputs: string[];
  /** Rough cold-build expectation printed while building. */
  expectation: string;
  ldflags: (v: Versions, moduleDir: string) => string;
};

const K8S_COMMANDS = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"];

const COMPONENTS: Component[] = [
  {
    name: "pki",
    outputs: ["dt-pki"],
    packages: ["."],
    inputs: ["go.mod", "main.go"],
    expectation: "a few seconds; ~20s with an empty GOCACHE",
    ldflags: () => "-s -w",
  },
  {
    name: "etcd",
    outputs: ["etcd"],
    packages: ["go.etcd.io/etcd/server/v3"],
    inputs: ["go.mod", "go.sum"],
    expectation: "about 1-2 min cold",
    ldflags: (v) => `-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=${v.etcd}`,
  },
  {
    name: "kwok",
    outputs: ["kwok"],
    packages: ["sigs.k8s.io/kwok/cmd/kwok"],
    inputs: ["go.mod", "go.sum"],
    expectation: "about 1-3 min cold",
    ldflags: (v) => `-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${v.kwok.replace(/^v/, "")}`,
  },
  {
    name: "k8s",
    outputs: K8S_COMMANDS,
    packages: K8S_COMMANDS.map((c) => `k8s.io/kubernetes/cmd/${c}`),
    inputs: ["go.mod", "go.sum"],
    expectation: "about 5-13 min cold on 2 cores",
    ldflags: (v, moduleDir) => {
      const m = /^v(\d+)\.(\d+)\./.exec(v.kubernetes);
      const major = m?.[1] ?? "1";
      const minor = m?.[2] ?? "0";
      const buildDate = moduleTime(moduleDir, "k8s.io/kubernetes") ?? "1970-01-01T00:00:00Z";
      const parts = ["-s", "-w"];
      for (const pkg of ["k8s.io/component-base/version", "k8s.io/client-go/pkg/version"]) {
        parts.push(
          `-X ${pkg}.gitVersion=${v.kubernetes}`,
          `-X ${pkg}.gitMajor=${major}`,
          `-X ${pkg}.gitMinor=${minor}`,
          // The module zip carries no commit id; leave it empty rather than "$Format:%H$".
          `-X ${pkg}.gitCommit=`,
          `-X ${pkg}.gitTreeState=clean`,
          `-X ${pkg}.buildDate=${buildDate}`,
        );
      }
      return parts.join(" ");
    },
  },
];

let resolvedGo: string | undefined;

/** `go` from DT_GO, else PATH, else the machine image's /usr/local/go/bin/go. */
export function goBin(): string {
  if (resolvedGo) return resolvedGo;
  const fromEnv = process.env["DT_GO"];
  if (fromEnv) return (resolvedGo = fromEnv);
  const onPath = spawnSync("go", ["version"], { stdio: "ignore" }).status === 0;
  resolvedGo = !onPath && existsSync("/usr/local/go/bin/go") ? "/usr/local/go/bin/go" : "go";
  return resolvedGo;
}

/** The build environment: the local Go only, no cgo, the committed go.mod/go.sum as they are. */
export function goEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    GOTOOLCHAIN: "local",
    GOWORK: "off",
    CGO_ENABLED: "0",
    GOFLAGS: "-mod=readonly -buildvcs=false",
  };
}

/** The version a builder module's go.mod requires for `module`. */
function requiredVersion(moduleName: string, module: string): string {
  const goMod = readFileSync(join(builderModulesDir, moduleName, "go.mod"), "utf8");
  const escaped = module.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  const m = new RegExp(`^\\s*(?:require\\s+)?${escaped}\\s+(v\\S+)`, "m").exec(goMod);
  if (!m?.[1]) throw new Error(`scripts/cluster/go/${moduleName}/go.mod does not require ${module}`);
  return m[1];
}

/** Versions pinned by the committed builder modules. */
export function pinnedVersions(): Omit<Versions, "go"> {
  return {
    kubernetes: requiredVersion("k8s", "k8s.io/kubernetes"),
    etcd: requiredVersion("etcd", "go.etcd.io/etcd/server/v3"),
    kwok: requiredVersion("kwok", "sigs.k8s.io/kwok"),
  };
}

function localGoVersion(): string | undefined {
  const r = spawnSync(goBin(), ["env", "GOVERSION"], { env: goEnv(), encoding: "utf8" });
  if (r.status !== 0) return undefined;
  const v = r.stdout.trim();
  return v || undefined;
}

function moduleTime(moduleDir: string, module: string): string | undefined {
  const r = spawnSync(goBin(), ["list", "-m", "-f", "{{.Time}}", module], {
    cwd: moduleDir,
    env: goEnv(),
    encoding: "utf8",
  });
  if (r.status !== 0) return undefined;
  const t = new Date(r.stdout.trim());
  return Number.isNaN(t.getTime()) ? undefined : t.toISOString().replace(/\.\d{3}Z$/, "Z");
}

function cacheKey(v: Versions): string {
  return `k8s-${v.kubernetes}_etcd-${v.etcd}_kwok-${v.kwok}_${v.go}`;
}

function stampOf(c: Component, v: Versions): string {
  const h = createHash("sha256");
  h.update(`recipe=${RECIPE}\ncomponent=${c.name}\ngo=${v.go}\npackages=${c.packages.join(",")}\n`);
  for (const f of c.inputs) {
    const p = join(builderModulesDir, c.name, f);
    h.update(`--- ${f}\n`);
    h.update(existsSync(p) ? readFileSync(p) : "<missing>");
  }
  return h.digest("hex").slice(0, 16);
}

function isFresh(c: Component, v: Versions, cacheDir: string): boolean {
  const stampFile = join(cacheDir, "stamps", c.name);
  if (!existsSync(stampFile)) return false;
  if (readFileSync(stampFile, "utf8").trim() !== stampOf(c, v)) return false;
  return c.outputs.every((o) => existsSync(join(cacheDir, "bin", o)));
}

function binariesIn(cacheDir: string, versions: Versions): Binaries {
  const bin = join(cacheDir, "bin");
  return {
    binDir: bin,
    cacheDir,
    versions,
    etcd: join(bin, "etcd"),
    kubeApiserver: join(bin, "kube-apiserver"),
    kubeControllerManager: join(bin, "kube-controller-manager"),
    kubeScheduler: join(bin, "kube-scheduler"),
    kubectl: join(bin, "kubectl"),
    kwok: join(bin, "kwok"),
    pki: join(bin, "dt-pki"),
  };
}

/**
 * Without a usable `go`, fall back to a complete cache for the pinned
 * versions built by any Go version.
 */
function findCacheWithoutGo(pinned: Omit<Versions, "go">): Binaries | undefined {
  const root = cacheRoot();
  if (!existsSync(root)) return undefined;
  const prefix = `k8s-${pinned.kubernetes}_etcd-${pinned.etcd}_kwok-${pinned.kwok}_`;
  for (const name of readdirSync(root).sort().reverse()) {
    if (!name.startsWith(prefix)) continue;
    const versions: Versions = { ...pinned, go: name.slice(prefix.length) };
    const dir = join(root, name);
    if (COMPONENTS.every((c) => isFresh(c, versions, dir))) return binariesIn(dir, versions);
  }
  return undefined;
}

export type EnsureOptions = {
  log: Logger;
  /** Build missing components (default true). With false, throws if the cache is cold. */
  build?: boolean;
};

/** Returns the cached binaries, building whatever is missing or stale. */
export async function ensureBinaries(options: EnsureOptions): Promise<Binaries> {
  const { log } = options;
  const pinned = pinnedVersions();
  const go = localGoVersion();
  if (!go) {
    const cached = findCacheWithoutGo(pinned);
    if (cached) return cached;
    throw new Error(`'${goBin()} env GOVERSION' failed: Go is needed to build the control plane (set DT_GO to use another go binary)`);
  }
  const versions: Versions = { ...pinned, go };
  const cacheDir = join(cacheRoot(), cacheKey(versions));
  const stale = () => COMPONENTS.filter((c) => !isFresh(c, versions, cacheDir));
  if (stale().length === 0) {
    log(`binaries cached in ${join(cacheDir, "bin")}`);
    return binariesIn(cacheDir, versions);
  }
  if (options.build === false) {
    throw new Error(`binary cache ${cacheDir} is incomplete (missing: ${stale().map((c) => c.name).join(", ")}); run 'npm run cluster -- build'`);
  }
  mkdirSync(join(cacheDir, "bin"), { recursive: true });
  const release = await acquireLock(join(cacheDir, ".build.lock"), log);
  try {
    const todo = stale();
    if (todo.length > 0) {
      log(
        `building ${todo.map((c) => c.name).join(", ")} for k8s ${versions.kubernetes}, etcd ${versions.etcd}, ` +
          `kwok ${versions.kwok} with ${versions.go} into ${cacheDir}`,
      );
    }
    const t0 = Date.now();
    for (const c of todo) await buildComponent(c, versions, cacheDir, log);
    if (todo.length > 0) log(`build finished in ${elapsed(t0)}`);
  } finally {
    release();
  }
  return binariesIn(cacheDir, versions);
}

async function buildComponent(c: Component, v: Versions, cacheDir: string, log: Logger): Promise<void> {
  const moduleDir = join(builderModulesDir, c.name);
  const logsDir = join(cacheDir, "logs");
  mkdirSync(logsDir, { recursive: true });
  const logFile = join(logsDir, `build-${c.name}.log`);
  const outDir = join(cacheDir, `tmp-${c.name}-${process.pid}`);
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const ldflags = c.ldflags(v, moduleDir);
  const output = c.outputs.length === 1 ? join(outDir, c.outputs[0] ?? c.name) : `${outDir}/`;
  const args = ["build", "-trimpath", "-ldflags", ldflags, "-o", output, ...c.packages];
  const t0 = Date.now();
  log(`go build ${c.name} (${c.outputs.join(", ")}; expect ${c.expectation}); log: ${logFile}`);
  const fd = openSync(logFile, "w");
  writeFileSync(fd, `# cd ${moduleDir} && GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS='-mod=readonly -buildvcs=false' ${goBin()} ${args.map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(" ")}\n`);
  const ticker = setInterval(() => log(`  still building ${c.name} (${elapsed(t0)})`), 60_000);
  try {
    const code = await new Promise<number>((resolvePromise, reject) => {
      const child = spawn(goBin(), args, { cwd: moduleDir, env: goEnv(), stdio: ["ignore", fd, fd] });
      child.on("error", reject);
      child.on("exit", (status, signal) => resolvePromise(status ?? (signal ? 128 : 1)));
    });
    if (code !== 0) {
      const tail = tailFile(logFile, 40);
      throw new Error(`go build of ${c.name} failed (exit ${code}); last lines of ${logFile}:\n${tail}`);
    }
  } finally {
    clearInterval(ticker);
    closeSync(fd);
  }
  const binDir = join(cacheDir, "bin");
  for (const o of c.outputs) renameSync(join(outDir, o), join(binDir, o));
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(join(cacheDir, "stamps"), { recursive: true });
  writeFileSync(join(cacheDir, "stamps", c.name), `${stampOf(c, v)}\n`);
  log(`built ${c.name} in ${elapsed(t0)}`);
}

// Programmatic API of the local control plane (used by the CLI, the selftest
// and the end-to-end tests):
//
//   up(options?)            -> Cluster   start (or reuse) etcd, kube-apiserver,
//                                        kube-controller-manager, kube-scheduler, kwok + fake nodes
//   down(stateDir?)                      stop every process recorded in state.json, remove the state dir
//   status(stateDir?)                    what is running
//   restartApiserver(stateDir?, opts?)   kill kube-apiserver and start it again (same port, same etcd data)
//   stopApiserver / startApiserver       the two halves of restartApiserver
//   kubectl(args, opts?)                 run the cached kubectl against the cluster
//   serviceAccountKubeconfig(opts)       kubeconfig holding a TokenRequest token of a ServiceAccount
//
// Everything listens on 127.0.0.1 on free ports. State lives in one directory
// (default ${XDG_STATE_HOME:-$HOME/.local/state}/deployment-tracker/cluster,
// env DT_CLUSTER_DIR overrides).
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { ensureBinaries, type Binaries, type Versions } from "./build.ts";
import { kubectlOrThrow, runKubectl, type KubectlResult } from "./kubectl.ts";
import { acquireLock } from "./lock.ts";
import { elapsed, stderrLogger, type Logger } from "./log.ts";
import { createNodes, KWOK_NODE_LABEL, waitNodesSchedulable } from "./nodes.ts";
import { defaultStateDir } from "./paths.ts";
import { ensurePki, SERVICE_CIDR, writeKubeconfig, type Pki } from "./pki.ts";
import {
  freePorts,
  httpGet,
  isOurProcess,
  sleep,
  startProcess,
  StartError,
  stopProcess,
  tailFile,
  waitUntil,
} from "./processes.ts";
import { stageFiles } from "./stages.ts";
import {
  COMPONENTS,
  layout,
  readState,
  writeState,
  type ClusterState,
  type ComponentName,
  type Layout,
  type Ports,
} from "./state.ts";

export type { ClusterState, ComponentName, Ports } from "./state.ts";
export type { Versions } from "./build.ts";
export type { KubectlResult } from "./kubectl.ts";
export {
  COMPLETE_AFTER_ANNOTATION,
  DIGEST_ANNOTATION_PREFIX,
  READY_AFTER_ANNOTATION,
} from "./stages.ts";
export { KWOK_NODE_LABEL } from "./nodes.ts";

/** Pod IPs handed out by kwok. */
export const POD_CIDR = "10.244.0.0/16";

export type UpOptions = {
  /** State directory (default: env DT_CLUSTER_DIR or the XDG state dir). */
  stateDir?: string;
  /** Number of fake kwok nodes (default 2). */
  nodes?: number;
  /** Progress output (default: stderr with timings). */
  log?: Logger;
  /** Build binaries if the cache is cold (default true). */
  build?: boolean;
  /** Extra kwok Stage/config files, passed with --config after ours. */
  extraStages?: string[];
  /**
   * Tear the control plane down when this pid exits (e.g. `process.pid` in a
   * test runner), via a small watchdog process. Off by default. Also applied
   * when an already running control plane is reused.
   */
  stopWhenProcessExits?: number;
};

export type Cluster = {
  kubeconfigPath: string;
  apiserverUrl: string;
  stateDir: string;
  ports: Ports;
  versions: Versions;
  binDir: string;
  kubectlPath: string;
  nodes: string[];
  pids: Partial<Record<ComponentName, number>>;
  /** True if an already running control plane was reused. */
  reused: boolean;
};

function toCluster(state: ClusterState, reused: boolean): Cluster {
  const pids: Partial<Record<ComponentName, number>> = {};
  for (const c of COMPONENTS) {
    const s = state.components[c];
    if (s) pids[c] = s.pid;
  }
  return {
    kubeconfigPath: state.kubeconfigPath,
    apiserverUrl: state.apiserverUrl,
    stateDir: state.stateDir,
    ports: state.ports,
    versions: state.versions,
    binDir: state.binDir,
    kubectlPath: state.kubectl,
    nodes: state.nodes,
    pids,
    reused,
  };
}

function resolveStateDir(stateDir?: string): string {
  return stateDir ? resolve(stateDir) : defaultStateDir();
}

// ---------------------------------------------------------------- health

function adminTls(l: Layout): { ca: string; cert: string; key: string } {
  return {
    ca: readFileSync(join(l.pkiDir, "ca.crt"), "utf8"),
    cert: readFileSync(join(l.pkiDir, "admin.crt"), "utf8"),
    key: readFileSync(join(l.pkiDir, "admin.key"), "utf8"),
  };
}

async function apiserverReady(state: ClusterState): Promise<boolean> {
  const r = await httpGet(`${state.apiserverUrl}/readyz`, adminTls(layout(state.stateDir)));
  return r.status === 200;
}

/** Every recorded component alive and the apiserver ready. */
async function isHealthy(state: ClusterState): Promise<boolean> {
  for (const c of COMPONENTS) {
    const s = state.components[c];
    if (!s || !isOurProcess(s.pid, s.bin)) return false;
  }
  try {
    return await apiserverReady(state);
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- component specs

type Spec = { name: ComponentName; bin: string; args: string[]; env?: Record<string, string> };

function etcdSpec(bins: Binaries, l: Layout, ports: Ports): Spec {
  const client = `http://127.0.0.1:${ports.etcdClient}`;
  const peer = `http://127.0.0.1:${ports.etcdPeer}`;
  return {
    name: "etcd",
    bin: bins.etcd,
    args: [
      "--name=dt",
      `--data-dir=${l.etcdDataDir}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=dt=${peer}`,
      "--initial-cluster-state=new",
      "--unsafe-no-fsync=true",
      "--quota-backend-bytes=4294967296",
      "--auto-compaction-mode=periodic",
      "--auto-compaction-retention=1h",
      "--log-level=warn",
    ],
  };
}

function apiserverSpec(bins: Binaries, l: Layout, ports: Ports, pki: Pki): Spec {
  return {
    name: "kube-apiserver",
    bin: bins.kubeApiserver,
    args: [
      `--etcd-servers=http://127.0.0.1:${ports.etcdClient}`,
      "--etcd-prefix=/registry",
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      // 1.37 refuses a loopback address for the `kubernetes` Service endpoints.
      "--endpoint-reconciler-type=none",
      `--secure-port=${ports.apiserver}`,
      `--cert-dir=${l.certDir("kube-apiserver")}`,
      `--tls-cert-file=${pki.apiserverCert}`,
      `--tls-private-key-file=${pki.apiserverKey}`,
      `--client-ca-file=${pki.caCert}`,
      "--authorization-mode=Node,RBAC",
      "--enable-admission-plugins=NodeRestriction",
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      `--service-account-key-file=${pki.saPublicKey}`,
      `--service-account-signing-key-file=${pki.saPrivateKey}`,
      // Aggregation layer / request-header authentication, as kubeadm sets it up
      // (without it every delegating component logs a missing CA bundle).
      `--requestheader-client-ca-file=${pki.caCert}`,
      "--requestheader-allowed-names=front-proxy-client",
      "--requestheader-username-headers=X-Remote-User",
      "--requestheader-group-headers=X-Remote-Group",
      "--requestheader-extra-headers-prefix=X-Remote-Extra-",
      `--proxy-client-cert-file=${pki.client("front-proxy-client").cert}`,
      `--proxy-client-key-file=${pki.client("front-proxy-client").key}`,
      "--allow-privileged=true",
      "--profiling=false",
      "--v=1",
    ],
  };
}

function controllerManagerSpec(bins: Binaries, l: Layout, ports: Ports, pki: Pki): Spec {
  const kubeconfig = l.componentKubeconfig("kube-controller-manager");
  return {
    name: "kube-controller-manager",
    bin: bins.kubeControllerManager,
    args: [
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      "--bind-address=127.0.0.1",
      `--secure-port=${ports.controllerManager}`,
      `--cert-dir=${l.certDir("kube-controller-manager")}`,
      "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics",
      "--leader-elect=false",
      "--controllers=*",
      "--use-service-account-credentials=true",
      `--service-account-private-key-file=${pki.saPrivateKey}`,
      `--root-ca-file=${pki.caCert}`,
      `--cluster-signing-cert-file=${pki.caCert}`,
      `--cluster-signing-key-file=${pki.caKey}`,
      "--cluster-name=deployment-tracker",
      "--node-monitor-period=5s",
      "--kube-api-qps=100",
      "--kube-api-burst=200",
      "--profiling=false",
    ],
  };
}

function schedulerSpec(bins: Binaries, l: Layout, ports: Ports): Spec {
  const kubeconfig = l.componentKubeconfig("kube-scheduler");
  writeFileSync(
    l.schedulerConfig,
    [
      "apiVersion: kubescheduler.config.k8s.io/v1",
      "kind: KubeSchedulerConfiguration",
      "clientConnection:",
      `  kubeconfig: ${JSON.stringify(kubeconfig)}`,
      "  qps: 100",
      "  burst: 200",
      "leaderElection:",
      "  leaderElect: false",
      "",
    ].join("\n"),
  );
  return {
    name: "kube-scheduler",
    bin: bins.kubeScheduler,
    args: [
      `--config=${l.schedulerConfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      "--bind-address=127.0.0.1",
      `--secure-port=${ports.scheduler}`,
      `--cert-dir=${l.certDir("kube-scheduler")}`,
      "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics",
    ],
  };
}

function kwokSpec(bins: Binaries, l: Layout, extraStages: string[]): Spec {
  for (const f of extraStages) if (!existsSync(f)) throw new StartError("kwok", `extra stage file ${f} does not exist`);
  mkdirSync(l.kwokHome, { recursive: true });
  return {
    name: "kwok",
    bin: bins.kwok,
    args: [
      `--kubeconfig=${l.componentKubeconfig("kwok")}`,
      `--manage-nodes-with-label-selector=${KWOK_NODE_LABEL.key}=${KWOK_NODE_LABEL.value}`,
      `--cidr=${POD_CIDR}`,
      "--node-ip=10.200.0.254",
      "--node-lease-duration-seconds=40",
      ...[...stageFiles(), ...extraStages.map((s) => resolve(s))].map((f) => `--config=${f}`),
    ],
    // kwok also loads ~/.kwok/kwok.yaml; keep the user's out of our cluster.
    env: { HOME: l.kwokHome },
  };
}

// ---------------------------------------------------------------- up / down

function launch(state: ClusterState, spec: Spec, l: Layout): number {
  mkdirSync(l.logsDir, { recursive: true });
  const log = l.logFile(spec.name);
  const pid = startProcess({ name: spec.name, bin: spec.bin, args: spec.args, ...(spec.env ? { env: spec.env } : {}) }, log);
  state.components[spec.name] = {
    pid,
    bin: spec.bin,
    args: spec.args,
    ...(spec.env ? { env: spec.env } : {}),
    log,
    startedAt: new Date().toISOString(),
  };
  writeState(state);
  return pid;
}

function startWatchdog(state: ClusterState, ownerPid: number, log: Logger): void {
  const w = state.watchdog;
  if (w && w.watches === ownerPid && isOurProcess(w.pid, w.bin)) return;
  const l = layout(state.stateDir);
  mkdirSync(l.logsDir, { recursive: true });
  const pid = startProcess(
    { name: "watchdog", bin: process.execPath, args: [join(import.meta.dirname, "watchdog.ts"), String(ownerPid), state.stateDir] },
    join(l.logsDir, "watchdog.log"),
  );
  state.watchdog = { pid, bin: process.execPath, watches: ownerPid };
  writeState(state);
  log(`watchdog pid ${pid} will tear the control plane down when pid ${ownerPid} exits`);
}

async function stopAll(state: ClusterState, log: Logger): Promise<string[]> {
  const stopped: string[] = [];
  const w = state.watchdog;
  if (w && w.pid !== process.pid && isOurProcess(w.pid, w.bin)) {
    await stopProcess(w.pid, w.bin, { graceMs: 2000 });
    stopped.push(`watchdog (pid ${w.pid})`);
  }
  for (const c of [...COMPONENTS].reverse()) {
    const s = state.components[c];
    if (!s) continue;
    if (isOurProcess(s.pid, s.bin)) {
      await stopProcess(s.pid, s.bin);
      stopped.push(`${c} (pid ${s.pid})`);
    }
  }
  if (stopped.length > 0) log(`stopped ${stopped.join(", ")}`);
  return stopped;
}

/** Starts the control plane (building binaries if needed), or reuses a running one. */
export async function up(options: UpOptions = {}): Promise<Cluster> {
  const log = options.log ?? stderrLogger;
  const stateDir = resolveStateDir(options.stateDir);
  const t0 = Date.now();
  const bins = await ensureBinaries({ log, ...(options.build !== undefined ? { build: options.build } : {}) });

  mkdirSync(dirname(stateDir), { recursive: true });
  const release = await acquireLock(`${stateDir}.lock`, log);
  try {
    const existing = readState(stateDir);
    if (existing) {
      if (existing.ready && (await isHealthy(existing))) {
        log(`control plane already running (${existing.apiserverUrl}, state ${stateDir}); reusing it`);
        if (options.stopWhenProcessExits !== undefined) startWatchdog(existing, options.stopWhenProcessExits, log);
        return toCluster(existing, true);
      }
      log(`found a stale or incomplete control plane in ${stateDir}; cleaning it up`);
      await stopAll(existing, log);
    }
    // Ports are picked free but bound later by other processes: on the rare
    // collision ("address already in use") start once more with new ports.
    for (let attempt = 1; ; attempt++) {
      rmSync(stateDir, { recursive: true, force: true });
      mkdirSync(stateDir, { recursive: true, mode: 0o700 });
      try {
        const cluster = await start(stateDir, bins, options, log);
        if (options.stopWhenProcessExits !== undefined) {
          const state = readState(stateDir);
          if (state) startWatchdog(state, options.stopWhenProcessExits, log);
        }
        log(`control plane ready in ${elapsed(t0)}: ${cluster.apiserverUrl}`);
        return cluster;
      } catch (err) {
        if (attempt >= 3 || !/address already in use/.test(String(err))) throw err;
        log(`port collision; retrying with other ports (attempt ${attempt + 1})`);
      }
    }
  } finally {
    release();
  }
}

async function start(stateDir: string, bins: Binaries, options: UpOptions, log: Logger): Promise<Cluster> {
  const l = layout(stateDir);
  const pki = ensurePki(bins.pki, l.pkiDir);
  const [etcdClient, etcdPeer, apiserver, controllerManager, scheduler] = await freePorts(5);
  if (!etcdClient || !etcdPeer || !apiserver || !controllerManager || !scheduler) throw new Error("no free ports");
  const ports: Ports = { etcdClient, etcdPeer, apiserver, controllerManager, scheduler };
  const apiserverUrl = `https://127.0.0.1:${apiserver}`;
  writeKubeconfig(l.kubeconfig, {
    server: apiserverUrl,
    caCert: pki.caCert,
    userName: "deployment-tracker-admin",
    user: { kind: "cert", ...pki.client("admin") },
  });
  for (const identity of ["kube-controller-manager", "kube-scheduler", "kwok"] as const) {
    writeKubeconfig(l.componentKubeconfig(identity), {
      server: apiserverUrl,
      caCert: pki.caCert,
      userName: identity,
      user: { kind: "cert", ...pki.client(identity) },
    });
  }
  const state: ClusterState = {
    version: 1,
    stateDir,
    kubeconfigPath: l.kubeconfig,
    apiserverUrl,
    ports,
    versions: bins.versions,
    binDir: bins.binDir,
    kubectl: bins.kubectl,
    nodes: [],
    components: {},
    ownerPid: process.pid,
    startedAt: new Date().toISOString(),
    ready: false,
  };
  writeState(state);

  try {
    let t = Date.now();
    const etcdPid = launch(state, etcdSpec(bins, l, ports), l);
    await waitUntil(
      "etcd",
      "etcd /health",
      async () => {
        const r = await httpGet(`http://127.0.0.1:${ports.etcdClient}/health`);
        return r.status === 200 && r.body.includes('"true"');
      },
      { timeoutMs: 30_000, pid: etcdPid },
    );
    log(`etcd ready on 127.0.0.1:${ports.etcdClient} (${elapsed(t)})`);

    t = Date.now();
    const apiPid = launch(state, apiserverSpec(bins, l, ports, pki), l);
    await waitUntil("kube-apiserver", "kube-apiserver /readyz", () => apiserverReady(state), {
      timeoutMs: 90_000,
      pid: apiPid,
    });
    log(`kube-apiserver ready on ${apiserverUrl} (${elapsed(t)})`);

    t = Date.now();
    const kcmPid = launch(state, controllerManagerSpec(bins, l, ports, pki), l);
    const schedPid = launch(state, schedulerSpec(bins, l, ports), l);
    const kwokPid = launch(state, kwokSpec(bins, l, options.extraStages ?? []), l);
    const healthz = (port: number) => async () =>
      (await httpGet(`https://127.0.0.1:${port}/healthz`, { insecure: true })).status === 200;
    await Promise.all([
      waitUntil("kube-controller-manager", "kube-controller-manager /healthz", healthz(ports.controllerManager), {
        timeoutMs: 60_000,
        pid: kcmPid,
      }),
      waitUntil("kube-scheduler", "kube-scheduler /healthz", healthz(ports.scheduler), {
        timeoutMs: 60_000,
        pid: schedPid,
      }),
    ]);
    log(`kube-controller-manager (:${ports.controllerManager}) and kube-scheduler (:${ports.scheduler}) healthy (${elapsed(t)})`);

    t = Date.now();
    const nodes = await createNodes(bins.kubectl, l.kubeconfig, options.nodes ?? 2);
    state.nodes = nodes;
    writeState(state);
    await waitNodesSchedulable(bins.kubectl, l.kubeconfig, nodes, 90_000, () => isOurProcess(kwokPid, bins.kwok));
    log(`kwok nodes ${nodes.join(", ")} Ready and schedulable (${elapsed(t)})`);

    t = Date.now();
    await waitUntil(
      "kube-controller-manager",
      "ServiceAccount default/default",
      async () => (await runKubectl(bins.kubectl, l.kubeconfig, ["get", "serviceaccount", "default", "-n", "default"])).code === 0,
      { timeoutMs: 60_000, pid: kcmPid, intervalMs: 300 },
    );
    log(`ServiceAccount default/default present (${elapsed(t)})`);

    state.ready = true;
    writeState(state);
    return toCluster(state, false);
  } catch (err) {
    const component = err instanceof StartError ? err.component : undefined;
    let detail = "";
    if (component) {
      const tail = tailFile(l.logFile(component as ComponentName), 40);
      detail = `\n--- last lines of ${l.logFile(component as ComponentName)} ---\n${tail}`;
      log(`${component} failed: ${(err as Error).message}`);
    } else {
      log(`start failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    await stopAll(state, log);
    // Keep the logs for inspection; drop the rest.
    rmSync(l.etcdDataDir, { recursive: true, force: true });
    rmSync(l.stateFile, { force: true });
    throw new Error(`control plane failed to start${component ? ` (${component})` : ""}: ${(err as Error).message}${detail}`);
  }
}

/** Stops every process recorded in the state dir and removes the directory. */
export async function down(stateDir?: string, options: { log?: Logger } = {}): Promise<{ stopped: string[] }> {
  const log = options.log ?? stderrLogger;
  const dir = resolveStateDir(stateDir);
  const state = readState(dir);
  let stopped: string[] = [];
  if (state) stopped = await stopAll(state, log);
  else log(`no state in ${dir}`);
  if (existsSync(dir)) {
    rmSync(dir, { recursive: true, force: true });
    log(`removed ${dir}`);
  }
  return { stopped };
}

export type ComponentStatus = { name: ComponentName; pid: number; running: boolean; log: string };
export type Status = {
  stateDir: string;
  running: boolean;
  ready: boolean;
  apiserverReady: boolean;
  kubeconfigPath?: string;
  apiserverUrl?: string;
  versions?: Versions;
  components: ComponentStatus[];
};

export async function status(stateDir?: string): Promise<Status> {
  const dir = resolveStateDir(stateDir);
  const state = readState(dir);
  if (!state) return { stateDir: dir, running: false, ready: false, apiserverReady: false, components: [] };
  const components: ComponentStatus[] = [];
  for (const c of COMPONENTS) {
    const s = state.components[c];
    if (s) components.push({ name: c, pid: s.pid, running: isOurProcess(s.pid, s.bin), log: s.log });
  }
  let apiOk = false;
  try {
    apiOk = await apiserverReady(state);
  } catch {
    apiOk = false;
  }
  return {
    stateDir: dir,
    running: components.length === COMPONENTS.length && components.every((c) => c.running),
    ready: state.ready,
    apiserverReady: apiOk,
    kubeconfigPath: state.kubeconfigPath,
    apiserverUrl: state.apiserverUrl,
    versions: state.versions,
    components,
  };
}

function requireState(stateDir?: string): ClusterState {
  const dir = resolveStateDir(stateDir);
  const state = readState(dir);
  if (!state) throw new Error(`no control plane state in ${dir}`);
  return state;
}

/** Kills kube-apiserver (SIGKILL by default) and waits until it is gone. */
export async function stopApiserver(
  stateDir?: string,
  options: { signal?: NodeJS.Signals } = {},
): Promise<void> {
  const state = requireState(stateDir);
  const s = state.components["kube-apiserver"];
  if (!s) throw new Error("kube-apiserver was never started");
  await stopProcess(s.pid, s.bin, { signal: options.signal ?? "SIGKILL", graceMs: 15_000 });
}

/** Starts kube-apiserver again with its recorded arguments (same port, same etcd) and waits for /readyz. */
export async function startApiserver(stateDir?: string, options: { timeoutMs?: number } = {}): Promise<void> {
  const state = requireState(stateDir);
  const s = state.components["kube-apiserver"];
  if (!s) throw new Error("kube-apiserver was never started");
  if (isOurProcess(s.pid, s.bin)) throw new Error(`kube-apiserver is still running (pid ${s.pid})`);
  const l = layout(state.stateDir);
  let pid = 0;
  // The port may linger briefly after a kill: retry a few times if it exits at once.
  for (let attempt = 0; ; attempt++) {
    pid = launch(state, { name: "kube-apiserver", bin: s.bin, args: s.args, ...(s.env ? { env: s.env } : {}) }, l);
    try {
      await waitUntil("kube-apiserver", "kube-apiserver /readyz", () => apiserverReady(state), {
        timeoutMs: options.timeoutMs ?? 90_000,
        pid,
      });
      return;
    } catch (err) {
      if (attempt >= 3 || isOurProcess(pid, s.bin)) {
        const tail = tailFile(l.logFile("kube-apiserver"), 30);
        throw new Error(`${(err as Error).message}\n--- last lines of ${l.logFile("kube-apiserver")} ---\n${tail}`);
      }
      await sleep(1000);
    }
  }
}

/** Kills kube-apiserver and starts it again on the same port with the same data. */
export async function restartApiserver(
  stateDir?: string,
  options: { signal?: NodeJS.Signals; downtimeMs?: number; timeoutMs?: number } = {},
): Promise<void> {
  await stopApiserver(stateDir, options.signal ? { signal: options.signal } : {});
  if (options.downtimeMs) await sleep(options.downtimeMs);
  await startApiserver(stateDir, options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {});
}

export type KubectlOptions = { stateDir?: string; input?: string; timeoutMs?: number; kubeconfig?: string };

/** Runs kubectl against the cluster; throws on a non-zero exit, returns stdout. */
export async function kubectl(args: string[], options: KubectlOptions = {}): Promise<string> {
  const state = requireState(options.stateDir);
  return kubectlOrThrow(state.kubectl, options.kubeconfig ?? state.kubeconfigPath, args, {
    ...(options.input !== undefined ? { input: options.input } : {}),
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
  });
}

/** Runs kubectl against the cluster and returns exit code, stdout and stderr. */
export async function kubectlResult(args: string[], options: KubectlOptions = {}): Promise<KubectlResult> {
  const state = requireState(options.stateDir);
  return runKubectl(state.kubectl, options.kubeconfig ?? state.kubeconfigPath, args, {
    ...(options.input !== undefined ? { input: options.input } : {}),
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
  });
}

/**
 * Writes a kubeconfig that authenticates as ServiceAccount `namespace/name`
 * with a bound token from the TokenRequest API (`kubectl create token`).
 * The ServiceAccount must exist; its permissions are whatever RBAC grants it.
 */
export async function serviceAccountKubeconfig(options: {
  namespace: string;
  name: string;
  stateDir?: string;
  /** Token lifetime (default "24h"). */
  duration?: string;
  /** Output path (default <stateDir>/sa-<namespace>-<name>.kubeconfig). */
  path?: string;
}): Promise<string> {
  const state = requireState(options.stateDir);
  const token = (
    await kubectlOrThrow(state.kubectl, state.kubeconfigPath, [
      "create",
      "token",
      options.name,
      "-n",
      options.namespace,
      `--duration=${options.duration ?? "24h"}`,
    ])
  ).trim();
  const path = options.path ?? join(state.stateDir, `sa-${options.namespace}-${options.name}.kubeconfig`);
  writeKubeconfig(path, {
    server: state.apiserverUrl,
    caCert: join(layout(state.stateDir).pkiDir, "ca.crt"),
    userName: `system:serviceaccount:${options.namespace}:${options.name}`,
    user: { kind: "token", token },
    namespace: options.namespace,
  });
  return path;
}

// The state directory and its state.json (ports, pids, argv of every process we started).
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Versions } from "./build.ts";

export const COMPONENTS = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"] as const;
export type ComponentName = (typeof COMPONENTS)[number];

export type ComponentState = {
  pid: number;
  bin: string;
  args: string[];
  env?: Record<string, string>;
  log: string;
  startedAt: string;
};

export type Ports = {
  etcdClient: number;
  etcdPeer: number;
  apiserver: number;
  controllerManager: number;
  scheduler: number;
};

export type ClusterState = {
  version: 1;
  stateDir: string;
  kubeconfigPath: string;
  apiserverUrl: string;
  ports: Ports;
  versions: Versions;
  binDir: string;
  kubectl: string;
  nodes: string[];
  components: Partial<Record<ComponentName, ComponentState>>;
  /** Pid of the process that ran `up`. */
  ownerPid: number;
  /** Watchdog (node watchdog.ts) that downs the cluster when a given process exits, if requested. */
  watchdog?: { pid: number; bin: string; watches: number };
  startedAt: string;
  /** True once `up` finished (nodes schedulable, default ServiceAccount present). */
  ready: boolean;
};

export type Layout = {
  stateDir: string;
  stateFile: string;
  kubeconfig: string;
  pkiDir: string;
  etcdDataDir: string;
  logsDir: string;
  kwokHome: string;
  schedulerConfig: string;
  certDir: (component: ComponentName) => string;
  logFile: (component: ComponentName) => string;
  componentKubeconfig: (identity: string) => string;
};

export function layout(stateDir: string): Layout {
  return {
    stateDir,
    stateFile: join(stateDir, "state.json"),
    kubeconfig: join(stateDir, "kubeconfig"),
    pkiDir: join(stateDir, "pki"),
    etcdDataDir: join(stateDir, "etcd-data"),
    logsDir: join(stateDir, "logs"),
    kwokHome: join(stateDir, "kwok-home"),
    schedulerConfig: join(stateDir, "kube-scheduler.yaml"),
    certDir: (c) => join(stateDir, "certs", c),
    logFile: (c) => join(stateDir, "logs", `${c}.log`),
    componentKubeconfig: (identity) => join(stateDir, "pki", `${identity}.kubeconfig`),
  };
}

export function readState(stateDir: string): ClusterState | undefined {
  const file = layout(stateDir).stateFile;
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, "utf8")) as ClusterState;
  } catch {
    return undefined;
  }
}

export function writeState(state: ClusterState): void {
  const file = layout(state.stateDir).stateFile;
  mkdirSync(state.stateDir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(tmp, file);
}

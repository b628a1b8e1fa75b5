// Local Kubernetes control plane for end-to-end tests and demos.
//
//   npm run cluster -- up [--nodes N]   build if needed, start (or reuse); prints the kubeconfig path as the last stdout line
//   npm run cluster -- down             stop every process we started, remove the state dir
//   npm run cluster -- build            build/cache the binaries only
//   npm run cluster -- status           show processes and readiness (exit 1 if not running)
//   npm run cluster -- restart-apiserver
//   npm run cluster -- kubectl ARGS...  run the cached kubectl against the cluster
//
// Env: DT_CLUSTER_DIR (state dir), DT_CLUSTER_CACHE (binary cache root), DT_GO (go binary).
// Progress goes to stderr.
import { spawn } from "node:child_process";
import { ensureBinaries } from "./build.ts";
import { down, restartApiserver, status, up } from "./controlPlane.ts";
import { stderrLogger } from "./log.ts";
import { defaultStateDir } from "./paths.ts";
import { readState } from "./state.ts";

const USAGE = `usage: node scripts/cluster/cluster.ts <up [--nodes N] | down | build | status | restart-apiserver | kubectl ARGS...>`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "up": {
      let nodes: number | undefined;
      for (let i = 0; i < rest.length; i++) {
        const a = rest[i];
        if (a === "--nodes") nodes = Number(rest[++i]);
        else if (a?.startsWith("--nodes=")) nodes = Number(a.slice("--nodes=".length));
        else throw new Error(`unknown argument ${a}\n${USAGE}`);
      }
      if (nodes !== undefined && (!Number.isInteger(nodes) || nodes < 1)) throw new Error("--nodes must be a positive integer");
      let starting = true;
      const onSignal = (sig: NodeJS.Signals) => {
        if (!starting) return;
        stderrLogger(`${sig} during start-up: tearing down`);
        void down(undefined, { log: stderrLogger }).finally(() => process.exit(130));
      };
      process.once("SIGINT", onSignal);
      process.once("SIGTERM", onSignal);
      const cluster = await up(nodes !== undefined ? { nodes } : {});
      starting = false;
      stderrLogger(`versions: kubernetes ${cluster.versions.kubernetes}, etcd ${cluster.versions.etcd}, kwok ${cluster.versions.kwok}, ${cluster.versions.go}`);
      stderrLogger(`apiserver ${cluster.apiserverUrl}; state ${cluster.stateDir}; export KUBECONFIG=${cluster.kubeconfigPath}`);
      process.stdout.write(`${cluster.kubeconfigPath}\n`);
      return 0;
    }
    case "down": {
      await down();
      return 0;
    }
    case "build": {
      const bins = await ensureBinaries({ log: stderrLogger });
      process.stdout.write(`${bins.binDir}\n`);
      return 0;
    }
    case "status": {
      const s = await status();
      if (s.components.length === 0) {
        process.stdout.write(`not running (state dir ${s.stateDir})\n`);
        return 1;
      }
      const lines = [
        `state dir:  ${s.stateDir}`,
        `apiserver:  ${s.apiserverUrl} (${s.apiserverReady ? "ready" : "NOT ready"})`,
        `kubeconfig: ${s.kubeconfigPath}`,
        ...(s.versions
          ? [`versions:   kubernetes ${s.versions.kubernetes}, etcd ${s.versions.etcd}, kwok ${s.versions.kwok}, ${s.versions.go}`]
          : []),
        ...s.components.map((c) => `  ${c.name.padEnd(24)} pid ${String(c.pid).padEnd(8)} ${c.running ? "running" : "NOT running"}  ${c.log}`),
      ];
      process.stdout.write(`${lines.join("\n")}\n`);
      return s.running && s.apiserverReady ? 0 : 1;
    }
    case "restart-apiserver": {
      const t0 = Date.now();
      await restartApiserver();
      stderrLogger(`kube-apiserver restarted in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
      return 0;
    }
    case "kubectl": {
      // stdin/stdout/stderr pass straight through (kubectl apply -f -, watches, ...).
      const state = readState(defaultStateDir());
      if (!state) throw new Error(`no control plane state in ${defaultStateDir()}; run 'npm run cluster -- up'`);
      const child = spawn(state.kubectl, [`--kubeconfig=${state.kubeconfigPath}`, ...rest], { stdio: "inherit" });
      return await new Promise<number>((resolvePromise, reject) => {
        child.on("error", reject);
        child.on("exit", (code, sig) => resolvePromise(code ?? (sig ? 128 : 1)));
      });
    }
    default:
      process.stderr.write(`${USAGE}\nstate dir: ${defaultStateDir()}\n`);
      return command === undefined || command === "help" || command === "--help" ? 0 : 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);

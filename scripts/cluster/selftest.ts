// End-to-end check of the local control plane. Run:
//   PATH=$PWD/node_modules/.bin:$PATH node scripts/cluster/selftest.ts [--state-dir DIR] [--keep]
//
// Uses its own state directory (a fresh temp dir unless --state-dir), so it
// does not touch a cluster started with `npm run cluster -- up`. Brings the
// control plane up, checks reuse, loopback-only listeners, real workloads
// (Deployment with init + sidecar containers, StatefulSet, DaemonSet, Job,
// CronJob) reaching Running/Succeeded with imageIDs, RBAC with a
// ServiceAccount token, an apiserver restart, the three cascade modes, and
// finally that `down` leaves no process behind.
// Ends with "N passed, N failed"; exit code 1 if anything failed.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  COMPLETE_AFTER_ANNOTATION,
  DIGEST_ANNOTATION_PREFIX,
  down,
  READY_AFTER_ANNOTATION,
  kubectl,
  kubectlResult,
  restartApiserver,
  serviceAccountKubeconfig,
  up,
  type Cluster,
} from "./controlPlane.ts";
import { elapsed } from "./log.ts";

const args = process.argv.slice(2);
const keep = args.includes("--keep");
const sdIndex = args.indexOf("--state-dir");
const stateDir = sdIndex >= 0 && args[sdIndex + 1] ? args[sdIndex + 1]! : mkdtempSync(join(tmpdir(), "dt-cluster-selftest-"));

const NS = "selftest";
const OVERRIDE_DIGEST = "1".repeat(64);
const PINNED_DIGEST = "2".repeat(64);
const t0 = Date.now();
let passed = 0;
let failed = 0;

function say(line: string): void {
  process.stdout.write(`[selftest +${elapsed(t0)}] ${line}\n`);
}

async function check(name: string, fn: () => Promise<string | void>): Promise<void> {
  const start = Date.now();
  try {
    const detail = await fn();
    passed++;
    say(`PASS ${name} (${elapsed(start)})${detail ? `: ${detail}` : ""}`);
  } catch (err) {
    failed++;
    say(`FAIL ${name} (${elapsed(start)}): ${err instanceof Error ? err.message : String(err)}`);
  }
}

function assert(cond: unknown, message: string): asserts cond {
  if (!cond) throw new Error(message);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function eventually<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s: ${what}${last ? ` (${last})` : ""}`);
    await sleep(500);
  }
}

const k = (a: string[], input?: string) => kubectl(a, { stateDir, ...(input !== undefined ? { input } : {}) });

type ContainerStatus = { name: string; image: string; imageID?: string; state?: Record<string, unknown> };
type Pod = {
  metadata: { name: string; creationTimestamp?: string; ownerReferences?: { kind: string; name: string }[]; labels?: Record<string, string> };
  spec: { nodeName?: string; containers: { name: string; image: string }[]; initContainers?: { name: string; image: string }[] };
  status: { phase?: string; startTime?: string; containerStatuses?: ContainerStatus[]; initContainerStatuses?: ContainerStatus[] };
};

async function pods(selector: string): Promise<Pod[]> {
  const out = await k(["get", "pods", "-n", NS, "-l", selector, "-o", "json"]);
  return (JSON.parse(out) as { items: Pod[] }).items;
}

const IMAGE_ID = /^docker-pullable:\/\/[^@\s]+@sha256:[0-9a-f]{64}$/;

function expectedImageID(image: string, override?: string): string {
  const repo = (image.split("@")[0] ?? image).replace(/:[^/:]+$/, "");
  const digest = override ?? (image.includes("@sha256:") ? image.split("@sha256:")[1]! : createHash("sha256").update(image).digest("hex"));
  return `docker-pullable://${repo}@sha256:${digest}`;
}

/** Every container and init container status carries the expected imageID. */
function checkImageIDs(pod: Pod, overrides: Record<string, string> = {}): string[] {
  const problems: string[] = [];
  const lists: [string, { name: string; image: string }[], ContainerStatus[] | undefined][] = [
    ["containerStatuses", pod.spec.containers, pod.status.containerStatuses],
    ["initContainerStatuses", pod.spec.initContainers ?? [], pod.status.initContainerStatuses],
  ];
  for (const [list, specs, statuses] of lists) {
    for (const c of specs) {
      const s = statuses?.find((x) => x.name === c.name);
      const want = expectedImageID(c.image, overrides[c.name]);
      if (!s?.imageID) problems.push(`${pod.metadata.name} ${list}[${c.name}] has no imageID`);
      else if (!IMAGE_ID.test(s.imageID) || s.imageID !== want) problems.push(`${pod.metadata.name} ${list}[${c.name}] imageID ${s.imageID} != ${want}`);
    }
  }
  return problems;
}

const MANIFESTS = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: ${NS}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
      annotations: {"${DIGEST_ANNOTATION_PREFIX}sidecar": "sha256:${OVERRIDE_DIGEST}"}
    spec:
      initContainers:
      - {name: migrate, image: "ghcr.io/example/migrate:1.2.3"}
      - {name: sidecar, image: "registry.example:5000/team/proxy:v2", restartPolicy: Always}
      containers:
      - {name: app, image: "ghcr.io/example/web:1.0"}
      - {name: pinned, image: "docker.io/library/nginx:1.27@sha256:${PINNED_DIGEST}"}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: ${NS}}
spec:
  replicas: 2
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      initContainers: [{name: init-perms, image: "busybox:1.36"}]
      containers: [{name: postgres, image: "postgres:16"}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: ${NS}}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata:
      labels: {app: agent}
      annotations: {"${READY_AFTER_ANNOTATION}": "3s"}
    spec:
      containers: [{name: agent, image: "quay.io/example/agent:0.9"}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: batch, namespace: ${NS}}
spec:
  completions: 2
  parallelism: 2
  template:
    metadata:
      labels: {app: batch}
      annotations: {"${COMPLETE_AFTER_ANNOTATION}": "2s"}
    spec:
      restartPolicy: Never
      initContainers: [{name: fetch, image: "alpine:3.20"}]
      containers: [{name: work, image: "ghcr.io/example/worker:2.0"}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: tick, namespace: ${NS}}
spec:
  schedule: "* * * * *"
  jobTemplate:
    spec:
      template:
        metadata: {labels: {app: tick}}
        spec:
          restartPolicy: OnFailure
          containers: [{name: tick, image: "alpine:3.20"}]
`;

/** LISTEN sockets (address:port) of a process, from /proc. */
function listeningAddresses(pid: number): string[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m?.[1]) inodes.add(m[1]);
    } catch {
      // fd closed meanwhile
    }
  }
  const found: string[] = [];
  for (const table of ["tcp", "tcp6"]) {
    for (const line of readFileSync(`/proc/net/${table}`, "utf8").split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== "0A" || !inodes.has(f[9]!)) continue;
      const [hexAddr, hexPort] = f[1]!.split(":");
      const port = parseInt(hexPort!, 16);
      let addr: string;
      if (hexAddr!.length === 8) {
        addr = [3, 2, 1, 0].map((i) => parseInt(hexAddr!.slice(i * 2, i * 2 + 2), 16)).join(".");
      } else {
        addr = hexAddr === "00000000000000000000000001000000" ? "::1" : hexAddr === "0".repeat(32) ? "::" : `v6:${hexAddr}`;
      }
      found.push(`${addr}:${port}`);
    }
  }
  return found;
}

/** Pids of processes whose executable lives in `binDir` and whose arguments mention `needle`. */
function processesFrom(binDir: string, needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!readlinkSync(`/proc/${entry}/exe`).startsWith(`${binDir}/`)) continue;
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(needle)) pids.push(Number(entry));
    } catch {
      // not ours to read, or gone
    }
  }
  return pids;
}

async function main(): Promise<void> {
  say(`state dir ${stateDir}`);
  let cluster: Cluster | undefined;

  await check("up (build if needed, start, nodes Ready)", async () => {
    const start = Date.now();
    cluster = await up({ stateDir });
    assert(existsSync(cluster.kubeconfigPath), "kubeconfig missing");
    assert(cluster.apiserverUrl.startsWith("https://127.0.0.1:"), `apiserver URL ${cluster.apiserverUrl}`);
    const v = cluster.versions;
    return `ready in ${elapsed(start)}; k8s ${v.kubernetes}, etcd ${v.etcd}, kwok ${v.kwok}, ${v.go}; ${cluster.apiserverUrl}`;
  });
  if (!cluster) {
    say("cannot continue without a control plane");
    return;
  }
  const c = cluster;

  await check("second up reuses the running control plane", async () => {
    const start = Date.now();
    const again = await up({ stateDir, log: () => {} });
    assert(again.reused, "not reused");
    assert(again.kubeconfigPath === c.kubeconfigPath, "different kubeconfig");
    assert(again.pids["kube-apiserver"] === c.pids["kube-apiserver"], "different apiserver pid");
    return `same kubeconfig, ${elapsed(start)}`;
  });

  await check("every component listens on 127.0.0.1 only", async () => {
    const all: string[] = [];
    for (const [name, pid] of Object.entries(c.pids)) {
      const addrs = listeningAddresses(pid);
      const bad = addrs.filter((a) => !a.startsWith("127.0.0.1:"));
      assert(bad.length === 0, `${name} listens on ${bad.join(", ")}`);
      all.push(`${name}=${addrs.join("/") || "-"}`);
    }
    return all.join(" ");
  });

  await check("versions reported by the apiserver and kubectl", async () => {
    const v = JSON.parse(await k(["version", "-o", "json"])) as {
      clientVersion: { gitVersion: string };
      serverVersion: { gitVersion: string };
    };
    assert(v.serverVersion.gitVersion === c.versions.kubernetes, `server ${v.serverVersion.gitVersion}`);
    assert(v.clientVersion.gitVersion === c.versions.kubernetes, `client ${v.clientVersion.gitVersion}`);
    return `server ${v.serverVersion.gitVersion}, client ${v.clientVersion.gitVersion}`;
  });

  await check("namespace with its default ServiceAccount", async () => {
    await k(["create", "namespace", NS]);
    await eventually("default ServiceAccount", 30_000, async () =>
      (await kubectlResult(["get", "sa", "default", "-n", NS], { stateDir })).code === 0 ? true : undefined,
    );
  });

  await check("apply Deployment, StatefulSet, DaemonSet, Job, CronJob", async () => {
    const out = await k(["apply", "-f", "-"], MANIFESTS);
    return out.trim().split("\n").join("; ");
  });

  await check("Deployment pods Running with imageIDs (override, pinned digest, sidecar)", async () => {
    const list = await eventually("2 web pods Running", 60_000, async () => {
      const p = await pods("app=web");
      return p.length === 2 && p.every((x) => x.status.phase === "Running") ? p : undefined;
    });
    const problems = list.flatMap((p) => checkImageIDs(p, { sidecar: OVERRIDE_DIGEST }));
    assert(problems.length === 0, problems.join("; "));
    const p0 = list[0]!;
    return [...(p0.status.initContainerStatuses ?? []), ...(p0.status.containerStatuses ?? [])]
      .map((s) => `${s.name}=${s.imageID}`)
      .join(" ");
  });

  await check("StatefulSet pods Running with imageIDs", async () => {
    const list = await eventually("2 db pods Running", 60_000, async () => {
      const p = await pods("app=db");
      return p.length === 2 && p.every((x) => x.status.phase === "Running") ? p : undefined;
    });
    const problems = list.flatMap((p) => checkImageIDs(p));
    assert(problems.length === 0, problems.join("; "));
    return list.map((p) => `${p.metadata.name}@${p.spec.nodeName}`).join(", ");
  });

  await check("DaemonSet pod on every kwok node", async () => {
    const list = await eventually("agent pod per node Running", 60_000, async () => {
      const p = await pods("app=agent");
      return p.length === c.nodes.length && p.every((x) => x.status.phase === "Running") ? p : undefined;
    });
    const nodes = new Set(list.map((p) => p.spec.nodeName));
    assert(nodes.size === c.nodes.length, `pods on ${[...nodes].join(",")}`);
    // The ready-after annotation (3s) delays Running.
    const delays = list.map((p) => (Date.parse(p.status.startTime ?? "") - Date.parse(p.metadata.creationTimestamp ?? "")) / 1000);
    assert(delays.every((d) => d >= 2), `ready-after not honoured: ${delays.join(",")}s`);
    const problems = list.flatMap((p) => checkImageIDs(p));
    assert(problems.length === 0, problems.join("; "));
    return `${list.map((p) => `${p.metadata.name}@${p.spec.nodeName}`).join(", ")}; Running ${delays.map((d) => d.toFixed(1)).join("/")}s after creation (ready-after 3s)`;
  });

  await check("in-place image change of a running pod restarts that container with a new imageID", async () => {
    await k(
      ["apply", "-f", "-"],
      `
apiVersion: v1
kind: Pod
metadata: {name: solo, namespace: ${NS}, labels: {app: solo}}
spec:
  containers:
  - {name: a, image: "ghcr.io/example/a:1"}
  - {name: b, image: "ghcr.io/example/b:1"}
`,
    );
    const before = await eventually("solo Running", 30_000, async () => {
      const p = (await pods("app=solo"))[0];
      return p?.status.phase === "Running" ? p : undefined;
    });
    await k(["set", "image", "-n", NS, "pod/solo", "a=ghcr.io/example/a:2"]);
    const after = await eventually("status of a updated", 30_000, async () => {
      const p = (await pods("app=solo"))[0];
      return p?.status.containerStatuses?.find((s) => s.name === "a")?.image === "ghcr.io/example/a:2" ? p : undefined;
    });
    const problems = checkImageIDs(after);
    assert(problems.length === 0, problems.join("; "));
    const a = after.status.containerStatuses?.find((s) => s.name === "a") as ContainerStatus & { restartCount?: number };
    const bBefore = before.status.containerStatuses?.find((s) => s.name === "b");
    const bAfter = after.status.containerStatuses?.find((s) => s.name === "b");
    assert(a.restartCount === 1, `restartCount ${a.restartCount}`);
    assert(JSON.stringify(bBefore) === JSON.stringify(bAfter), "container b changed");
    await k(["delete", "pod", "solo", "-n", NS, "--wait=true"]);
    return `a: ${a.imageID} (restartCount 1), b unchanged`;
  });

  await check("Job pods Succeeded, imageIDs kept, Job Complete", async () => {
    await eventually("job batch Complete", 60_000, async () => {
      const out = await k(["get", "job", "batch", "-n", NS, "-o", "jsonpath={.status.conditions[?(@.type==\"Complete\")].status}"]);
      return out.trim() === "True" ? true : undefined;
    });
    const list = await pods("app=batch");
    assert(list.length >= 2, `${list.length} job pods`);
    assert(list.every((p) => p.status.phase === "Succeeded"), list.map((p) => p.status.phase).join(","));
    const problems = list.flatMap((p) => checkImageIDs(p));
    assert(problems.length === 0, problems.join("; "));
    const terminated = list.every((p) =>
      [...(p.status.containerStatuses ?? []), ...(p.status.initContainerStatuses ?? [])].every((s) => s.state?.["terminated"]),
    );
    assert(terminated, "not all containers terminated");
    return `${list.length} pods Succeeded`;
  });

  await check("CronJob creates a Job whose pod Succeeds (waits for the next minute)", async () => {
    const pod = await eventually("tick pod Succeeded", 100_000, async () => {
      const p = await pods("app=tick");
      return p.find((x) => x.status.phase === "Succeeded");
    });
    const problems = checkImageIDs(pod);
    assert(problems.length === 0, problems.join("; "));
    const owner = pod.metadata.ownerReferences?.[0];
    return `${pod.metadata.name} owned by ${owner?.kind}/${owner?.name}`;
  });

  await check("RBAC: ServiceAccount token limited to its ClusterRole", async () => {
    await k(
      ["apply", "-f", "-"],
      `
apiVersion: v1
kind: ServiceAccount
metadata: {name: tracker, namespace: ${NS}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: dt-selftest-pod-reader}
rules:
- {apiGroups: [""], resources: [pods], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: dt-selftest-pod-reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: dt-selftest-pod-reader}
subjects: [{kind: ServiceAccount, name: tracker, namespace: ${NS}}]
`,
    );
    const kubeconfig = await serviceAccountKubeconfig({ stateDir, namespace: NS, name: "tracker" });
    const who = await kubectl(["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"], { stateDir, kubeconfig });
    assert(who === `system:serviceaccount:${NS}:tracker`, `whoami ${who}`);
    const list = await kubectlResult(["get", "pods", "-A", "-o", "name"], { stateDir, kubeconfig });
    assert(list.code === 0, `list pods: ${list.stderr}`);
    const secrets = await kubectlResult(["get", "secrets", "-n", NS], { stateDir, kubeconfig });
    assert(secrets.code !== 0 && /forbidden/i.test(secrets.stderr), `secrets not forbidden: ${secrets.stderr}`);
    const del = await kubectlResult(["delete", "pods", "--all", "-n", NS, "--dry-run=server"], { stateDir, kubeconfig });
    assert(del.code !== 0 && /forbidden/i.test(del.stderr), "delete not forbidden");
    return `${who}: list pods ok (${list.stdout.trim().split("\n").length}), get secrets and delete pods Forbidden`;
  });

  await check("restartApiserver keeps port and data", async () => {
    const start = Date.now();
    await restartApiserver(stateDir);
    const took = elapsed(start);
    const out = await k(["get", "deployment", "web", "-n", NS, "-o", "jsonpath={.status.readyReplicas}"]);
    assert(out.trim() === "2", `readyReplicas ${out}`);
    return `restarted in ${took}, Deployment web still has 2 ready replicas`;
  });

  await check("foreground cascade: deleting the Deployment removes its ReplicaSet and pods", async () => {
    const start = Date.now();
    await k(["delete", "deployment", "web", "-n", NS, "--cascade=foreground", "--wait=true", "--timeout=60s"]);
    const rs = await k(["get", "rs", "-n", NS, "-l", "app=web", "-o", "name"]);
    const left = await pods("app=web");
    assert(rs.trim() === "", `ReplicaSets left: ${rs}`);
    assert(left.length === 0, `pods left: ${left.map((p) => p.metadata.name).join(",")}`);
    return `gone in ${elapsed(start)}`;
  });

  await check("background cascade: deleting the StatefulSet removes its pods", async () => {
    await k(["delete", "statefulset", "db", "-n", NS, "--cascade=background", "--wait=true", "--timeout=60s"]);
    await eventually("db pods gone", 60_000, async () => ((await pods("app=db")).length === 0 ? true : undefined));
  });

  await check("orphan cascade: deleting the DaemonSet keeps its pods (ownerReferences removed)", async () => {
    await k(["delete", "daemonset", "agent", "-n", NS, "--cascade=orphan", "--wait=true", "--timeout=60s"]);
    const list = await eventually("orphaned agent pods", 30_000, async () => {
      const p = await pods("app=agent");
      return p.length === c.nodes.length && p.every((x) => !(x.metadata.ownerReferences ?? []).length) ? p : undefined;
    });
    await k(["delete", "pods", "-n", NS, "-l", "app=agent", "--wait=true", "--timeout=60s"]);
    return `${list.length} pods kept without owner, then deleted`;
  });

  await check("namespace deletion completes", async () => {
    await k(["delete", "namespace", NS, "--wait=true", "--timeout=90s"]);
    await k(["delete", "clusterrole,clusterrolebinding", "dt-selftest-pod-reader"]);
  });

  if (keep) {
    say(`--keep: leaving the control plane running; KUBECONFIG=${c.kubeconfigPath}`);
    return;
  }

  await check("down stops every process and removes the state dir", async () => {
    const { stopped } = await down(stateDir, { log: () => {} });
    const alive = Object.entries(c.pids).filter(([, pid]) => existsSync(`/proc/${pid}`) && !isZombie(pid));
    assert(alive.length === 0, `still alive: ${alive.map(([n, p]) => `${n}=${p}`).join(", ")}`);
    const strays = processesFrom(c.binDir, stateDir).filter((p) => !isZombie(p));
    assert(strays.length === 0, `processes of this cluster still running: ${strays.join(",")}`);
    assert(!existsSync(stateDir), "state dir still exists");
    return `stopped ${stopped.join(", ")}; no process of ${c.binDir} mentions ${stateDir}; state dir removed`;
  });

  await check("watchdog: a control plane tied to a process goes away when it exits", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dt-cluster-selftest-watchdog-"));
    const owner = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"], { stdio: "ignore" });
    try {
      const second = await up({ stateDir: dir, nodes: 1, log: () => {}, stopWhenProcessExits: owner.pid! });
      const start = Date.now();
      owner.kill("SIGKILL");
      await eventually("state dir removed by the watchdog", 30_000, async () => (existsSync(dir) ? undefined : true));
      await eventually("processes gone", 15_000, async () => {
        const left = Object.values(second.pids).filter((p) => existsSync(`/proc/${p}`) && !isZombie(p));
        return left.length === 0 && processesFrom(second.binDir, dir).length === 0 ? true : undefined;
      });
      return `torn down ${elapsed(start)} after the owner was killed`;
    } finally {
      owner.kill("SIGKILL");
      if (existsSync(dir)) await down(dir, { log: () => {} });
    }
  });
}

function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "Z";
  } catch {
    return true;
  }
}

main()
  .catch((err: unknown) => {
    failed++;
    say(`FAIL unexpected: ${err instanceof Error ? err.stack : String(err)}`);
  })
  .finally(async () => {
    if (!keep && existsSync(stateDir)) await down(stateDir, { log: () => {} }).catch(() => {});
    say(`total ${elapsed(t0)}`);
    process.stdout.write(`${passed} passed, ${failed} failed\n`);
    process.exit(failed === 0 ? 0 : 1);
  });

// Fake nodes managed by kwok (label type=kwok).
import { kubectlOrThrow } from "./kubectl.ts";
import { sleep, StartError } from "./processes.ts";

/** kwok is started with --manage-nodes-with-label-selector=<this>. */
export const KWOK_NODE_LABEL = { key: "type", value: "kwok" } as const;

export function nodeNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `kwok-node-${i}`);
}

function nodeManifest(name: string, index: number): object {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      labels: {
        [KWOK_NODE_LABEL.key]: KWOK_NODE_LABEL.value,
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node-role.kubernetes.io/worker": "",
      },
      annotations: {
        "kwok.x-k8s.io/node": "fake",
        "node.alpha.kubernetes.io/ttl": "0",
      },
    },
    spec: {},
    status: {
      // Fake addresses (nothing listens there); pods get IPs from kwok's --cidr.
      addresses: [
        { type: "InternalIP", address: `10.200.0.${index + 1}` },
        { type: "Hostname", address: name },
      ],
    },
  };
}

/** Creates (or keeps) `count` fake nodes. */
export async function createNodes(kubectl: string, kubeconfig: string, count: number): Promise<string[]> {
  const names = nodeNames(count);
  const list = { apiVersion: "v1", kind: "List", items: names.map((n, i) => nodeManifest(n, i)) };
  await kubectlOrThrow(kubectl, kubeconfig, ["apply", "--server-side", "--field-manager=dt-cluster", "-f", "-"], {
    input: JSON.stringify(list),
  });
  return names;
}

type NodeJson = {
  metadata: { name: string };
  spec?: { taints?: { key: string; effect: string }[] };
  status?: { conditions?: { type: string; status: string }[] };
};

/**
 * Waits until every node is Ready (kwok's node stage) and carries no
 * not-ready/unreachable taint (removed by the controller-manager's
 * node-lifecycle controller), so pods can be scheduled.
 */
export async function waitNodesSchedulable(
  kubectl: string,
  kubeconfig: string,
  names: string[],
  timeoutMs: number,
  kwokAlive: () => boolean = () => true,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let state = "";
  for (;;) {
    if (!kwokAlive()) throw new StartError("kwok", "kwok exited while waiting for its nodes to become Ready");
    const out = await kubectlOrThrow(kubectl, kubeconfig, ["get", "nodes", "-o", "json", ...names]);
    // One name gives the object itself, several give a List.
    const parsed = JSON.parse(out) as { items?: NodeJson[] } & NodeJson;
    const items = parsed.items ?? [parsed];
    const pending = items.filter((n) => {
      const ready = n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
      const tainted = (n.spec?.taints ?? []).some((t) =>
        ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"].includes(t.key),
      );
      return !ready || tainted;
    });
    if (pending.length === 0) return;
    state = pending.map((n) => n.metadata.name).join(", ");
    if (Date.now() > deadline) {
      throw new StartError("kwok", `nodes not Ready/schedulable after ${timeoutMs / 1000}s: ${state}`);
    }
    await sleep(500);
  }
}

import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { TestProject } from "vitest/node"
import { down, kubectl, serviceAccountKubeconfig, up } from "../../scripts/cluster/controlPlane.ts"
import { startGitHubSimulator } from "../../scripts/github-sim/simulator.ts"
import { GITHUB_TOKEN, TRACKER_NAMESPACE, TRACKER_SERVICE_ACCOUNT } from "./support/constants.ts"

// Once per run: a real control plane (own state dir under the temp dir) and
// the GitHub simulator, shared by every end-to-end test. Tests reach them
// through `inject(...)`: the cluster via kubectl/kubeconfig paths, the
// simulator over HTTP (its /_sim/* control endpoints).

declare module "vitest" {
  export interface ProvidedContext {
    /** State directory of the control plane (for scripts/cluster/controlPlane.ts calls). */
    readonly clusterDir: string
    /** Admin kubeconfig (client cert in system:masters): for the tests' own kubectl. */
    readonly adminKubeconfig: string
    /** Kubeconfig of the tracker's ServiceAccount, bound only to deploy/manifest.yaml's ClusterRole. */
    readonly trackerKubeconfig: string
    /** The simulator's API base URL (BASE_URL for the tracker). */
    readonly githubUrl: string
    /** Where the simulator's /_sim/* endpoints live. */
    readonly githubOrigin: string
    /** Where each test writes its tracker logs. */
    readonly logDir: string
  }
}

const MANIFEST = new URL("../../deploy/manifest.yaml", import.meta.url)

/**
 * The manifest's RBAC objects (Namespace, ServiceAccount, ClusterRole,
 * ClusterRoleBinding, and the Role and RoleBinding of the state ConfigMap),
 * without the Deployment: the tracker runs here as a local process, but with
 * exactly the permissions it would have in a cluster. Every tracker thus
 * keeps its state in the one ConfigMap the Role allows, under the key of its
 * own (org, cluster, logical environment): a test's org is its own, so no
 * two tests share state (the trackers of one test, e.g. leader election, do).
 */
const rbacDocuments = (manifest: string): string => {
  const documents = manifest.split(/^---\s*$/m).filter((doc) => /^kind:\s*\S/m.test(doc))
  const kinds = ["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"]
  const kept = documents.filter((doc) => kinds.includes(/^kind:\s*(\S+)/m.exec(doc)?.[1] ?? ""))
  if (kept.length !== kinds.length) {
    throw new Error(`deploy/manifest.yaml: expected one each of ${kinds.join(", ")}; found ${kept.length} documents`)
  }
  return kept.join("\n---\n")
}

const log = (message: string) => process.stderr.write(`[e2e setup] ${message}\n`)

export default async function setup(project: TestProject) {
  const started = Date.now()
  const root = mkdtempSync(join(tmpdir(), "dt-e2e-"))
  const clusterDir = join(root, "cluster")
  const logDir = join(root, "logs")
  let simulator: Awaited<ReturnType<typeof startGitHubSimulator>> | undefined

  const teardown = async () => {
    await simulator?.close()
    await down(clusterDir, { log: () => {} }).catch((error: unknown) => log(`control plane teardown: ${String(error)}`))
    if (process.env["DT_E2E_KEEP_LOGS"] === undefined) rmSync(root, { recursive: true, force: true })
    else log(`kept tracker logs in ${logDir}`)
  }

  try {
    const cluster = await up({
      stateDir: clusterDir,
      nodes: 2,
      log: (m) => log(`cluster: ${m}`),
      // Should vitest die without running the teardown, the control plane goes too.
      stopWhenProcessExits: process.pid
    })
    await kubectl(["apply", "-f", "-"], { stateDir: clusterDir, input: rbacDocuments(readFileSync(MANIFEST, "utf8")) })
    const trackerKubeconfig = await serviceAccountKubeconfig({
      stateDir: clusterDir,
      namespace: TRACKER_NAMESPACE,
      name: TRACKER_SERVICE_ACCOUNT
    })
    simulator = await startGitHubSimulator({ tokens: [GITHUB_TOKEN] })
    project.provide("clusterDir", clusterDir)
    project.provide("adminKubeconfig", cluster.kubeconfigPath)
    project.provide("trackerKubeconfig", trackerKubeconfig)
    project.provide("githubUrl", simulator.url)
    project.provide("githubOrigin", simulator.origin)
    project.provide("logDir", logDir)
    log(`control plane ${cluster.apiserverUrl} and GitHub simulator ${simulator.url} ready in ${Date.now() - started} ms`)
  } catch (error) {
    await teardown()
    throw error
  }
  return teardown
}

// Checks what the Dockerfile's runtime image would hold and that it runs,
// without a Docker engine (test/e2e/deploy.test.ts runs the same checks in
// the test suite):
//
//   npm run build && node scripts/package/verify-image-contents.ts [--kubeconfig PATH] [--repo-root DIR]
//
// 1. stages the runtime stage in a temporary folder (imageContents.ts) and
//    checks its contents: the production files, every production package,
//    no dev-only package;
// 2. runs `node dist/main.js --help` there, read-only, as user 65532;
// 3. starts it in-cluster as a pod of the manifest's ServiceAccount would
//    run (its token and CA where the kubelet mounts them,
//    KUBERNETES_SERVICE_HOST/PORT; a fresh local control plane unless
//    --kubeconfig names a ServiceAccount's kubeconfig to take them from) and
//    waits for "Caches synced" and /readyz; prints its RSS; SIGTERM must end
//    it with exit 0.
// --repo-root stages another checkout's package.json, lockfile and dist/.
// Exit status 0 when all of it holds, 1 otherwise.
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { down, kubectl, serviceAccountKubeconfig, up } from "../cluster/controlPlane.ts"
import { freePorts } from "../cluster/processes.ts"
import { contentProblems, inClusterForImage, manifestNodeOptions, REPO_ROOT, runSandboxed, stageImage } from "./imageContents.ts"
import { startImageTracker } from "./imageTracker.ts"

const log = (message: string) => process.stderr.write(`[verify-image] ${message}\n`)

/** The manifest's objects except the Deployment: the ServiceAccount and its ClusterRole. */
const manifestRbac = (): string =>
  readFileSync(join(REPO_ROOT, "deploy", "manifest.yaml"), "utf8")
    .split(/^---\s*$/m)
    .filter((document) => !/^kind:\s*Deployment\s*$/m.test(document))
    .join("\n---\n")

const main = async (): Promise<number> => {
  const { values } = parseArgs({ options: { kubeconfig: { type: "string" }, "repo-root": { type: "string" } } })
  const image = stageImage({ log, ...(values["repo-root"] === undefined ? {} : { repoRoot: values["repo-root"] }) })
  let clusterDir: string | undefined
  try {
    const problems = contentProblems(image.appDir)
    if (problems.length > 0) throw new Error(`image contents:\n${problems.join("\n")}`)
    log(`contents ok: ${image.appDir}`)

    const help = runSandboxed(image, ["dist/main.js", "--help"])
    if (help.status !== 0 || !help.stdout.includes("-metrics-port")) {
      throw new Error(`--help failed (exit ${help.status}):\n${help.stdout}\n${help.stderr}`)
    }
    log("--help ok (read-only, user 65532)")

    let source = values.kubeconfig
    if (source === undefined) {
      clusterDir = mkdtempSync(join(tmpdir(), "dt-verify-image-"))
      await up({ stateDir: clusterDir, nodes: 1, log: (m) => log(`cluster: ${m}`), stopWhenProcessExits: process.pid })
      await kubectl(["apply", "-f", "-"], { stateDir: clusterDir, input: manifestRbac() })
      source = await serviceAccountKubeconfig({ stateDir: clusterDir, namespace: "deployment-tracker", name: "deployment-tracker" })
    }
    const [metricsPort] = await freePorts(1)
    const inCluster = inClusterForImage(source, "deployment-tracker")
    const tracker = startImageTracker(image, {
      kube: { inCluster },
      metricsPort: metricsPort!,
      env: {
        GITHUB_ORG: "verify-image",
        LOGICAL_ENVIRONMENT: "verify",
        CLUSTER: "verify",
        API_TOKEN: "ghp_verify_image_not_used",
        BULK_CLUSTER_SYNC: "false",
        NODE_OPTIONS: manifestNodeOptions()
      }
    })
    try {
      await tracker.waitReady(60_000)
      const rss = await tracker.metric("process_resident_memory_bytes")
      const heap = await tracker.metric("nodejs_heap_size_used_bytes")
      log(`ready: "Caches synced", /readyz 200; RSS ${((rss ?? NaN) / 2 ** 20).toFixed(1)} MiB, heap used ${((heap ?? NaN) / 2 ** 20).toFixed(1)} MiB`)
    } finally {
      const code = await tracker.stop(30_000)
      inCluster.cleanup()
      if (code !== 0) throw new Error(`exit ${code} after SIGTERM:\n${tracker.output().slice(-20).join("\n")}`)
      log("SIGTERM: exit 0")
    }
    return 0
  } finally {
    image.cleanup()
    if (clusterDir !== undefined) {
      await down(clusterDir, { log: () => {} })
      rmSync(clusterDir, { recursive: true, force: true })
    }
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    log(error instanceof Error ? error.message : String(error))
    process.exit(1)
  }
)

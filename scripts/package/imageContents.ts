// The Dockerfile's runtime stage, reproduced without a Docker engine: the
// same files in a fresh temporary folder, the same `npm ci`, the project's
// own Node 24 binary where the image has its Node, and the result run the
// way the manifest runs the container: as user 65532, without capabilities,
// with no way to gain privileges, on a read-only root filesystem.
//
// Layout of the staged "image" (like the distroless one):
//   <root>/nodejs/bin/node    the project's Node 24 (node_modules/.bin/node)
//   <root>/app/               WORKDIR: package.json, package-lock.json, dist/, node_modules/
//
// Read-only: the process runs in a private mount namespace (util-linux
// `unshare`) in which `/` (and /tmp, if it is a mount of its own) are
// remounted read-only, so a write anywhere fails with EROFS as it would in
// the container. As root, `setpriv` then drops to 65532 with no
// capabilities and no_new_privs; as another user, a user namespace makes
// the remount possible and the process keeps that user's (lack of) rights.
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { chmodSync, constants, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { KubeConfig } from "@kubernetes/client-node"
import { mountServiceAccountLines, stageServiceAccount } from "./serviceAccountMount.ts"

export const REPO_ROOT: string = fileURLToPath(new URL("../../", import.meta.url))

/** What the runtime stage copies into WORKDIR besides node_modules (kept equal to the Dockerfile by a test). */
export const PRODUCTION_FILES = ["package.json", "package-lock.json", "dist"] as const

/** The runtime stage's dependency install (kept equal to the Dockerfile by a test). */
export const PRODUCTION_INSTALL = ["ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund"] as const

/** The runtime stage's ENV (kept equal to the Dockerfile by a test): the staged image runs with it. */
export const IMAGE_ENV: Readonly<Record<string, string>> = {
  NODE_ENV: "production",
  MALLOC_ARENA_MAX: "2",
  MALLOC_TRIM_THRESHOLD_: "131072",
  MALLOC_MMAP_THRESHOLD_: "32768"
}

/** The image's user (distroless `nonroot`), which the manifest also sets. */
export const RUNTIME_UID = 65532

export interface StagedImage {
  /** The image's root: nodejs/ and app/. */
  readonly root: string
  /** WORKDIR of the image. */
  readonly appDir: string
  /** The Node binary, at nodejs/bin/node like the distroless image. */
  readonly node: string
  readonly cleanup: () => void
}

/** The project's Node 24: the `node` dev dependency's binary. */
export const projectNode = (repoRoot: string = REPO_ROOT): string => {
  const node = realpathSync(join(repoRoot, "node_modules", ".bin", "node"))
  const version = spawnSync(node, ["--version"], { encoding: "utf8" }).stdout.trim()
  if (!/^v24\./.test(version)) throw new Error(`${node} is Node ${version || "(unknown)"}, the image runs Node 24`)
  return node
}

const run = (command: string, args: ReadonlyArray<string>, cwd: string, node: string): void => {
  const env = { ...process.env, PATH: `${dirname(node)}:${process.env["PATH"] ?? ""}`, npm_config_update_notifier: "false" }
  const result = spawnSync(command, args, { cwd, encoding: "utf8", env })
  if (result.error !== undefined) throw result.error
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(" ")} failed (exit ${result.status}):\n${result.stdout}\n${result.stderr}`.slice(-4000))
  }
}

/**
 * Stages the runtime image in a new temporary folder from the repository's
 * package.json, package-lock.json and built dist/ (`npm run build` first).
 */
export const stageImage = (options: { readonly repoRoot?: string; readonly log?: (message: string) => void } = {}): StagedImage => {
  const repoRoot = options.repoRoot ?? REPO_ROOT
  const log = options.log ?? (() => {})
  if (!existsSync(join(repoRoot, "dist", "main.js"))) throw new Error(`${repoRoot}dist/main.js is missing: run npm run build first`)
  const node = projectNode(repoRoot)
  const root = mkdtempSync(join(tmpdir(), "dt-image-"))
  const cleanup = () => rmSync(root, { recursive: true, force: true })
  try {
    // mkdtemp makes the folder private to its owner; the image's user must reach it.
    chmodSync(root, 0o755)
    const appDir = join(root, "app")
    const nodeDir = join(root, "nodejs", "bin")
    mkdirSync(appDir)
    mkdirSync(nodeDir, { recursive: true })
    for (const file of PRODUCTION_FILES) cpSync(join(repoRoot, file), join(appDir, file), { recursive: true })
    const staged = join(nodeDir, "node")
    copyFileSync(node, staged, constants.COPYFILE_FICLONE)
    chmodSync(staged, 0o755)
    log(`npm ${PRODUCTION_INSTALL.join(" ")} in ${appDir}`)
    // npm itself runs on the project's Node too, as npm scripts do.
    run("npm", PRODUCTION_INSTALL, appDir, node)
    return { root, appDir, node: staged, cleanup }
  } catch (error) {
    cleanup()
    throw error
  }
}

interface LockPackage {
  readonly dev?: boolean
  readonly optional?: boolean
  readonly devOptional?: boolean
}

/**
 * What is wrong with a staged image's WORKDIR, as sentences (none: right):
 * exactly the production files and node_modules at the top, every
 * production package of the lockfile installed, no dev-only package.
 */
export const contentProblems = (appDir: string): ReadonlyArray<string> => {
  const problems: Array<string> = []
  const expectedTop = [...PRODUCTION_FILES, "node_modules"].sort()
  const top = readdirSync(appDir).sort()
  if (JSON.stringify(top) !== JSON.stringify(expectedTop)) problems.push(`WORKDIR holds ${top.join(", ")}; expected ${expectedTop.join(", ")}`)
  if (!existsSync(join(appDir, "dist", "main.js"))) problems.push("dist/main.js is missing")
  const lock = JSON.parse(readFileSync(join(appDir, "package-lock.json"), "utf8")) as { packages: Record<string, LockPackage> }
  for (const [path, info] of Object.entries(lock.packages)) {
    if (path === "" || !path.startsWith("node_modules/")) continue
    const present = existsSync(join(appDir, path, "package.json"))
    if (info.dev === true && present) problems.push(`dev-only package ${path} is installed`)
    // Optional packages (platform-specific binaries) may rightly be absent.
    const optional = info.optional === true || info.devOptional === true
    if (info.dev !== true && !optional && !present) problems.push(`production package ${path} is missing`)
  }
  return problems
}

/** Options of a sandboxed run. */
export interface SandboxOptions {
  /**
   * A folder with the pod's service account files (inClusterForImage), to
   * appear at /var/run/secrets/kubernetes.io/serviceaccount as the kubelet
   * mounts them.
   */
  readonly serviceAccountDir?: string
}

/**
 * The command that runs `node <args>` in the staged WORKDIR as the container
 * would. The wrapper refuses to start the program when a write to WORKDIR or
 * /tmp still succeeds (exit 97), so a sandbox that silently failed cannot
 * pass for a read-only one.
 */
export const sandboxedCommand = (
  image: StagedImage,
  args: ReadonlyArray<string>,
  options: SandboxOptions = {}
): { command: string; args: Array<string> } => {
  const asRoot = process.getuid?.() === 0
  const script = [
    "set -e",
    "mount --make-rprivate /",
    ...(options.serviceAccountDir === undefined ? [] : mountServiceAccountLines(JSON.stringify(options.serviceAccountDir))),
    "mount -o remount,bind,ro /",
    "if mountpoint -q /tmp; then mount -o remount,bind,ro /tmp; fi",
    `cd "$1"`,
    `for probe in "$1/.write-probe" /tmp/.dt-write-probe; do if ( : > "$probe" ) 2>/dev/null; then echo "sandbox: $probe is writable" >&2; exit 97; fi; done`,
    "shift",
    asRoot
      ? `exec setpriv --reuid=${RUNTIME_UID} --regid=${RUNTIME_UID} --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs "$@"`
      : `exec "$@"`
  ].join("\n")
  const namespaces = asRoot ? ["--mount"] : ["--user", "--map-root-user", "--mount"]
  return { command: "unshare", args: [...namespaces, "sh", "-c", script, "sandbox", image.appDir, image.node, ...args] }
}

/** Runs `node <args>` in the sandbox to completion (e.g. `dist/main.js --help`). */
export const runSandboxed = (
  image: StagedImage,
  args: ReadonlyArray<string>,
  env: Readonly<Record<string, string>> = {},
  options: SandboxOptions = {}
): { status: number | null; stdout: string; stderr: string } => {
  const { command, args: argv } = sandboxedCommand(image, args, options)
  const result = spawnSync(command, argv, { encoding: "utf8", env: { PATH: process.env["PATH"] ?? "", HOME: image.appDir, ...IMAGE_ENV, ...env } })
  if (result.error !== undefined) throw result.error
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

/** Starts `node <args>` in the sandbox; output is the caller's to read. */
export const spawnSandboxed = (
  image: StagedImage,
  args: ReadonlyArray<string>,
  env: Readonly<Record<string, string>> = {},
  options: SandboxOptions = {}
): ChildProcess => {
  const { command, args: argv } = sandboxedCommand(image, args, options)
  return spawn(command, argv, { env: { PATH: process.env["PATH"] ?? "", HOME: image.appDir, ...IMAGE_ENV, ...env }, stdio: ["ignore", "pipe", "pipe"] })
}

/** What a pod has to find its API server: the service account files and the service's address. */
export interface InClusterSetup {
  /** Mounted where the kubelet mounts the service account (SandboxOptions.serviceAccountDir). */
  readonly serviceAccountDir: string
  /** KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT, as the kubelet sets them. */
  readonly env: Readonly<Record<string, string>>
  readonly cleanup: () => void
}

/**
 * The in-cluster setup of a ServiceAccount's kubeconfig (a bearer token):
 * its token, its cluster's CA and the API server's address, as a pod of
 * that ServiceAccount would be given them, readable by the image's user.
 */
export const inClusterForImage = (source: string, namespace: string): InClusterSetup => {
  const config = new KubeConfig()
  config.loadFromFile(source)
  const cluster = config.getCurrentCluster()
  const token = config.getCurrentUser()?.token
  if (cluster === null || token === undefined) throw new Error(`${source}: no current cluster or no bearer token`)
  const ca = cluster.caData !== undefined
    ? Buffer.from(cluster.caData, "base64").toString("utf8")
    : readFileSync(cluster.caFile ?? "", "utf8")
  const server = new URL(cluster.server)
  const serviceAccountDir = stageServiceAccount({ token, ca, namespace }, { uid: RUNTIME_UID })
  return {
    serviceAccountDir,
    env: { KUBERNETES_SERVICE_HOST: server.hostname.replace(/^\[|\]$/g, ""), KUBERNETES_SERVICE_PORT: server.port || "443" },
    cleanup: () => rmSync(serviceAccountDir, { recursive: true, force: true })
  }
}

/**
 * The NODE_OPTIONS the manifest's container sets (read at run time, so the
 * benchmark follows the manifest). A plain text match: the manifest lists
 * env entries as `- name: X` followed by `value: "…"`.
 */
export const manifestNodeOptions = (): string => {
  const match = /- name: NODE_OPTIONS\s*\n\s*value:\s*"?([^"\n]*)"?/.exec(readFileSync(`${REPO_ROOT}deploy/manifest.yaml`, "utf8"))
  if (match === null) throw new Error(`deploy/manifest.yaml sets no NODE_OPTIONS`)
  return match[1]!.trim()
}

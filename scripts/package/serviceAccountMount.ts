// A pod's service account volume for a process run outside a pod: the
// kubelet mounts the token, the cluster's CA and the namespace at
// /var/run/secrets/kubernetes.io/serviceaccount. Here the same files from a
// folder of ours appear at that path inside a private mount namespace
// (util-linux `unshare`), so the program reads them where it would in a pod
// and needs no test-only way to be told another path. Nothing changes on the
// host: /var/run is covered by a tmpfs seen only inside the namespace.
import { chmodSync, chownSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

export const SERVICE_ACCOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"

export interface ServiceAccountFiles {
  readonly token: string
  /** PEM of the CA that signed the API server's certificate. */
  readonly ca: string
  readonly namespace: string
}

/**
 * Writes the three files to a new folder readable by `uid` (the image's
 * user when running as root) and returns the folder.
 */
export const stageServiceAccount = (files: ServiceAccountFiles, options: { readonly uid?: number } = {}): string => {
  const dir = mkdtempSync(join(tmpdir(), "dt-serviceaccount-"))
  chmodSync(dir, 0o755)
  for (const [name, content] of [["token", files.token], ["ca.crt", files.ca], ["namespace", files.namespace]] as const) {
    const path = join(dir, name)
    writeFileSync(path, content)
    chmodSync(path, 0o444)
    if (options.uid !== undefined && process.getuid?.() === 0) chownSync(path, options.uid, options.uid)
  }
  return dir
}

/**
 * Shell lines (for `sh -c`, inside `unshare --mount`, after
 * `mount --make-rprivate /`) that mount `dir` at SERVICE_ACCOUNT_PATH,
 * read-only. `dir` is a shell word (e.g. "$SA").
 */
export const mountServiceAccountLines = (dir: string): ReadonlyArray<string> => [
  // /var/run is usually a symlink to /run; cover whichever is the real folder.
  `run_dir=$(readlink -f /var/run)`,
  `mount -t tmpfs -o mode=755 tmpfs "$run_dir"`,
  `mkdir -p "$run_dir/secrets/kubernetes.io/serviceaccount"`,
  `mount --bind ${dir} "$run_dir/secrets/kubernetes.io/serviceaccount"`,
  `mount -o remount,bind,ro "$run_dir/secrets/kubernetes.io/serviceaccount"`,
  `mount -o remount,ro "$run_dir"`
]

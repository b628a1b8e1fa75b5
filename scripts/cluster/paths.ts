// Where things live: the repo's cluster directory, the binary cache and the
// runtime state directory.
import { homedir } from "node:os";
import { join, resolve } from "node:path";

/** scripts/cluster in the repository. */
export const clusterScriptsDir: string = import.meta.dirname;

/** scripts/cluster/go: the builder modules (etcd, k8s, kwok, pki). */
export const builderModulesDir: string = join(clusterScriptsDir, "go");

/** scripts/cluster/stages: our kwok Stage YAMLs. */
export const stagesDir: string = join(clusterScriptsDir, "stages");

/** Root of the binary cache: ${XDG_CACHE_HOME:-$HOME/.cache}/deployment-tracker/cluster (env DT_CLUSTER_CACHE overrides). */
export function cacheRoot(): string {
  const override = process.env["DT_CLUSTER_CACHE"];
  if (override) return resolve(override);
  const base = process.env["XDG_CACHE_HOME"] || join(homedir(), ".cache");
  return join(base, "deployment-tracker", "cluster");
}

/** Runtime state: ${XDG_STATE_HOME:-$HOME/.local/state}/deployment-tracker/cluster (env DT_CLUSTER_DIR overrides). */
export function defaultStateDir(): string {
  const override = process.env["DT_CLUSTER_DIR"];
  if (override) return resolve(override);
  const base = process.env["XDG_STATE_HOME"] || join(homedir(), ".local", "state");
  return join(base, "deployment-tracker", "cluster");
}

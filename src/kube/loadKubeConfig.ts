import { existsSync } from "node:fs"
import { homedir } from "node:os"
import { join } from "node:path"
import { KubeConfig } from "@kubernetes/client-node"
import { Either, Option } from "effect"

const SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"

/**
 * Finds cluster credentials in the original's order: the `-kubeconfig`
 * flag, then `KUBECONFIG`, then the in-cluster service account, then
 * `~/.kube/config`. Returns the setting at fault and why on failure.
 */
export const loadKubeConfig = (
  flag: Option.Option<string>,
  env: Readonly<Record<string, string | undefined>>
): Either.Either<KubeConfig, { readonly setting: string; readonly message: string }> => {
  const kc = new KubeConfig()
  const attempt = (setting: string, load: () => void) => {
    try {
      load()
    } catch (error) {
      return Either.left({ setting, message: `cannot load kubeconfig: ${(error as Error).message}` })
    }
    const server = kc.getCurrentCluster()?.server ?? ""
    if (server.startsWith("http://") && kc.getCurrentCluster()?.skipTLSVerify !== true) {
      // @kubernetes/client-node refuses plain HTTP unless TLS checks are
      // explicitly off; say so now rather than fail at the first request.
      return Either.left({ setting, message: `plain http:// API server ${server} needs insecure-skip-tls-verify: true` })
    }
    return kc.getCurrentCluster() === null
      ? Either.left({ setting, message: "kubeconfig has no current context/cluster" })
      : Either.right(kc)
  }
  if (Option.isSome(flag)) {
    const path = flag.value
    if (!existsSync(path)) return Either.left({ setting: "-kubeconfig", message: `file ${path} does not exist` })
    return attempt("-kubeconfig", () => kc.loadFromFile(path))
  }
  if (env["KUBECONFIG"] !== undefined && env["KUBECONFIG"] !== "") {
    return attempt("KUBECONFIG", () => kc.loadFromDefault())
  }
  if (env["KUBERNETES_SERVICE_HOST"] !== undefined && existsSync(SERVICE_ACCOUNT_TOKEN)) {
    return attempt("in-cluster config", () => kc.loadFromCluster())
  }
  const home = join(homedir(), ".kube", "config")
  if (existsSync(home)) return attempt("~/.kube/config", () => kc.loadFromFile(home))
  return Either.left({
    setting: "-kubeconfig",
    message: "no cluster credentials: pass -kubeconfig, set KUBECONFIG, run in a pod, or create ~/.kube/config"
  })
}

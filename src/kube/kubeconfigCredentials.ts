import { KubeConfig } from "@kubernetes/client-node"
import { Effect, Either, Option } from "effect"
import { type ClusterCredentials, CredentialsError, type TlsMaterial } from "./ClusterCredentials.ts"
import { clusterProxy } from "./clusterProxy.ts"

// Credentials from a kubeconfig file, with its full semantics (exec
// plugins, OIDC, client certificates, merged KUBECONFIG lists) through
// @kubernetes/client-node. This module is imported only when a kubeconfig
// is used (loadKubeConfig.ts): the library loads its whole generated API.

/** How a kubeconfig is found: the setting it came from and how to load it. */
export type KubeconfigSource =
  | { readonly setting: "-kubeconfig" | "~/.kube/config"; readonly path: string }
  /** KUBECONFIG's list of files, merged in order (the first one's current context wins, as with kubectl). */
  | { readonly setting: "KUBECONFIG"; readonly paths: ReadonlyArray<string> }

interface HttpsOptions {
  headers?: Record<string, string>
  ca?: Buffer
  cert?: Buffer
  key?: Buffer
  rejectUnauthorized?: boolean
  servername?: string
}

const credentialsError = (cause: unknown) =>
  new CredentialsError({
    message: `cannot get cluster credentials: ${cause instanceof Error ? cause.message : String(cause)}`
  })

/**
 * KubeConfig fills a node https options object: its headers (tokens from
 * exec plugins or OIDC, refreshed as they expire) and TLS files, re-read on
 * each call.
 */
const applied = (kc: KubeConfig) =>
  Effect.tryPromise({
    try: async () => {
      const options: HttpsOptions = {}
      await kc.applyToHTTPSOptions(options as never)
      return options
    },
    catch: credentialsError
  })

/** Loads the kubeconfig; the setting at fault and why on failure. */
export const loadKubeconfigCredentials = (
  source: KubeconfigSource
): Either.Either<ClusterCredentials, { readonly setting: string; readonly message: string }> => {
  const kc = new KubeConfig()
  try {
    if (source.setting === "KUBECONFIG") {
      const [first = "", ...rest] = source.paths
      kc.loadFromFile(first)
      for (const path of rest) {
        const next = new KubeConfig()
        next.loadFromFile(path)
        // Keep the first file's current context, as client-go (the original) and kubectl do.
        kc.mergeConfig(next, true)
      }
    } else kc.loadFromFile(source.path)
  } catch (error) {
    return Either.left({ setting: source.setting, message: `cannot load kubeconfig: ${(error as Error).message}` })
  }
  const cluster = kc.getCurrentCluster()
  if (cluster === null) return Either.left({ setting: source.setting, message: "kubeconfig has no current context/cluster" })
  if (cluster.server.startsWith("http://") && cluster.skipTLSVerify !== true) {
    // @kubernetes/client-node refuses plain HTTP unless TLS checks are
    // explicitly off; say so now rather than fail at the first request.
    return Either.left({ setting: source.setting, message: `plain http:// API server ${cluster.server} needs insecure-skip-tls-verify: true` })
  }
  const proxy = cluster.proxyUrl === undefined || cluster.proxyUrl === ""
    ? Either.right(Option.none())
    : Either.map(clusterProxy(cluster.name, cluster.proxyUrl), Option.some)
  if (Either.isLeft(proxy)) return Either.left({ setting: source.setting, message: proxy.left })
  return Either.right({
    source: source.setting,
    proxy: proxy.right,
    server: cluster.server.replace(/\/+$/, ""),
    tls: Effect.map(applied(kc), (o): TlsMaterial => ({
      ...(o.ca !== undefined ? { ca: o.ca } : {}),
      ...(o.cert !== undefined ? { cert: o.cert } : {}),
      ...(o.key !== undefined ? { key: o.key } : {}),
      ...(o.servername !== undefined ? { servername: o.servername } : {}),
      ...(o.rejectUnauthorized !== undefined ? { rejectUnauthorized: o.rejectUnauthorized } : {})
    })),
    headers: Effect.map(applied(kc), (o) => o.headers ?? {})
  })
}

import * as FileSystem from "@effect/platform/FileSystem"
import { homedir } from "node:os"
import { delimiter, join } from "node:path"
import { Data, Effect, Either, Option } from "effect"
import type { ClusterCredentials } from "./ClusterCredentials.ts"
import { makeInClusterCredentials, SERVICE_ACCOUNT_FILES, type ServiceAccountFiles } from "./inClusterCredentials.ts"
import type { KubeconfigSource } from "./kubeconfigCredentials.ts"

/** No usable cluster credentials; `setting` names what to fix. */
export class KubeConfigError extends Data.TaggedError("KubeConfigError")<{
  readonly setting: string
  readonly message: string
}> {}

/** Where credentials are looked for besides the flag and the environment (tests point these elsewhere). */
export interface CredentialLocations {
  readonly serviceAccount: ServiceAccountFiles
  readonly homeKubeconfig: string
}

const defaultLocations = (): CredentialLocations => ({
  serviceAccount: SERVICE_ACCOUNT_FILES,
  homeKubeconfig: join(homedir(), ".kube", "config")
})

/**
 * A kubeconfig file, through @kubernetes/client-node, imported only now:
 * a pod running in-cluster never loads it (nor its generated API).
 */
const fromKubeconfig = (source: KubeconfigSource) =>
  Effect.promise(() => import("./kubeconfigCredentials.ts")).pipe(
    Effect.flatMap(({ loadKubeconfigCredentials }) =>
      Either.mapLeft(loadKubeconfigCredentials(source), (problem) => new KubeConfigError(problem))
    )
  )

/**
 * Finds cluster credentials in the original's order: the `-kubeconfig`
 * flag, then `KUBECONFIG`, then the in-cluster service account (when
 * `KUBERNETES_SERVICE_HOST` is set and the token file exists), then
 * `~/.kube/config`.
 */
export const loadKubeConfig = (
  flag: Option.Option<string>,
  env: Readonly<Record<string, string | undefined>>,
  locations: CredentialLocations = defaultLocations()
): Effect.Effect<ClusterCredentials, KubeConfigError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const exists = (path: string) => fs.exists(path).pipe(Effect.orElseSucceed(() => false))
    if (Option.isSome(flag)) {
      const path = flag.value
      if (!(yield* exists(path))) return yield* new KubeConfigError({ setting: "-kubeconfig", message: `file ${path} does not exist` })
      return yield* fromKubeconfig({ setting: "-kubeconfig", path })
    }
    const kubeconfigPaths = (env["KUBECONFIG"] ?? "").split(delimiter).filter((path) => path !== "")
    if (kubeconfigPaths.length > 0) return yield* fromKubeconfig({ setting: "KUBECONFIG", paths: kubeconfigPaths })
    const serviceHost = env["KUBERNETES_SERVICE_HOST"] ?? ""
    const serviceAccount = serviceHost !== "" && (yield* exists(locations.serviceAccount.token))
    if (serviceAccount) {
      return yield* makeInClusterCredentials(
        { host: serviceHost, port: env["KUBERNETES_SERVICE_PORT"] },
        locations.serviceAccount
      ).pipe(Effect.mapError((e) => new KubeConfigError({ setting: e.setting, message: e.message })))
    }
    if (yield* exists(locations.homeKubeconfig)) {
      return yield* fromKubeconfig({ setting: "~/.kube/config", path: locations.homeKubeconfig })
    }
    return yield* new KubeConfigError({
      setting: "-kubeconfig",
      message: serviceHost === ""
        ? "no cluster credentials: pass -kubeconfig, set KUBECONFIG, run in a pod, or create ~/.kube/config"
        // In a pod without its token (automountServiceAccountToken: false): say so.
        : `no cluster credentials: KUBERNETES_SERVICE_HOST is set but ${locations.serviceAccount.token} does not exist; pass -kubeconfig, set KUBECONFIG, or mount the service account token`
    })
  })

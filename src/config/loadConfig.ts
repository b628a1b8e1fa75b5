import type { FileSystem } from "@effect/platform"
import { Duration, Effect, Option } from "effect"
import { FLAGS, parseFlags } from "./cli.ts"
import type { ControllerConfig } from "./Config.ts"
import { planCredentials, resolveCredentials } from "./credentials.ts"
import { ENVIRONMENT_VARIABLES, readEnvironment } from "./environment.ts"
import type { ConfigError, HelpRequested } from "./errors.ts"
import { namespaceScope } from "./namespaceScope.ts"
import { decodeSettings } from "./settings.ts"

export { ConfigError, HelpRequested } from "./errors.ts"
export { helpText } from "./help.ts"

export interface LoadedConfig {
  readonly config: ControllerConfig
  /** Problems that do not stop the controller (an unknown LOG_LEVEL, an ignored API_TOKEN); log them once logging is set up. */
  readonly warnings: ReadonlyArray<string>
}

/**
 * Reads the command line and the environment once, at start: flags first (so
 * `-help` works whatever the environment), then every setting, then the rules
 * between settings, then the App's private key (from its file when it has one).
 */
export const loadConfig = (
  argv: ReadonlyArray<string>,
  env: Readonly<Record<string, string | undefined>>
): Effect.Effect<LoadedConfig, ConfigError | HelpRequested, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const flags = yield* parseFlags(FLAGS, argv)
    const environment = yield* readEnvironment(ENVIRONMENT_VARIABLES, env)
    const settings = yield* decodeSettings({ ...flags, ...environment.values }, environment.givenAs)
    const namespaces = yield* namespaceScope(settings)
    const { plan, warnings: credentialWarnings } = yield* planCredentials(settings, environment.givenAs)
    const credentials = yield* resolveCredentials(plan)

    const logLevel = settings.LOG_LEVEL
    const config: ControllerConfig = {
      kubeconfig: Option.fromNullable(settings["-kubeconfig"]),
      namespaces,
      workers: settings["-workers"],
      metricsPort: settings["-metrics-port"],
      org: settings.GITHUB_ORG,
      logicalEnvironment: settings.LOGICAL_ENVIRONMENT,
      physicalEnvironment: settings.PHYSICAL_ENVIRONMENT,
      cluster: settings.CLUSTER,
      baseUrl: settings.BASE_URL,
      deploymentNameTemplate: settings.DN_TEMPLATE,
      bulkClusterSync: settings.BULK_CLUSTER_SYNC,
      credentials,
      logLevel: logLevel.level,
      apiRatePerSecond: settings.API_RATE_LIMIT,
      apiBurst: settings.API_BURST,
      apiRequestTimeout: Duration.seconds(settings.API_TIMEOUT_SECONDS),
      shutdownDrainTimeout: Duration.seconds(settings.SHUTDOWN_TIMEOUT_SECONDS)
    }
    const warnings = [...(logLevel.warning === undefined ? [] : [logLevel.warning]), ...credentialWarnings]
    return { config, warnings }
  })

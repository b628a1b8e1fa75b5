import type { FileSystem } from "@effect/platform"
import { Duration, Effect, Option, Redacted } from "effect"
import { FLAGS, parseFlags } from "./cli.ts"
import type { ControllerConfig } from "./Config.ts"
import { loadExtraCertificates } from "./certificates.ts"
import { planCredentials, resolveCredentials } from "./credentials.ts"
import type { EgressSettings } from "./egress.ts"
import { ENVIRONMENT_VARIABLES, readEnvironment } from "./environment.ts"
import { type ConfigError, type HelpRequested, invalidSetting } from "./errors.ts"
import { namespaceScope } from "./namespaceScope.ts"
import { decodeSettings, type Settings } from "./settings.ts"

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
 * between settings, then the App's private key (from its file when it has
 * one) and the CA certificates of SSL_CERT_FILE / SSL_CERT_DIR.
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
    const leaderElection = yield* leaderElectionSettings(settings)
    const egress: EgressSettings = {
      httpsProxy: Option.fromNullable(settings.HTTPS_PROXY),
      httpProxy: Option.fromNullable(settings.HTTP_PROXY),
      noProxy: settings.NO_PROXY ?? "",
      extraCaCertificates: yield* loadExtraCertificates(settings)
    }

    const logLevel = settings.LOG_LEVEL
    const config: ControllerConfig = {
      kubeconfig: Option.fromNullable(settings["-kubeconfig"]),
      namespaces,
      namespaceSelector: Option.fromNullable(settings["-namespace-selector"]),
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
      shutdownDrainTimeout: Duration.seconds(settings.SHUTDOWN_TIMEOUT_SECONDS),
      dryRun: settings["-dry-run"],
      kubeEvents: settings["-kube-events"],
      podName: Option.fromNullable(settings.POD_NAME),
      leaderElection,
      deployedState: settings["-state-configmap"] === ""
        ? Option.none()
        : Option.some({ configMapName: settings["-state-configmap"], namespace: settings.POD_NAMESPACE ?? "deployment-tracker" }),
      tracing: tracingSettings(settings, egress),
      egress,
      resyncPeriod: settings["-resync-period"] === 0 ? Option.none() : Option.some(Duration.millis(settings["-resync-period"])),
      kubeApiQps: settings["-kube-api-qps"],
      kubeApiBurst: settings["-kube-api-burst"]
    }
    const warnings = [...(logLevel.warning === undefined ? [] : [logLevel.warning]), ...credentialWarnings]
    return { config, warnings }
  })

/**
 * client-go's rule between the three durations: a standby must not take over
 * while the leader may still be renewing, and a renewal gets at least one retry.
 */
const leaderElectionSettings = (settings: Settings) =>
  Effect.gen(function*() {
    if (!settings["-leader-elect"]) return Option.none()
    const leaseDuration = settings["-leader-elect-lease-duration"]
    const renewDeadline = settings["-leader-elect-renew-deadline"]
    const retryPeriod = settings["-leader-elect-retry-period"]
    if (!(leaseDuration > renewDeadline)) {
      return yield* invalidSetting("-leader-elect-renew-deadline", "must be shorter than -leader-elect-lease-duration")
    }
    if (!(renewDeadline > 1.2 * retryPeriod)) {
      return yield* invalidSetting("-leader-elect-retry-period", "must be shorter than -leader-elect-renew-deadline / 1.2")
    }
    return Option.some({
      leaseName: settings["-leader-elect-resource-name"],
      leaseNamespace: settings["-leader-elect-resource-namespace"] ?? settings.POD_NAMESPACE ?? "deployment-tracker",
      identity: Option.fromNullable(settings.POD_NAME),
      leaseDuration: Duration.millis(leaseDuration),
      renewDeadline: Duration.millis(renewDeadline),
      retryPeriod: Duration.millis(retryPeriod)
    })
  })

/** The OTel specification's rule: a signal-specific endpoint is used as is; the general one gets `/v1/traces` appended. */
const tracingSettings = (settings: Settings, egress: EgressSettings) => {
  const specific = settings.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
  const general = settings.OTEL_EXPORTER_OTLP_ENDPOINT
  const tracesUrl = specific ?? (general === undefined ? undefined : `${general.replace(/\/+$/, "")}/v1/traces`)
  if (tracesUrl === undefined) return Option.none()
  return Option.some({
    tracesUrl,
    headers: settings.OTEL_EXPORTER_OTLP_HEADERS ?? Redacted.make({}),
    serviceName: settings.OTEL_SERVICE_NAME,
    egress
  })
}

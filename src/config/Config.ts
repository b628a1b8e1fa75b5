import { Context, type Duration, type Option, type Redacted } from "effect"
import type { EgressSettings } from "./egress.ts"

/**
 * How the controller authenticates to GitHub. App credentials win over a PAT
 * when both are complete (the original's rule). None: no Authorization
 * header at all, for a BASE_URL that adds credentials itself (the
 * original's own example points BASE_URL at such a service).
 */
export type GitHubCredentials =
  | { readonly _tag: "None" }
  | { readonly _tag: "Token"; readonly token: Redacted.Redacted<string> }
  | {
    readonly _tag: "App"
    /** Numeric App ID or the App's client ID (both are accepted as JWT issuer). */
    readonly appId: string
    readonly installationId: string
    /** PEM text of the private key (PKCS#1 or PKCS#8), read at start-up. */
    readonly privateKey: Redacted.Redacted<string>
  }

export type LogLevelName = "DEBUG" | "INFO" | "WARN" | "ERROR"

/**
 * Which namespaces the watches cover. Applied on the server: a namespaced
 * path, or a field selector of `metadata.namespace!=` terms.
 */
export type NamespaceScope =
  | { readonly _tag: "All" }
  | { readonly _tag: "Only"; readonly namespace: string }
  | { readonly _tag: "Exclude"; readonly namespaces: ReadonlyArray<string> }

/** `-leader-elect`: the Lease and its timing (client-go's semantics). */
export interface LeaderElectionSettings {
  readonly leaseName: string
  readonly leaseNamespace: string
  /** POD_NAME when set; otherwise the elector makes one from the host name and a random suffix. */
  readonly identity: Option.Option<string>
  readonly leaseDuration: Duration.Duration
  readonly renewDeadline: Duration.Duration
  readonly retryPeriod: Duration.Duration
}

/** `-state-configmap`: where the names reported as deployed are kept across restarts. */
export interface DeployedStateSettings {
  readonly configMapName: string
  /** POD_NAMESPACE, else `deployment-tracker`. */
  readonly namespace: string
}

/** OpenTelemetry trace export over OTLP/HTTP, on only when a collector URL is set. */
export interface TracingSettings {
  /** The full traces URL, e.g. `http://collector:4318/v1/traces`. */
  readonly tracesUrl: string
  /** Sent with every export; may hold an API key. */
  readonly headers: Redacted.Redacted<Readonly<Record<string, string>>>
  readonly serviceName: string
  /** Proxy and CAs for the collector connection; absent: direct, Node's CAs. */
  readonly egress?: EgressSettings
}

/** The validated settings of one controller process. Read once at start. */
export interface ControllerConfig {
  /** `-kubeconfig`; none means KUBECONFIG, then in-cluster, then ~/.kube/config. */
  readonly kubeconfig: Option.Option<string>
  readonly namespaces: NamespaceScope
  /** `-namespace-selector`: only namespaces whose labels match are reported. */
  readonly namespaceSelector: Option.Option<string>
  /** `-workers`, 1..100. */
  readonly workers: number
  /** `-metrics-port`, 1..65535. */
  readonly metricsPort: number

  readonly org: string
  readonly logicalEnvironment: string
  readonly physicalEnvironment: string
  readonly cluster: string
  /** Normalised API base URL without a trailing slash, e.g. `https://api.github.com`. */
  readonly baseUrl: string
  readonly deploymentNameTemplate: string
  readonly bulkClusterSync: boolean
  readonly credentials: GitHubCredentials
  readonly logLevel: LogLevelName

  /** Outgoing request budget towards GitHub: sustained rate and burst. */
  readonly apiRatePerSecond: number
  readonly apiBurst: number
  /** Upper bound of one HTTP attempt to GitHub. */
  readonly apiRequestTimeout: Duration.Duration
  /** How long shutdown may spend finishing in-flight and queued work. */
  readonly shutdownDrainTimeout: Duration.Duration

  /** `-dry-run`: records are built, validated, logged and counted but never sent. */
  readonly dryRun: boolean
  /** `-kube-events`: outcomes shown as Kubernetes Events on the workload objects (never with `-dry-run`). */
  readonly kubeEvents: boolean
  /** POD_NAME: this replica's pod (the Events' reportingInstance; unset: the host name). */
  readonly podName: Option.Option<string>
  /** `-leader-elect`; none when off. */
  readonly leaderElection: Option.Option<LeaderElectionSettings>
  /** `-state-configmap`; none when set to "" (no persistence). */
  readonly deployedState: Option.Option<DeployedStateSettings>
  readonly tracing: Option.Option<TracingSettings>
  /** `-resync-period`: every workload is reconciled again this often; none when 0. */
  readonly resyncPeriod: Option.Option<Duration.Duration>
  /** `-kube-api-qps` / `-kube-api-burst`: the budget of Kubernetes API reads besides the watches (0: no limit). */
  readonly kubeApiQps: number
  readonly kubeApiBurst: number
  /**
   * Proxy (HTTPS_PROXY, HTTP_PROXY, NO_PROXY) and extra CAs (SSL_CERT_FILE,
   * SSL_CERT_DIR) of the connections to GitHub; absent: direct, Node's CAs.
   */
  readonly egress?: EgressSettings
}

export class Config extends Context.Tag("deployment-tracker/Config")<Config, ControllerConfig>() {}

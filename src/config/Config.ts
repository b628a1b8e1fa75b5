import { Context, type Duration, type Option, type Redacted } from "effect"

/**
 * How the controller authenticates to GitHub. App credentials win over a PAT
 * when both are complete (the original's rule).
 */
export type GitHubCredentials =
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

/** The validated settings of one controller process. Read once at start. */
export interface ControllerConfig {
  /** `-kubeconfig`; none means KUBECONFIG, then in-cluster, then ~/.kube/config. */
  readonly kubeconfig: Option.Option<string>
  readonly namespaces: NamespaceScope
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
}

export class Config extends Context.Tag("deployment-tracker/Config")<Config, ControllerConfig>() {}

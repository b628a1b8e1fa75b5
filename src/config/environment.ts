import { Either } from "effect"
import { DEFAULT_TEMPLATE } from "../record/deploymentName.ts"
import { type ConfigError, invalidSetting } from "./errors.ts"

/**
 * The environment variables the controller reads: the original's (same names,
 * same defaults, the seed's older names as aliases) and our own additions.
 * As in the original, a variable set to the empty string counts as unset.
 */
export interface EnvironmentVariableSpec {
  readonly name: string
  /** Other names accepted for the same setting (older names from the seed). */
  readonly aliases?: ReadonlyArray<string>
  readonly required?: boolean
  /** Text used when unset (decoded like a given value). */
  readonly default?: string
  /** Never shown in messages. */
  readonly secret?: boolean
  /**
   * The first name set wins, without the conflict check between names (Go's
   * reading of the proxy variables: upper case before lower case).
   */
  readonly firstWins?: boolean
  readonly description: string
}

/** Every variable. Adding one is an entry here plus its schema in settings.ts. */
export const ENVIRONMENT_VARIABLES = [
  {
    name: "GITHUB_ORG",
    aliases: ["ORG"],
    required: true,
    description: "GitHub organization the records are posted to (letters, digits, '_' and '-')"
  },
  {
    name: "LOGICAL_ENVIRONMENT",
    required: true,
    description: "logical environment of the records, e.g. staging or production (at most 128 characters)"
  },
  {
    name: "PHYSICAL_ENVIRONMENT",
    default: "",
    description: "physical environment of the records, e.g. a region or data centre (at most 128 characters)"
  },
  {
    name: "CLUSTER",
    required: true,
    description:
      "name of this cluster in the records (at most 128 characters; the start-up bulk sync needs letters, digits, '.', '_' and '-' only)"
  },
  {
    name: "BASE_URL",
    default: "api.github.com",
    description:
      "GitHub API host or URL (e.g. https://ghe.example.com/api/v3); https:// is added when there is no scheme; http:// only for localhost, 127.0.0.0/8, ::1, *.svc and *.svc.cluster.local"
  },
  {
    name: "DN_TEMPLATE",
    default: DEFAULT_TEMPLATE,
    description: "deployment_name template; placeholders {{namespace}}, {{deploymentName}}, {{containerName}}"
  },
  {
    name: "BULK_CLUSTER_SYNC",
    default: "true",
    description: "send one bulk job of the whole cluster at start-up (true/false, 1/0, yes/no)"
  },
  {
    name: "LOG_LEVEL",
    default: "INFO",
    description: "DEBUG, INFO, WARN (or WARNING) or ERROR; an unknown level logs a warning and uses INFO"
  },
  { name: "API_TOKEN", secret: true, description: "personal access token, used when no GitHub App is configured" },
  { name: "GH_APP_ID", description: "GitHub App ID (numeric) or the App's client ID" },
  { name: "GH_INSTALL_ID", description: "numeric installation ID of the GitHub App" },
  {
    name: "GH_APP_PRIV_KEY_PATH",
    aliases: ["GH_APP_PRIV_KEY"],
    description: "path of the GitHub App's PEM private key (PKCS#1 or PKCS#8); not with GH_APP_PRIVATE_KEY"
  },
  {
    name: "GH_APP_PRIVATE_KEY",
    secret: true,
    description: "the GitHub App's PEM private key, base64-encoded; not with GH_APP_PRIV_KEY_PATH"
  },
  {
    name: "API_RATE_LIMIT",
    default: "3",
    description: "requests per second to GitHub (a number > 0, or 0 for no limit)"
  },
  { name: "API_BURST", default: "20", description: "requests that may be sent at once above the rate (integer >= 1)" },
  { name: "API_TIMEOUT_SECONDS", default: "30", description: "timeout of one HTTP request to GitHub, in seconds (1..300)" },
  {
    name: "SHUTDOWN_TIMEOUT_SECONDS",
    default: "20",
    description: "how long shutdown may spend finishing queued work, in seconds (1..600)"
  },
  { name: "POD_NAME", description: "this replica's identity in leader election and in its Events (the manifest sets it); unset: the host name" },
  { name: "POD_NAMESPACE", description: "default namespace of the leader-election Lease (the manifest sets it)" },
  {
    name: "OTEL_EXPORTER_OTLP_ENDPOINT",
    description:
      "OTLP/HTTP collector base URL (e.g. http://otel-collector.observability.svc:4318); traces are sent to <url>/v1/traces; unset: no tracing"
  },
  {
    name: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    description: "full OTLP/HTTP traces URL; overrides OTEL_EXPORTER_OTLP_ENDPOINT for traces"
  },
  {
    name: "OTEL_EXPORTER_OTLP_HEADERS",
    secret: true,
    description: "headers sent to the collector, as key=value pairs separated by commas (e.g. an API key)"
  },
  { name: "OTEL_SERVICE_NAME", default: "deployment-tracker", description: "service.name of the traces" },
  {
    name: "HTTPS_PROXY",
    aliases: ["https_proxy"],
    firstWins: true,
    secret: true,
    description:
      "proxy for https:// connections to GitHub and the OTLP collector (http:// or https:// URL, may hold user:password; no scheme: http://); upper case wins"
  },
  {
    name: "HTTP_PROXY",
    aliases: ["http_proxy"],
    firstWins: true,
    secret: true,
    description: "proxy for plain http:// connections (a BASE_URL or collector in the cluster); not used for https://"
  },
  {
    name: "NO_PROXY",
    aliases: ["no_proxy"],
    firstWins: true,
    description:
      "hosts that bypass the proxy, comma-separated: host, .domain or *.domain (the domain and its subdomains), host:port, IP, CIDR range, or *; localhost and loopback addresses always do"
  },
  {
    name: "SSL_CERT_FILE",
    description:
      "PEM file of CA certificates trusted for GitHub and the collector, on top of Node's (NODE_EXTRA_CA_CERTS works too)"
  },
  {
    name: "SSL_CERT_DIR",
    description: "directories (separated by ':') whose PEM files hold CA certificates trusted on top of Node's"
  }
] as const satisfies ReadonlyArray<EnvironmentVariableSpec>

export type EnvironmentVariableName = (typeof ENVIRONMENT_VARIABLES)[number]["name"]

export interface EnvironmentReading {
  /** Text per variable (canonical name), defaults applied; unset optional variables are absent. */
  readonly values: Readonly<Record<string, string>>
  /** For values given through an alias: canonical name -> the alias, so errors name what the user set. */
  readonly givenAs: Readonly<Record<string, string>>
}

/**
 * Picks each variable's text from the environment, resolving aliases: when
 * the name and an alias are both set they must agree.
 */
export const readEnvironment = (
  specs: ReadonlyArray<EnvironmentVariableSpec>,
  env: Readonly<Record<string, string | undefined>>
): Either.Either<EnvironmentReading, ConfigError> => {
  const values: Record<string, string> = {}
  const givenAs: Record<string, string> = {}
  for (const spec of specs) {
    const set = [spec.name, ...(spec.aliases ?? [])].flatMap((name) => {
      const value = env[name]
      return value === undefined || value === "" ? [] : [{ name, value }]
    })
    const [first, ...others] = set
    const conflicting = spec.firstWins === true ? undefined : others.find((other) => other.value !== first?.value)
    if (first !== undefined && conflicting !== undefined) {
      const detail = spec.secret === true ? "" : ` (${first.name}=${JSON.stringify(first.value)}, ${conflicting.name}=${JSON.stringify(conflicting.value)})`
      return Either.left(invalidSetting(first.name, `conflicts with ${conflicting.name}: both are set to different values; set only one${detail}`))
    }
    const value = first?.value ?? spec.default
    if (value !== undefined) values[spec.name] = value
    if (first !== undefined && first.name !== spec.name) givenAs[spec.name] = first.name
  }
  return Either.right({ values, givenAs })
}

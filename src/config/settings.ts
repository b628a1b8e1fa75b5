import { Either, ParseResult, Schema } from "effect"
import { type FlagSetting } from "./cli.ts"
import { ENVIRONMENT_VARIABLES, type EnvironmentVariableName } from "./environment.ts"
import { type ConfigError, invalidSetting } from "./errors.ts"
import {
  ApiBaseUrl,
  ApiToken,
  AppId,
  Base64Text,
  BooleanText,
  CollectorUrl,
  DeploymentNameTemplate,
  DirectoryList,
  GoDurationOrZero,
  GoDurationText,
  HeaderList,
  InstallationId,
  IntegerAtLeast,
  IntegerBetween,
  LabelSelectorText,
  LogLevelText,
  NamespaceList,
  NamespaceName,
  NonEmptyText,
  OptionalConfigMapName,
  OrganizationName,
  ProxyUrl,
  RecordFieldText,
  RequestRate
} from "./schemas.ts"

/** A setting is named as the user gives it: `-workers`, `GITHUB_ORG`. */
export type SettingName = FlagSetting | EnvironmentVariableName

/** Unset is fine; the key is then absent (not `undefined`, which would put the raw text in union errors). */
const optional = <A, I>(schema: Schema.Schema<A, I>) => Schema.optionalWith(schema, { exact: true })

/**
 * Each setting's decoded form. Defaults are not here: they are text in the
 * flag and variable tables (so the help shows them) and decoded like given
 * text. A plain schema means required, or always present through its default.
 */
const fields = {
  "-kubeconfig": optional(Schema.String),
  "-namespace": optional(NamespaceName),
  "-exclude-namespaces": optional(NamespaceList),
  "-namespace-selector": optional(LabelSelectorText),
  "-workers": IntegerBetween(1, 100),
  "-metrics-port": IntegerBetween(1, 65535),
  "-dry-run": BooleanText,
  "-kube-events": BooleanText,
  "-leader-elect": BooleanText,
  "-leader-elect-resource-name": NamespaceName,
  "-leader-elect-resource-namespace": optional(NamespaceName),
  "-leader-elect-lease-duration": GoDurationText,
  "-leader-elect-renew-deadline": GoDurationText,
  "-leader-elect-retry-period": GoDurationText,
  "-state-configmap": OptionalConfigMapName,
  "-resync-period": GoDurationOrZero,
  "-kube-api-qps": RequestRate,
  "-kube-api-burst": IntegerAtLeast(1),
  GITHUB_ORG: OrganizationName,
  LOGICAL_ENVIRONMENT: RecordFieldText("logical_environment", true),
  PHYSICAL_ENVIRONMENT: RecordFieldText("physical_environment", false),
  CLUSTER: RecordFieldText("cluster", true),
  BASE_URL: ApiBaseUrl,
  DN_TEMPLATE: DeploymentNameTemplate,
  BULK_CLUSTER_SYNC: BooleanText,
  LOG_LEVEL: LogLevelText,
  API_TOKEN: optional(Schema.Redacted(ApiToken)),
  GH_APP_ID: optional(AppId),
  GH_INSTALL_ID: optional(InstallationId),
  GH_APP_PRIV_KEY_PATH: optional(Schema.String),
  GH_APP_PRIVATE_KEY: optional(Schema.Redacted(Base64Text)),
  API_RATE_LIMIT: RequestRate,
  API_BURST: IntegerAtLeast(1),
  API_TIMEOUT_SECONDS: IntegerBetween(1, 300),
  SHUTDOWN_TIMEOUT_SECONDS: IntegerBetween(1, 600),
  POD_NAME: optional(Schema.Trim.pipe(Schema.minLength(1))),
  POD_NAMESPACE: optional(NamespaceName),
  OTEL_EXPORTER_OTLP_ENDPOINT: optional(CollectorUrl),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: optional(CollectorUrl),
  OTEL_EXPORTER_OTLP_HEADERS: optional(Schema.Redacted(HeaderList)),
  OTEL_SERVICE_NAME: NonEmptyText,
  HTTPS_PROXY: optional(ProxyUrl),
  HTTP_PROXY: optional(ProxyUrl),
  NO_PROXY: optional(Schema.String),
  SSL_CERT_FILE: optional(Schema.String),
  SSL_CERT_DIR: optional(DirectoryList)
} satisfies { readonly [Name in SettingName]: Schema.Struct.Fields[string] }

export const Settings = Schema.Struct(fields)
export type Settings = typeof Settings.Type

const aliasesOf = (setting: string): ReadonlyArray<string> =>
  (ENVIRONMENT_VARIABLES as ReadonlyArray<{ readonly name: string; readonly aliases?: ReadonlyArray<string> }>)
    .find((spec) => spec.name === setting)?.aliases ?? []

const requiredProblem = (setting: string): string => {
  const aliases = aliasesOf(setting)
  return aliases.length === 0 ? "is required but not set" : `is required but not set (also accepted as ${aliases.join(", ")})`
}

/**
 * Decodes the text of every setting (flags and variables merged, keyed by
 * setting name). The first problem, in table order, becomes the error; it
 * names the variable the user actually set when that was an alias.
 */
export const decodeSettings = (
  text: Readonly<Record<string, string>>,
  givenAs: Readonly<Record<string, string>> = {}
): Either.Either<Settings, ConfigError> =>
  Either.mapLeft(Schema.decodeUnknownEither(Settings)(text, { errors: "first" }), (error) => {
    const [issue] = ParseResult.ArrayFormatter.formatErrorSync(error)
    const setting = String(issue?.path[0] ?? "settings")
    const problem = issue === undefined ? "is invalid" : issue._tag === "Missing" ? requiredProblem(setting) : issue.message
    return invalidSetting(givenAs[setting] ?? setting, problem)
  })

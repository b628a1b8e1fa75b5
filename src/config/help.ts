import { FLAGS, type FlagSpec } from "./cli.ts"
import { ENVIRONMENT_VARIABLES, type EnvironmentVariableSpec } from "./environment.ts"

/**
 * The `-help` text, generated from the same tables the parser and the
 * decoder use, so a flag or variable cannot be missing from it.
 */

const INDENT = "        "

/** Numbers and booleans bare, everything else quoted (so an empty default is visible). */
const renderDefault = (text: string): string => /^(\d+(\.\d+)?|true|false)$/.test(text) ? text : JSON.stringify(text)

const flagEntry = (spec: FlagSpec): string => {
  const type = spec.kind === "bool" ? "" : ` ${spec.kind}`
  const presence = spec.default === undefined ? "" : ` (default: ${renderDefault(spec.default)})`
  return `  -${spec.name}${type}\n${INDENT}${spec.description}${presence}`
}

const variableEntry = (spec: EnvironmentVariableSpec): string => {
  const aliases = spec.aliases === undefined || spec.aliases.length === 0 ? "" : ` (also ${spec.aliases.join(", ")})`
  const presence = spec.required === true
    ? "required"
    : spec.default !== undefined
    ? `default: ${renderDefault(spec.default)}`
    : "optional"
  const secret = spec.secret === true ? ", secret" : ""
  return `  ${spec.name}${aliases}\n${INDENT}${spec.description} (${presence}${secret})`
}

export const helpText = (
  flags: ReadonlyArray<FlagSpec> = FLAGS,
  variables: ReadonlyArray<EnvironmentVariableSpec> = ENVIRONMENT_VARIABLES
): string =>
  [
    "Usage: deployment-tracker [flags]",
    "",
    "Reports the container images running in a Kubernetes cluster to GitHub's artifact metadata API.",
    "",
    "Flags (-name value, -name=value; --name works too):",
    ...flags.map(flagEntry),
    "  -h, -help",
    `${INDENT}print this help`,
    "",
    "Environment variables (an empty value counts as unset):",
    ...variables.map(variableEntry),
    "",
    "GitHub credentials: API_TOKEN, or GH_APP_ID + GH_INSTALL_ID + one of GH_APP_PRIV_KEY_PATH / GH_APP_PRIVATE_KEY.",
    "When both are complete the GitHub App is used. With neither, requests carry no Authorization header (one",
    "warning at start): for a BASE_URL that adds credentials, such as a proxy in the cluster.",
    ""
  ].join("\n")

import { Data } from "effect"

/**
 * A setting (a flag such as `-workers`, or an environment variable by its
 * name) is missing, malformed or contradicts another one. `message` is the
 * whole one-line rendering, e.g.
 * `invalid setting GITHUB_ORG: must match ^[a-zA-Z0-9_-]+$ (got "my org")`;
 * it never contains the value of a secret.
 */
export class ConfigError extends Data.TaggedError("ConfigError")<{
  readonly setting: string
  readonly message: string
}> {}

/** `-h`, `-help` or `--help` was given: print the help text instead of starting. */
export class HelpRequested extends Data.TaggedError("HelpRequested")<{}> {}

export const invalidSetting = (setting: string, problem: string): ConfigError =>
  new ConfigError({ setting, message: `invalid setting ${setting}: ${problem}` })

const MAX_SHOWN = 120

/** How a non-secret offending value is shown in a message: quoted, escaped, bounded. */
export const shown = (value: unknown): string => {
  const text = typeof value === "string" ? value : String(value)
  const bounded = text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}...` : text
  return `(got ${JSON.stringify(bounded)})`
}

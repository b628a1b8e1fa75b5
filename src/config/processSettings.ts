import type { FileSystem } from "@effect/platform"
import { Data, Effect, Option } from "effect"
import type { ControllerConfig } from "./Config.ts"
import { invalidSetting } from "./errors.ts"
import { helpText } from "./help.ts"
import { loadConfig } from "./loadConfig.ts"

/**
 * What the process makes of its command line and environment: print the
 * help, refuse to start with one line naming the setting at fault, or run
 * with the configuration (and warnings to log once logging is set up).
 * main.ts maps them to output and exit codes.
 */
export type ProcessSettings = Data.TaggedEnum<{
  Help: { readonly text: string }
  Refuse: { readonly line: string }
  Run: { readonly config: ControllerConfig; readonly warnings: ReadonlyArray<string> }
}>
export const ProcessSettings = Data.taggedEnum<ProcessSettings>()

/** The one line of a refusal (stderr, exit status 2): the program, then the setting and what is wrong with it. */
export const refusal = (setting: string, problem: string): string =>
  refusalLine(invalidSetting(setting, problem).message)

const refusalLine = (message: string): string => `deployment-tracker: ${message}`

/** Reads argv and the environment once (loadConfig) and decides: help, refusal or run. */
export const loadProcessSettings = (
  argv: ReadonlyArray<string>,
  env: Readonly<Record<string, string | undefined>>
): Effect.Effect<ProcessSettings, never, FileSystem.FileSystem> =>
  loadConfig(argv, env).pipe(
    Effect.map(({ config, warnings }) => ProcessSettings.Run({ config, warnings })),
    Effect.catchTags({
      HelpRequested: () => Effect.succeed(ProcessSettings.Help({ text: helpText() })),
      ConfigError: (e) => Effect.succeed(ProcessSettings.Refuse({ line: refusalLine(e.message) }))
    })
  )

/** The configuration as the start-up log line shows it: what was chosen, never a secret. */
export const describeConfig = (config: ControllerConfig) => ({
  org: config.org,
  cluster: config.cluster,
  logical_environment: config.logicalEnvironment,
  physical_environment: config.physicalEnvironment,
  base_url: config.baseUrl,
  namespaces: config.namespaces,
  workers: config.workers,
  metrics_port: config.metricsPort,
  auth: ({ None: "none", Token: "token", App: "github-app" } as const)[config.credentials._tag],
  bulk_cluster_sync: config.bulkClusterSync,
  leader_elect: Option.isSome(config.leaderElection)
})

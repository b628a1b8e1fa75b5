import { NodeFileSystem } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Redacted } from "effect"
import { NO_CREDENTIALS_WARNING } from "../../src/config/credentials.ts"
import { helpText } from "../../src/config/help.ts"
import { describeConfig, loadProcessSettings, refusal } from "../../src/config/processSettings.ts"
import { testConfig } from "../support/testConfig.ts"
import { BASE_ENV, ENV_WITHOUT_CREDENTIALS, TOKEN } from "./fixtures.ts"

// What main.ts does with argv and the environment is decided here: the
// process tests (test/cli) check the exit codes and output it maps them to.

const settings = (argv: ReadonlyArray<string>, env: Readonly<Record<string, string | undefined>>) =>
  loadProcessSettings(argv, env).pipe(Effect.provide(NodeFileSystem.layer))

describe("loadProcessSettings", () => {
  it.effect("-help (even with a broken environment) is the help text", () =>
    Effect.gen(function*() {
      for (const flag of ["-h", "-help", "--help"]) {
        expect(yield* settings([flag], { GITHUB_ORG: "bad org" })).toStrictEqual({ _tag: "Help", text: helpText() })
      }
    }))

  it.effect("a bad setting is one refusal line naming it, never the value of a secret", () =>
    Effect.gen(function*() {
      const refused = yield* settings(["-workers", "0"], BASE_ENV)
      expect(refused._tag).toBe("Refuse")
      expect(refused._tag === "Refuse" && refused.line).toMatch(/^deployment-tracker: invalid setting -workers: /)
      expect(refused._tag === "Refuse" && refused.line).not.toContain("\n")
      const badKey = yield* settings([], { ...BASE_ENV, GH_APP_ID: "1", GH_INSTALL_ID: "2", GH_APP_PRIVATE_KEY: "not a key" })
      expect(badKey).toMatchObject({ _tag: "Refuse", line: expect.stringMatching(/^deployment-tracker: invalid setting GH_APP_PRIVATE_KEY: /) })
      expect(JSON.stringify(badKey)).not.toContain(TOKEN)
    }))

  it.effect("good settings run, with the warnings to log once logging is up", () =>
    Effect.gen(function*() {
      const run = yield* settings(["-workers", "4"], BASE_ENV)
      expect(run).toMatchObject({ _tag: "Run", config: { workers: 4, org: "acme" }, warnings: [] })
      const anonymous = yield* settings([], ENV_WITHOUT_CREDENTIALS)
      expect(anonymous).toMatchObject({ _tag: "Run", config: { credentials: { _tag: "None" } }, warnings: [NO_CREDENTIALS_WARNING] })
    }))
})

describe("refusal", () => {
  it("is the program's name, then the setting and what is wrong", () => {
    expect(refusal("-kubeconfig", "file /x does not exist")).toBe("deployment-tracker: invalid setting -kubeconfig: file /x does not exist")
  })
})

describe("describeConfig", () => {
  it("says what was chosen and how GitHub is reached, never the credential", () => {
    const config = testConfig({ credentials: { _tag: "Token", token: Redacted.make(TOKEN) }, leaderElection: Option.none() })
    const described = describeConfig(config)
    expect(described).toMatchObject({ org: "octo-org", auth: "token", leader_elect: false, workers: 2 })
    expect(JSON.stringify(described)).not.toContain(TOKEN)
  })
})

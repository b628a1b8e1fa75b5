import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { FLAGS, type FlagSpec, parseFlags } from "../../src/config/cli.ts"

// The real table plus a boolean flag without a default, so both kinds of boolean are exercised.
const WITH_BOOLEAN: ReadonlyArray<FlagSpec> = [
  ...FLAGS,
  { name: "verbose", kind: "bool", description: "say more" }
]

const REAL_DEFAULTS = {
  "-workers": "2",
  "-metrics-port": "9090",
  "-dry-run": "false",
  "-kube-events": "true",
  "-leader-elect": "false",
  "-leader-elect-resource-name": "deployment-tracker",
  "-leader-elect-lease-duration": "15s",
  "-leader-elect-renew-deadline": "10s",
  "-leader-elect-retry-period": "2s",
  "-state-configmap": "deployment-tracker-state",
  "-resync-period": "6h",
  "-kube-api-qps": "20",
  "-kube-api-burst": "40"
}

const DEFAULTS = REAL_DEFAULTS

const parse = (argv: ReadonlyArray<string>) => parseFlags(WITH_BOOLEAN, argv)

describe("flag syntax (Go's flag package)", () => {
  const accepted: ReadonlyArray<readonly [string, ReadonlyArray<string>, Record<string, string>]> = [
    ["nothing gives the defaults", [], {}],
    ["-name value", ["-workers", "5"], { "-workers": "5" }],
    ["-name=value", ["-workers=5"], { "-workers": "5" }],
    ["--name value", ["--workers", "5"], { "-workers": "5" }],
    ["--name=value", ["--workers=5"], { "-workers": "5" }],
    ["only the first = splits", ["-namespace=a=b"], { "-namespace": "a=b" }],
    ["the next argument is the value even with a dash", ["-workers", "-1"], { "-workers": "-1" }],
    ["an empty value means unset", ["-namespace="], {}],
    ["an empty value falls back to the default", ["-workers="], {}],
    ["except where empty is a value of its own (off)", ["-state-configmap="], { "-state-configmap": "" }],
    ["... also as a separate argument", ["-state-configmap", ""], { "-state-configmap": "" }],
    ["several flags", ["-namespace", "prod", "--metrics-port=8080", "-kubeconfig=/k"], {
      "-namespace": "prod",
      "-metrics-port": "8080",
      "-kubeconfig": "/k"
    }],
    ["a boolean alone is true", ["-dry-run"], { "-dry-run": "true" }],
    ["a boolean with -- alone is true", ["--dry-run"], { "-dry-run": "true" }],
    ["-bool=false", ["-dry-run=false"], { "-dry-run": "false" }],
    ["-bool=0", ["-dry-run=0"], { "-dry-run": "false" }],
    ["-bool=T", ["--dry-run=T"], { "-dry-run": "true" }],
    ["-bool=TRUE overrides a default", ["-leader-elect=TRUE"], { "-leader-elect": "true" }],
    ["-- ends the flags", ["-workers", "3", "--"], { "-workers": "3" }]
  ]
  for (const [rule, argv, expected] of accepted) {
    it(rule, () => {
      expect(parse(argv)).toStrictEqual(Either.right({ ...DEFAULTS, ...expected }))
    })
  }

  it("the real table has the original's defaults", () => {
    expect(parseFlags(FLAGS, [])).toStrictEqual(Either.right(REAL_DEFAULTS))
  })
})

describe("flag errors name the flag", () => {
  const rejected: ReadonlyArray<readonly [string, ReadonlyArray<string>, string, string]> = [
    ["unknown flag", ["-bogus"], "-bogus", "unknown flag"],
    ["unknown flag with -- and =", ["--bogus=1"], "-bogus", "unknown flag"],
    ["missing value at the end", ["-workers"], "-workers", "needs a value"],
    ["missing value after --name", ["-namespace", "a", "--kubeconfig"], "-kubeconfig", "needs a value"],
    ["positional argument", ["prod"], "prod", "unexpected argument"],
    ["positional argument after flags", ["-workers", "3", "extra"], "extra", "unexpected argument"],
    ["argument after --", ["--", "x"], "x", "unexpected argument"],
    ["a lone dash", ["-"], "-", "unexpected argument"],
    ["flag given twice", ["-workers=1", "-workers", "2"], "-workers", "more than once"],
    ["flag given twice in both forms", ["-namespace=a", "--namespace=a"], "-namespace", "more than once"],
    ["boolean given twice", ["-dry-run", "-dry-run"], "-dry-run", "more than once"],
    ["bad boolean value", ["-dry-run=maybe"], "-dry-run", "must be true or false"],
    ["a boolean takes no separate value", ["-dry-run", "false"], "false", "unexpected argument"],
    ["three dashes", ["---workers=1"], "---workers=1", "bad flag syntax"],
    ["no name", ["-=x"], "-=x", "bad flag syntax"]
  ]
  for (const [rule, argv, setting, problem] of rejected) {
    it(rule, () => {
      const error = Either.flip(parse(argv)).pipe(Either.getOrThrow)
      expect(error._tag).toBe("ConfigError")
      if (error._tag !== "ConfigError") return
      expect(error.setting).toBe(setting)
      expect(error.message.startsWith(`invalid setting ${setting}: `)).toBe(true)
      expect(error.message).toContain(problem)
    })
  }
})

describe("help", () => {
  const requests: ReadonlyArray<ReadonlyArray<string>> = [
    ["-h"],
    ["-help"],
    ["--help"],
    ["--h"],
    ["-help=true"],
    ["-workers", "3", "-help"]
  ]
  for (const argv of requests) {
    it.effect(`${argv.join(" ")} requests help`, () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(parse(argv))
        expect(error._tag).toBe("HelpRequested")
      }))
  }

  it("flags are read in order: an error before -h wins", () => {
    const error = Either.flip(parse(["-bogus", "-h"])).pipe(Either.getOrThrow)
    expect(error._tag).toBe("ConfigError")
  })
})

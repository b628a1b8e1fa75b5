import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Option, Redacted } from "effect"
import { createPrivateKey } from "node:crypto"
import type { ControllerConfig } from "../../src/config/Config.ts"
import { NO_CREDENTIALS_WARNING } from "../../src/config/credentials.ts"
import {
  base64,
  BASE_ENV,
  EC_PEM,
  ENV_WITHOUT_CREDENTIALS,
  type KeyFiles,
  load,
  makeKeyFiles,
  PKCS1_PEM,
  PKCS8_PEM,
  TOKEN
} from "./fixtures.ts"

type Env = Readonly<Record<string, string | undefined>>

const app = (files: KeyFiles): Env => ({ GH_APP_ID: "123456", GH_INSTALL_ID: "7890", GH_APP_PRIV_KEY_PATH: files.pkcs1 })

describe("defaults", () => {
  it.effect("the smallest environment gives the original's defaults and ours", () =>
    Effect.gen(function*() {
      const { config, warnings } = yield* load([], BASE_ENV)
      expect(warnings).toStrictEqual([])
      expect(Option.isNone(config.kubeconfig)).toBe(true)
      const {
        kubeconfig: _k,
        credentials,
        apiRequestTimeout,
        shutdownDrainTimeout,
        leaderElection: _l,
        tracing: _t,
        deployedState,
        resyncPeriod: _r,
        namespaceSelector,
        egress,
        ...plain
      } = config
      expect(plain).toStrictEqual({
        namespaces: { _tag: "All" },
        workers: 2,
        metricsPort: 9090,
        org: "acme",
        logicalEnvironment: "production",
        physicalEnvironment: "",
        cluster: "eu-west-1",
        baseUrl: "https://api.github.com",
        deploymentNameTemplate: "{{namespace}}/{{deploymentName}}/{{containerName}}",
        bulkClusterSync: true,
        logLevel: "INFO",
        apiRatePerSecond: 3,
        apiBurst: 20,
        dryRun: false,
        kubeEvents: true,
        podName: Option.none(),
        kubeApiQps: 20,
        kubeApiBurst: 40
      } satisfies Omit<
        ControllerConfig,
        | "kubeconfig"
        | "credentials"
        | "apiRequestTimeout"
        | "shutdownDrainTimeout"
        | "leaderElection"
        | "tracing"
        | "deployedState"
        | "resyncPeriod"
        | "namespaceSelector"
        | "egress"
      >)
      // No proxy variables, no extra CAs: direct connections, Node's CA list.
      expect(egress).toStrictEqual({ httpsProxy: Option.none(), httpProxy: Option.none(), noProxy: "", extraCaCertificates: [] })
      expect(config.resyncPeriod).toStrictEqual(Option.some(Duration.hours(6)))
      expect(Option.isNone(namespaceSelector)).toBe(true)
      expect(deployedState).toStrictEqual(Option.some({ configMapName: "deployment-tracker-state", namespace: "deployment-tracker" }))
      expect(Option.isNone(config.leaderElection)).toBe(true)
      expect(Option.isNone(config.tracing)).toBe(true)
      expect(Duration.toSeconds(apiRequestTimeout)).toBe(30)
      expect(Duration.toSeconds(shutdownDrainTimeout)).toBe(20)
      expect(credentials._tag).toBe("Token")
      if (credentials._tag === "Token") expect(Redacted.value(credentials.token)).toBe(TOKEN)
    }))

  it.effect("an empty variable counts as unset, as in the original", () =>
    Effect.gen(function*() {
      const { config } = yield* load([], { ...BASE_ENV, BASE_URL: "", LOG_LEVEL: "", BULK_CLUSTER_SYNC: "", API_BURST: "" })
      expect(config.baseUrl).toBe("https://api.github.com")
      expect(config.logLevel).toBe("INFO")
      expect(config.bulkClusterSync).toBe(true)
      expect(config.apiBurst).toBe(20)
    }))
})

describe("operations settings", () => {
  it.effect("-state-configmap: named as given, in POD_NAMESPACE; an explicitly empty value turns persistence off", () =>
    Effect.gen(function*() {
      const named = yield* load(["-state-configmap", "dt-state"], { ...BASE_ENV, POD_NAMESPACE: "ops" })
      expect(named.config.deployedState).toStrictEqual(Option.some({ configMapName: "dt-state", namespace: "ops" }))
      expect(Option.isNone((yield* load(["-state-configmap="], BASE_ENV)).config.deployedState)).toBe(true)
      expect(Option.isNone((yield* load(["-state-configmap", ""], BASE_ENV)).config.deployedState)).toBe(true)
      const refused = yield* load(["-state-configmap=Not_A_Name"], BASE_ENV).pipe(Effect.flip)
      expect(refused.message).toContain("-state-configmap")
    }))

  it.effect("leader election: off by default; on, with the Lease named and timed as given", () =>
    Effect.gen(function*() {
      expect(Option.isNone((yield* load([], BASE_ENV)).config.leaderElection)).toBe(true)
      const { config } = yield* load(
        ["-leader-elect", "-leader-elect-lease-duration=1m30s", "-leader-elect-renew-deadline=20s", "-leader-elect-retry-period=500ms"],
        { ...BASE_ENV, POD_NAME: "tracker-7f9c", POD_NAMESPACE: "ops" }
      )
      const election = Option.getOrThrow(config.leaderElection)
      expect(election.leaseName).toBe("deployment-tracker")
      expect(election.leaseNamespace).toBe("ops")
      expect(election.identity).toStrictEqual(Option.some("tracker-7f9c"))
      expect(Duration.toMillis(election.leaseDuration)).toBe(90_000)
      expect(Duration.toMillis(election.renewDeadline)).toBe(20_000)
      expect(Duration.toMillis(election.retryPeriod)).toBe(500)
    }))

  it.effect("leader election defaults follow client-go (15 s / 10 s / 2 s) and the flag's namespace wins", () =>
    Effect.gen(function*() {
      const { config } = yield* load(["-leader-elect", "-leader-elect-resource-namespace=infra"], { ...BASE_ENV, POD_NAMESPACE: "ops" })
      const election = Option.getOrThrow(config.leaderElection)
      expect(election.leaseNamespace).toBe("infra")
      expect(Option.isNone(election.identity)).toBe(true)
      expect([election.leaseDuration, election.renewDeadline, election.retryPeriod].map(Duration.toSeconds)).toStrictEqual([15, 10, 2])
    }))

  it.effect("tracing: the general endpoint gets /v1/traces, the traces endpoint is used as is", () =>
    Effect.gen(function*() {
      const general = yield* load([], { ...BASE_ENV, OTEL_EXPORTER_OTLP_ENDPOINT: "http://otel.observability.svc:4318/" })
      expect(Option.getOrThrow(general.config.tracing).tracesUrl).toBe("http://otel.observability.svc:4318/v1/traces")
      const specific = yield* load([], {
        ...BASE_ENV,
        OTEL_EXPORTER_OTLP_ENDPOINT: "https://a.example.com",
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "https://b.example.com/custom",
        OTEL_EXPORTER_OTLP_HEADERS: "x-api-key=s%3Dcret, Tenant = blue",
        OTEL_SERVICE_NAME: "tracker-eu"
      })
      const tracing = Option.getOrThrow(specific.config.tracing)
      expect(tracing.tracesUrl).toBe("https://b.example.com/custom")
      expect(tracing.serviceName).toBe("tracker-eu")
      expect(Redacted.value(tracing.headers)).toStrictEqual({ "x-api-key": "s=cret", tenant: "blue" })
      expect(JSON.stringify(specific.config)).not.toContain("s=cret")
    }))

  it.effect("-dry-run", () =>
    Effect.gen(function*() {
      expect((yield* load([], BASE_ENV)).config.dryRun).toBe(false)
      expect((yield* load(["-dry-run"], BASE_ENV)).config.dryRun).toBe(true)
    }))

  it.effect("-kube-events: on unless turned off; POD_NAME is the pod's name (the Events' reporting instance)", () =>
    Effect.gen(function*() {
      expect((yield* load([], BASE_ENV)).config.kubeEvents).toBe(true)
      expect((yield* load(["-kube-events=false"], BASE_ENV)).config.kubeEvents).toBe(false)
      expect((yield* load([], { ...BASE_ENV, POD_NAME: "tracker-7f9c" })).config.podName).toStrictEqual(Option.some("tracker-7f9c"))
    }))
})

describe("given values", () => {
  it.effect("every flag and variable reaches the config", () =>
    Effect.gen(function*() {
      const { config, warnings } = yield* load(
        ["-kubeconfig", "/etc/kube/config", "--namespace=shop", "-workers=8", "--metrics-port", "9191"],
        {
          ...BASE_ENV,
          PHYSICAL_ENVIRONMENT: "eu-west-1a",
          BASE_URL: "ghe.example.com/api/v3/",
          DN_TEMPLATE: "{{namespace}}-{{containerName}}",
          BULK_CLUSTER_SYNC: "No",
          LOG_LEVEL: "debug",
          API_RATE_LIMIT: "0.5",
          API_BURST: "1",
          API_TIMEOUT_SECONDS: "300",
          SHUTDOWN_TIMEOUT_SECONDS: "600"
        }
      )
      expect(warnings).toStrictEqual([])
      expect(config.kubeconfig).toStrictEqual(Option.some("/etc/kube/config"))
      expect(config.namespaces).toStrictEqual({ _tag: "Only", namespace: "shop" })
      expect(config.workers).toBe(8)
      expect(config.metricsPort).toBe(9191)
      expect(config.physicalEnvironment).toBe("eu-west-1a")
      expect(config.baseUrl).toBe("https://ghe.example.com/api/v3")
      expect(config.deploymentNameTemplate).toBe("{{namespace}}-{{containerName}}")
      expect(config.bulkClusterSync).toBe(false)
      expect(config.logLevel).toBe("DEBUG")
      expect(config.apiRatePerSecond).toBe(0.5)
      expect(config.apiBurst).toBe(1)
      expect(Duration.toSeconds(config.apiRequestTimeout)).toBe(300)
      expect(Duration.toSeconds(config.shutdownDrainTimeout)).toBe(600)
    }))

  it.effect("workers and metrics port accept their bounds", () =>
    Effect.gen(function*() {
      const low = yield* load(["-workers", "1", "-metrics-port", "1"], BASE_ENV)
      const high = yield* load(["-workers", "100", "-metrics-port", "65535"], BASE_ENV)
      expect([low.config.workers, low.config.metricsPort]).toStrictEqual([1, 1])
      expect([high.config.workers, high.config.metricsPort]).toStrictEqual([100, 65535])
    }))

  it.effect("API_RATE_LIMIT=0 means unthrottled", () =>
    Effect.gen(function*() {
      const { config } = yield* load([], { ...BASE_ENV, API_RATE_LIMIT: "0" })
      expect(config.apiRatePerSecond).toBe(0)
    }))

  it.effect("the exclude list is trimmed, empty items and repeats dropped", () =>
    Effect.gen(function*() {
      const { config } = yield* load(["-exclude-namespaces", " kube-system, ,monitoring,kube-system,"], BASE_ENV)
      expect(config.namespaces).toStrictEqual({ _tag: "Exclude", namespaces: ["kube-system", "monitoring"] })
    }))

  it.effect("an exclude list of only commas excludes nothing", () =>
    Effect.gen(function*() {
      const { config } = yield* load(["-exclude-namespaces=,,"], BASE_ENV)
      expect(config.namespaces).toStrictEqual({ _tag: "All" })
    }))

  const booleans: ReadonlyArray<readonly [string, boolean]> = [
    ["true", true],
    ["TRUE", true],
    ["1", true],
    ["yes", true],
    ["Yes", true],
    ["false", false],
    ["False", false],
    ["0", false],
    ["no", false],
    ["NO", false]
  ]
  for (const [text, value] of booleans) {
    it.effect(`BULK_CLUSTER_SYNC=${text} is ${value}`, () =>
      Effect.gen(function*() {
        const { config } = yield* load([], { ...BASE_ENV, BULK_CLUSTER_SYNC: text })
        expect(config.bulkClusterSync).toBe(value)
      }))
  }

  const levels: ReadonlyArray<readonly [string, ControllerConfig["logLevel"]]> = [
    ["DEBUG", "DEBUG"],
    ["debug", "DEBUG"],
    ["Info", "INFO"],
    ["WARN", "WARN"],
    ["warning", "WARN"],
    ["WARNING", "WARN"],
    ["error", "ERROR"]
  ]
  for (const [text, level] of levels) {
    it.effect(`LOG_LEVEL=${text} is ${level}, without a warning`, () =>
      Effect.gen(function*() {
        const { config, warnings } = yield* load([], { ...BASE_ENV, LOG_LEVEL: text })
        expect(config.logLevel).toBe(level)
        expect(warnings).toStrictEqual([])
      }))
  }

  it.effect("an unknown LOG_LEVEL is a warning and INFO, not an error (as in the original)", () =>
    Effect.gen(function*() {
      const { config, warnings } = yield* load([], { ...BASE_ENV, LOG_LEVEL: "verbose" })
      expect(config.logLevel).toBe("INFO")
      expect(warnings).toHaveLength(1)
      expect(warnings[0]).toContain("\"verbose\"")
      expect(warnings[0]).toContain("INFO")
    }))
})

describe("aliases and precedence", () => {
  it.effect("ORG alone is the organization", () =>
    Effect.gen(function*() {
      const { GITHUB_ORG: _, ...env } = BASE_ENV
      const { config } = yield* load([], { ...env, ORG: "from-org" })
      expect(config.org).toBe("from-org")
    }))

  it.effect("an empty GITHUB_ORG lets ORG through", () =>
    Effect.gen(function*() {
      const { config } = yield* load([], { ...BASE_ENV, GITHUB_ORG: "", ORG: "from-org" })
      expect(config.org).toBe("from-org")
    }))

  it.effect("GITHUB_ORG and ORG may both be set when equal", () =>
    Effect.gen(function*() {
      const { config } = yield* load([], { ...BASE_ENV, ORG: "acme" })
      expect(config.org).toBe("acme")
    }))

  it.scoped("GH_APP_PRIV_KEY is the old name of GH_APP_PRIV_KEY_PATH", () =>
    Effect.gen(function*() {
      const files = yield* makeKeyFiles
      const { config } = yield* load([], {
        ...ENV_WITHOUT_CREDENTIALS,
        GH_APP_ID: "1",
        GH_INSTALL_ID: "2",
        GH_APP_PRIV_KEY: files.pkcs8
      })
      expect(config.credentials._tag).toBe("App")
    }))

  it.scoped("complete App settings win over API_TOKEN, with a warning", () =>
    Effect.gen(function*() {
      const files = yield* makeKeyFiles
      const { config, warnings } = yield* load([], { ...BASE_ENV, ...app(files) })
      expect(config.credentials).toMatchObject({ _tag: "App", appId: "123456", installationId: "7890" })
      expect(warnings).toStrictEqual(["API_TOKEN is ignored: the GitHub App settings are complete and take precedence"])
    }))

  it.scoped("a client ID is accepted as the App ID", () =>
    Effect.gen(function*() {
      const files = yield* makeKeyFiles
      const { config } = yield* load([], { ...ENV_WITHOUT_CREDENTIALS, ...app(files), GH_APP_ID: "Iv23liAbCdEf0123456" })
      expect(config.credentials).toMatchObject({ _tag: "App", appId: "Iv23liAbCdEf0123456" })
    }))

  it.effect("no credentials at all: the original's anonymous mode, with one warning (BASE_URL must add them)", () =>
    Effect.gen(function*() {
      const { config, warnings } = yield* load([], { ...ENV_WITHOUT_CREDENTIALS, BASE_URL: "http://github-auth.tools.svc:8080" })
      expect(config.credentials).toStrictEqual({ _tag: "None" })
      expect(warnings).toStrictEqual([NO_CREDENTIALS_WARNING])
      expect(NO_CREDENTIALS_WARNING).toMatch(/without an Authorization header/)
    }))

  it.effect("API_TOKEN is trimmed (a newline from a secret file)", () =>
    Effect.gen(function*() {
      const { config } = yield* load([], { ...BASE_ENV, API_TOKEN: `${TOKEN}\n` })
      expect(config.credentials._tag === "Token" && Redacted.value(config.credentials.token)).toBe(TOKEN)
    }))
})

describe("GitHub App private keys", () => {
  const sameKey = (a: string, b: string) =>
    expect(createPrivateKey(a).export({ format: "jwk" })).toStrictEqual(createPrivateKey(b).export({ format: "jwk" }))

  const sources: ReadonlyArray<readonly [string, (files: KeyFiles) => Env, string]> = [
    ["PKCS#1 from a file", (files) => ({ GH_APP_PRIV_KEY_PATH: files.pkcs1 }), PKCS1_PEM],
    ["PKCS#8 from a file", (files) => ({ GH_APP_PRIV_KEY_PATH: files.pkcs8 }), PKCS8_PEM],
    ["PKCS#1 as base64", () => ({ GH_APP_PRIVATE_KEY: base64(PKCS1_PEM) }), PKCS1_PEM],
    ["PKCS#8 as base64", () => ({ GH_APP_PRIVATE_KEY: base64(PKCS8_PEM) }), PKCS8_PEM],
    [
      "base64 wrapped at 76 columns, as `base64` prints it",
      () => ({ GH_APP_PRIVATE_KEY: base64(PKCS1_PEM).replace(/.{76}/g, "$&\n") }),
      PKCS1_PEM
    ]
  ]
  for (const [source, keyEnv, pem] of sources) {
    it.scoped(`${source} is read, checked and handed on as PKCS#8`, () =>
      Effect.gen(function*() {
        const files = yield* makeKeyFiles
        const { config } = yield* load([], { ...ENV_WITHOUT_CREDENTIALS, GH_APP_ID: "1", GH_INSTALL_ID: "2", ...keyEnv(files) })
        if (config.credentials._tag !== "App") return expect.fail("expected App credentials")
        const key = Redacted.value(config.credentials.privateKey)
        expect(key.startsWith("-----BEGIN PRIVATE KEY-----")).toBe(true)
        sameKey(key, pem)
      }))
  }
})

interface ErrorCase {
  readonly rule: string
  readonly argv?: ReadonlyArray<string>
  readonly env: (files: KeyFiles) => Env
  readonly setting: string
  readonly problem: string
}

const without = (name: string): Env => ({ ...BASE_ENV, [name]: undefined })

const ERROR_CASES: ReadonlyArray<ErrorCase> = [
  { rule: "GITHUB_ORG is required", env: () => without("GITHUB_ORG"), setting: "GITHUB_ORG", problem: "is required" },
  {
    rule: "LOGICAL_ENVIRONMENT is required",
    env: () => without("LOGICAL_ENVIRONMENT"),
    setting: "LOGICAL_ENVIRONMENT",
    problem: "is required"
  },
  { rule: "CLUSTER is required", env: () => without("CLUSTER"), setting: "CLUSTER", problem: "is required" },
  // GitHub's record and cluster-job schemas: every record would be refused.
  {
    rule: "LOGICAL_ENVIRONMENT is at most 128 characters",
    env: () => ({ ...BASE_ENV, LOGICAL_ENVIRONMENT: "p".repeat(129) }),
    setting: "LOGICAL_ENVIRONMENT",
    problem: "must be 1 to 128 characters (GitHub's limit for logical_environment)"
  },
  {
    rule: "PHYSICAL_ENVIRONMENT is at most 128 characters",
    env: () => ({ ...BASE_ENV, PHYSICAL_ENVIRONMENT: "eu-west-1-".repeat(13) }),
    setting: "PHYSICAL_ENVIRONMENT",
    problem: "must be at most 128 characters (GitHub's limit for physical_environment)"
  },
  {
    rule: "CLUSTER is at most 128 characters",
    env: () => ({ ...BASE_ENV, CLUSTER: "c".repeat(129) }),
    setting: "CLUSTER",
    problem: "must be 1 to 128 characters (GitHub's limit for cluster)"
  },
  {
    rule: "lengths count code points: 129 emoji are 129 characters",
    env: () => ({ ...BASE_ENV, CLUSTER: "\u{1F680}".repeat(129) }),
    setting: "CLUSTER",
    problem: "GitHub's limit for cluster"
  },
  {
    rule: "-namespace and -exclude-namespaces are exclusive",
    argv: ["-namespace", "a", "-exclude-namespaces", "b"],
    env: () => BASE_ENV,
    setting: "-exclude-namespaces",
    problem: "cannot be combined with -namespace"
  },
  {
    rule: "-namespace is an RFC 1123 label",
    argv: ["-namespace", "Shop"],
    env: () => BASE_ENV,
    setting: "-namespace",
    problem: "RFC 1123 label"
  },
  {
    rule: "-namespace is at most 63 characters",
    argv: ["-namespace", "a".repeat(64)],
    env: () => BASE_ENV,
    setting: "-namespace",
    problem: "RFC 1123 label"
  },
  {
    rule: "every excluded namespace is an RFC 1123 label",
    argv: ["-exclude-namespaces", "kube-system, bad_ns"],
    env: () => BASE_ENV,
    setting: "-exclude-namespaces",
    problem: "(got \"bad_ns\")"
  },
  { rule: "workers >= 1", argv: ["-workers", "0"], env: () => BASE_ENV, setting: "-workers", problem: "from 1 to 100 (got \"0\")" },
  { rule: "workers <= 100", argv: ["-workers=101"], env: () => BASE_ENV, setting: "-workers", problem: "from 1 to 100" },
  { rule: "workers is an integer", argv: ["-workers=1.5"], env: () => BASE_ENV, setting: "-workers", problem: "integer" },
  { rule: "workers is a number", argv: ["-workers=two"], env: () => BASE_ENV, setting: "-workers", problem: "integer" },
  { rule: "metrics port >= 1", argv: ["-metrics-port=0"], env: () => BASE_ENV, setting: "-metrics-port", problem: "1 to 65535" },
  {
    rule: "metrics port <= 65535",
    argv: ["-metrics-port=65536"],
    env: () => BASE_ENV,
    setting: "-metrics-port",
    problem: "1 to 65535"
  },
  {
    rule: "metrics port is a number",
    argv: ["-metrics-port=:9090"],
    env: () => BASE_ENV,
    setting: "-metrics-port",
    problem: "1 to 65535"
  },
  { rule: "flags are known", argv: ["-verbose"], env: () => BASE_ENV, setting: "-verbose", problem: "unknown flag" },
  { rule: "flags are given once", argv: ["-workers=1", "-workers=2"], env: () => BASE_ENV, setting: "-workers", problem: "more than once" },
  {
    rule: "the org matches ^[a-zA-Z0-9_-]+$",
    env: () => ({ ...BASE_ENV, GITHUB_ORG: "my org" }),
    setting: "GITHUB_ORG",
    problem: "must match ^[a-zA-Z0-9_-]+$ (got \"my org\")"
  },
  {
    rule: "an org from ORG is checked and ORG is named",
    env: () => ({ ...without("GITHUB_ORG"), ORG: "acme/inc" }),
    setting: "ORG",
    problem: "must match"
  },
  {
    rule: "GITHUB_ORG and ORG must agree",
    env: () => ({ ...BASE_ENV, ORG: "other" }),
    setting: "GITHUB_ORG",
    problem: "conflicts with ORG"
  },
  {
    rule: "the template has a placeholder",
    env: () => ({ ...BASE_ENV, DN_TEMPLATE: "static-name" }),
    setting: "DN_TEMPLATE",
    problem: "at least one placeholder"
  },
  {
    rule: "the template has only known placeholders",
    env: () => ({ ...BASE_ENV, DN_TEMPLATE: "{{namespace}}/{{pod}}" }),
    setting: "DN_TEMPLATE",
    problem: "unknown placeholder {{pod}}"
  },
  {
    rule: "BASE_URL is a URL",
    env: () => ({ ...BASE_ENV, BASE_URL: "https://exa mple.com" }),
    setting: "BASE_URL",
    problem: "not a host name or URL"
  },
  {
    rule: "BASE_URL is http:// only to a local host",
    env: () => ({ ...BASE_ENV, BASE_URL: "http://ghe.example.com/api/v3" }),
    setting: "BASE_URL",
    problem: "plain http:// is only allowed"
  },
  {
    rule: "BULK_CLUSTER_SYNC is a boolean",
    env: () => ({ ...BASE_ENV, BULK_CLUSTER_SYNC: "sometimes" }),
    setting: "BULK_CLUSTER_SYNC",
    problem: "must be true or false"
  },
  {
    rule: "API_RATE_LIMIT is not negative",
    env: () => ({ ...BASE_ENV, API_RATE_LIMIT: "-1" }),
    setting: "API_RATE_LIMIT",
    problem: "0 for no limit"
  },
  {
    rule: "API_RATE_LIMIT is a number",
    env: () => ({ ...BASE_ENV, API_RATE_LIMIT: "fast" }),
    setting: "API_RATE_LIMIT",
    problem: "0 for no limit"
  },
  { rule: "API_BURST >= 1", env: () => ({ ...BASE_ENV, API_BURST: "0" }), setting: "API_BURST", problem: "at least 1" },
  { rule: "API_BURST is an integer", env: () => ({ ...BASE_ENV, API_BURST: "2.5" }), setting: "API_BURST", problem: "integer" },
  {
    rule: "API_TIMEOUT_SECONDS >= 1",
    env: () => ({ ...BASE_ENV, API_TIMEOUT_SECONDS: "0" }),
    setting: "API_TIMEOUT_SECONDS",
    problem: "from 1 to 300"
  },
  {
    rule: "API_TIMEOUT_SECONDS <= 300",
    env: () => ({ ...BASE_ENV, API_TIMEOUT_SECONDS: "301" }),
    setting: "API_TIMEOUT_SECONDS",
    problem: "from 1 to 300"
  },
  {
    rule: "SHUTDOWN_TIMEOUT_SECONDS >= 1",
    env: () => ({ ...BASE_ENV, SHUTDOWN_TIMEOUT_SECONDS: "0" }),
    setting: "SHUTDOWN_TIMEOUT_SECONDS",
    problem: "from 1 to 600"
  },
  {
    rule: "SHUTDOWN_TIMEOUT_SECONDS <= 600",
    env: () => ({ ...BASE_ENV, SHUTDOWN_TIMEOUT_SECONDS: "601" }),
    setting: "SHUTDOWN_TIMEOUT_SECONDS",
    problem: "from 1 to 600"
  },
  {
    rule: "API_TOKEN is one token",
    env: () => ({ ...BASE_ENV, API_TOKEN: `${TOKEN} extra` }),
    setting: "API_TOKEN",
    problem: "single token"
  },
  {
    rule: "GH_APP_ID is an id",
    env: (files) => ({ ...ENV_WITHOUT_CREDENTIALS, ...app(files), GH_APP_ID: "my app" }),
    setting: "GH_APP_ID",
    problem: "App ID"
  },
  {
    rule: "GH_INSTALL_ID is numeric",
    env: (files) => ({ ...ENV_WITHOUT_CREDENTIALS, ...app(files), GH_INSTALL_ID: "install-1" }),
    setting: "GH_INSTALL_ID",
    problem: "numeric installation ID"
  },
  {
    rule: "key path and key value are exclusive",
    env: (files) => ({ ...ENV_WITHOUT_CREDENTIALS, ...app(files), GH_APP_PRIVATE_KEY: base64(PKCS8_PEM) }),
    setting: "GH_APP_PRIVATE_KEY",
    problem: "cannot be combined with GH_APP_PRIV_KEY_PATH"
  },
  {
    rule: "the key file exists",
    env: (files) => ({ ...ENV_WITHOUT_CREDENTIALS, ...app(files), GH_APP_PRIV_KEY_PATH: files.missing }),
    setting: "GH_APP_PRIV_KEY_PATH",
    problem: "no such file"
  },
  {
    rule: "the key file is a file",
    env: (files) => ({ ...ENV_WITHOUT_CREDENTIALS, ...app(files), GH_APP_PRIV_KEY_PATH: files.dir }),
    setting: "GH_APP_PRIV_KEY_PATH",
    problem: "not a regular file"
  },
  {
    rule: "the key file is key-sized",
    env: (files) => ({ ...ENV_WITHOUT_CREDENTIALS, ...app(files), GH_APP_PRIV_KEY_PATH: files.huge }),
    setting: "GH_APP_PRIV_KEY_PATH",
    problem: "larger than"
  },
  {
    rule: "the key file holds a key",
    env: (files) => ({ ...ENV_WITHOUT_CREDENTIALS, ...app(files), GH_APP_PRIV_KEY_PATH: files.garbage }),
    setting: "GH_APP_PRIV_KEY_PATH",
    problem: "is not a PEM private key"
  },
  {
    rule: "an error through the old key path name names it",
    env: (files) => ({ ...ENV_WITHOUT_CREDENTIALS, GH_APP_ID: "1", GH_INSTALL_ID: "2", GH_APP_PRIV_KEY: files.missing }),
    setting: "GH_APP_PRIV_KEY",
    problem: "no such file"
  },
  {
    rule: "the key is RSA",
    env: (files) => ({ ...ENV_WITHOUT_CREDENTIALS, ...app(files), GH_APP_PRIV_KEY_PATH: files.ec }),
    setting: "GH_APP_PRIV_KEY_PATH",
    problem: "GitHub App keys are RSA"
  },
  {
    rule: "the key value is base64",
    env: () => ({ ...ENV_WITHOUT_CREDENTIALS, GH_APP_ID: "1", GH_INSTALL_ID: "2", GH_APP_PRIVATE_KEY: "c2VjcmV0!" }),
    setting: "GH_APP_PRIVATE_KEY",
    problem: "must be valid base64"
  },
  {
    rule: "the key value is base64, not PEM text",
    env: () => ({ ...ENV_WITHOUT_CREDENTIALS, GH_APP_ID: "1", GH_INSTALL_ID: "2", GH_APP_PRIVATE_KEY: PKCS8_PEM }),
    setting: "GH_APP_PRIVATE_KEY",
    problem: "looks like PEM text"
  },
  {
    rule: "the decoded key value is a key",
    env: () => ({ ...ENV_WITHOUT_CREDENTIALS, GH_APP_ID: "1", GH_INSTALL_ID: "2", GH_APP_PRIVATE_KEY: base64("secret garbage") }),
    setting: "GH_APP_PRIVATE_KEY",
    problem: "is not a PEM private key"
  },
  {
    rule: "the decoded key value is an RSA key",
    env: () => ({ ...ENV_WITHOUT_CREDENTIALS, GH_APP_ID: "1", GH_INSTALL_ID: "2", GH_APP_PRIVATE_KEY: base64(EC_PEM) }),
    setting: "GH_APP_PRIVATE_KEY",
    problem: "GitHub App keys are RSA"
  },
  {
    rule: "an App ID alone is partial App configuration",
    env: () => ({ ...ENV_WITHOUT_CREDENTIALS, GH_APP_ID: "1" }),
    setting: "GH_INSTALL_ID",
    problem: "because GH_APP_ID is set"
  },
  {
    rule: "App ID and installation without a key is partial, even with a token",
    env: () => ({ ...BASE_ENV, GH_APP_ID: "1", GH_INSTALL_ID: "2" }),
    setting: "GH_APP_PRIV_KEY_PATH",
    problem: "because GH_APP_ID and GH_INSTALL_ID are set"
  },
  {
    rule: "a key alone is partial App configuration",
    env: (files) => ({ ...ENV_WITHOUT_CREDENTIALS, GH_APP_PRIV_KEY_PATH: files.pkcs8 }),
    setting: "GH_APP_ID",
    problem: "because GH_APP_PRIV_KEY_PATH is set"
  },
  {
    rule: "a base64 key and an installation without an App ID is partial",
    env: () => ({ ...ENV_WITHOUT_CREDENTIALS, GH_INSTALL_ID: "2", GH_APP_PRIVATE_KEY: base64(PKCS8_PEM) }),
    setting: "GH_APP_ID",
    problem: "because GH_INSTALL_ID and GH_APP_PRIVATE_KEY are set"
  },
  {
    rule: "a lease duration that is not a Go duration",
    argv: ["-leader-elect", "-leader-elect-lease-duration=15"],
    env: () => BASE_ENV,
    setting: "-leader-elect-lease-duration",
    problem: "must be a positive duration"
  },
  {
    rule: "a renew deadline not shorter than the lease duration",
    argv: ["-leader-elect", "-leader-elect-lease-duration=10s", "-leader-elect-renew-deadline=10s"],
    env: () => BASE_ENV,
    setting: "-leader-elect-renew-deadline",
    problem: "must be shorter than -leader-elect-lease-duration"
  },
  {
    rule: "a retry period too long for the renew deadline",
    argv: ["-leader-elect", "-leader-elect-renew-deadline=10s", "-leader-elect-retry-period=9s"],
    env: () => BASE_ENV,
    setting: "-leader-elect-retry-period",
    problem: "must be shorter than -leader-elect-renew-deadline / 1.2"
  },
  {
    rule: "a Lease name that is not a DNS label",
    argv: ["-leader-elect-resource-name=Tracker Lock"],
    env: () => BASE_ENV,
    setting: "-leader-elect-resource-name",
    problem: "must be a namespace name"
  },
  {
    rule: "a plain-http collector outside the cluster",
    env: () => ({ ...BASE_ENV, OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector.example.com:4318" }),
    setting: "OTEL_EXPORTER_OTLP_ENDPOINT",
    problem: "must be an https:// URL"
  },
  {
    rule: "collector headers that are not key=value pairs",
    env: () => ({ ...BASE_ENV, OTEL_EXPORTER_OTLP_HEADERS: "c2VjcmV0" }),
    setting: "OTEL_EXPORTER_OTLP_HEADERS",
    problem: "must be key=value pairs"
  }
]

/** What no error message may contain: the token, and any key material in any form. */
const SECRETS = [TOKEN, "secret garbage", base64("secret garbage"), "c2VjcmV0", "PRIVATE KEY", ...[PKCS1_PEM, PKCS8_PEM, EC_PEM].flatMap((pem) => [pem.split("\n")[1]!, base64(pem).slice(0, 40)])]

describe("every rule is an error naming the setting", () => {
  for (const { argv = [], env, problem, rule, setting } of ERROR_CASES) {
    it.scoped(rule, () =>
      Effect.gen(function*() {
        const files = yield* makeKeyFiles
        const error = yield* Effect.flip(load(argv, env(files)))
        if (error._tag !== "ConfigError") return expect.fail(`expected a ConfigError, got ${error._tag}`)
        expect(error.setting).toBe(setting)
        expect(error.message.startsWith(`invalid setting ${setting}: `)).toBe(true)
        expect(error.message).toContain(problem)
        expect(error.message).not.toContain("\n")
        for (const secret of SECRETS) expect(error.message).not.toContain(secret)
      }))
  }

  it.effect("the rendering matches the documented form", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(load([], { ...BASE_ENV, GITHUB_ORG: "my org" }))
      expect(error).toMatchObject({
        _tag: "ConfigError",
        setting: "GITHUB_ORG",
        message: "invalid setting GITHUB_ORG: must match ^[a-zA-Z0-9_-]+$ (got \"my org\")"
      })
    }))

  it.effect("-help wins over a broken environment", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(load(["-help"], {}))
      expect(error._tag).toBe("HelpRequested")
    }))

  it.effect("secrets in a successful config are redacted", () =>
    Effect.gen(function*() {
      const { config } = yield* load([], BASE_ENV)
      expect(JSON.stringify(config)).not.toContain(TOKEN)
      expect(String(config.credentials._tag === "Token" ? config.credentials.token : "")).not.toContain(TOKEN)
    }))
})

describe("record fields from the environment", () => {
  it.effect("128 characters (code points, as GitHub's schema counts them) are accepted", () =>
    Effect.gen(function*() {
      const emoji = "\u{1F680}".repeat(128) // 256 UTF-16 units, 128 characters
      const { config } = yield* load([], {
        ...BASE_ENV,
        LOGICAL_ENVIRONMENT: "p".repeat(128),
        PHYSICAL_ENVIRONMENT: emoji,
        CLUSTER: "c".repeat(128)
      })
      expect(config.logicalEnvironment).toHaveLength(128)
      expect(config.physicalEnvironment).toBe(emoji)
      expect(config.cluster).toHaveLength(128)
    }))

  it.effect("a CLUSTER the jobs URL cannot carry is still accepted: the record schema has no pattern (the bulk sync is skipped with a warning)", () =>
    Effect.gen(function*() {
      expect((yield* load([], { ...BASE_ENV, CLUSTER: "eu west/1" })).config.cluster).toBe("eu west/1")
    }))
})

describe("reconciliation settings", () => {
  it.effect("-resync-period takes a Go duration or 0 (off); anything else exits naming it", () =>
    Effect.gen(function*() {
      expect((yield* load(["-resync-period=30m"], BASE_ENV)).config.resyncPeriod).toStrictEqual(Option.some(Duration.minutes(30)))
      expect(Option.isNone((yield* load(["-resync-period=0"], BASE_ENV)).config.resyncPeriod)).toBe(true)
      const refused = yield* load(["-resync-period=often"], BASE_ENV).pipe(Effect.flip)
      expect(refused.message).toContain("-resync-period")
      expect(refused.message).toContain("often")
    }))

  it.effect("-kube-api-qps and -kube-api-burst bound the API reads; 0 qps lifts the limit, a burst must be at least 1", () =>
    Effect.gen(function*() {
      const { config } = yield* load(["-kube-api-qps=5.5", "-kube-api-burst=10"], BASE_ENV)
      expect([config.kubeApiQps, config.kubeApiBurst]).toStrictEqual([5.5, 10])
      expect((yield* load(["-kube-api-qps=0"], BASE_ENV)).config.kubeApiQps).toBe(0)
      expect((yield* load(["-kube-api-burst=0"], BASE_ENV).pipe(Effect.flip)).message).toContain("-kube-api-burst")
      expect((yield* load(["-kube-api-qps=-1"], BASE_ENV).pipe(Effect.flip)).message).toContain("-kube-api-qps")
    }))
})

describe("-namespace-selector", () => {
  it.effect("takes a label selector; a malformed one exits naming the flag and the requirement at fault", () =>
    Effect.gen(function*() {
      const ok = ["tracking=on", "env in (prod, staging),!legacy", "team.example.com/owner!=ops", "tier notin (batch)", "monitored"]
      for (const selector of ok) {
        expect((yield* load(["-namespace-selector", selector], BASE_ENV)).config.namespaceSelector).toStrictEqual(Option.some(selector))
      }
      const bad = ["env in (prod", "a==b==c", "tracking=on,", "bad key=1", "env in prod"]
      for (const selector of bad) {
        const refused = yield* load(["-namespace-selector", selector], BASE_ENV).pipe(Effect.flip)
        expect(refused.message).toContain("-namespace-selector")
      }
    }))
})

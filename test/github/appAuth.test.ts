import { describe, expect, it } from "@effect/vitest"
import { Cause, Duration, Effect, Exit, Layer, Logger, LogLevel, Option, Redacted, Schedule } from "effect"
import { generateKeyPairSync } from "node:crypto"
import { type GitHubSimulator, startGitHubSimulator } from "../../scripts/github-sim/simulator.ts"
import type { ControllerConfig } from "../../src/config/Config.ts"
import { DeploymentRecordClient } from "../../src/github/DeploymentRecordClient.ts"
import { GitHubAuth, startupMintRetry } from "../../src/github/GitHubAuth.ts"
import { GitHubRequester } from "../../src/github/GitHubRequester.ts"
import { type AppInstallation, mintInstallationToken, MintFailed } from "../../src/github/installationToken.ts"
import { lineLogger } from "../../src/observability/Logging.ts"
import type { DeploymentRecord } from "../../src/record/DeploymentRecord.ts"
import { gitHubLayer, metricValue } from "../support/gitHubLayer.ts"
import { testConfigLayer } from "../support/testConfig.ts"

// GitHub App authentication against the simulator, which verifies the App's
// JWTs with its public key and mints installation tokens that expire.

const APP_ID = "4242"
const CLIENT_ID = "Iv23liAppAuthTest"
const INSTALLATION = 77

const makeKeys = () => {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 })
  return {
    pkcs1: privateKey.export({ type: "pkcs1", format: "pem" }).toString(),
    pkcs8: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    publicPem: publicKey.export({ type: "spki", format: "pem" }).toString()
  }
}
const keys = makeKeys()
const otherKeys = makeKeys()

/** What must never appear in any output: key material in every form. */
const keyFragments = [keys.pkcs1, keys.pkcs8].flatMap((pem) => pem.split("\n").filter((line) => line.length > 20 && !line.startsWith("-----")))

const simulator = (options: { ttlMs?: number; basePath?: string } = {}) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      startGitHubSimulator({
        app: { id: Number(APP_ID), clientId: CLIENT_ID, publicKey: keys.publicPem, installationIds: [INSTALLATION] },
        installationTokenTtlMs: options.ttlMs ?? 3_600_000,
        ...(options.basePath === undefined ? {} : { basePath: options.basePath })
      })
    ),
    (sim) => Effect.promise(() => sim.close())
  )

const installation = (overrides: Partial<AppInstallation> = {}): AppInstallation => ({
  appId: APP_ID,
  installationId: String(INSTALLATION),
  privateKey: Redacted.make(keys.pkcs8),
  ...overrides
})

/** Mints through a requester whose BASE_URL is the simulator's. */
const mint = (sim: GitHubSimulator, target: AppInstallation) =>
  Effect.flatMap(GitHubRequester, (requester) => mintInstallationToken(requester, target)).pipe(
    Effect.provide(gitHubLayer().pipe(Layer.provide(testConfigLayer({ baseUrl: sim.url, apiRequestTimeout: Duration.seconds(5) }))))
  )

const appConfig = (sim: GitHubSimulator, overrides: Partial<ControllerConfig> = {}) =>
  testConfigLayer({
    baseUrl: sim.url,
    credentials: { _tag: "App", appId: APP_ID, installationId: String(INSTALLATION), privateKey: Redacted.make(keys.pkcs8) },
    ...overrides
  })

/** Every log line (JSON, as the program writes them), at every level. */
const captureLogs = (lines: Array<string>) =>
  Layer.mergeAll(Logger.add(lineLogger((line) => lines.push(line))), Logger.minimumLogLevel(LogLevel.All))

const expectNoSecrets = (text: string, sim: GitHubSimulator) => {
  for (const fragment of keyFragments) expect(text).not.toContain(fragment)
  expect(text).not.toContain("PRIVATE KEY")
  for (const minted of sim.installationTokens()) expect(text).not.toContain(minted.token)
  expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}/) // a JWT
}

const record = (n: number): DeploymentRecord => ({
  name: "ghcr.io/octo-org/app",
  digest: `sha256:${n.toString(16).padStart(64, "0")}`,
  version: "1.0.0",
  status: "deployed",
  logical_environment: "test",
  physical_environment: "lab",
  cluster: "test-cluster",
  deployment_name: `default/app-${n}/app`
})

const clientLayer = (config: ReturnType<typeof appConfig>) =>
  DeploymentRecordClient.Default.pipe(
    Layer.provideMerge(gitHubLayer()),
    Layer.provide(config)
  )

const routesOf = (sim: GitHubSimulator) => sim.requests().map((r) => `${r.route}:${r.status}`)

describe("minting installation tokens", () => {
  it.live("a PKCS#1 or PKCS#8 key, the numeric App ID or the client ID: a token that expires when GitHub says", () =>
    Effect.gen(function*() {
      const sim = yield* simulator({ ttlMs: 120_000 })
      for (const privateKey of [keys.pkcs1, keys.pkcs8]) {
        for (const appId of [APP_ID, CLIENT_ID]) {
          const before = Date.now()
          const token = yield* mint(sim, installation({ appId, privateKey: Redacted.make(privateKey) }))
          expect(Redacted.value(token.token)).toMatch(/^ghs_/)
          // expires_at has whole seconds and the Date header too: within 2 s short of the TTL, never beyond.
          expect(token.expiresAt - before).toBeLessThanOrEqual(120_000 + 50)
          expect(token.expiresAt - before).toBeGreaterThan(117_000)
        }
      }
      const [request] = sim.requests()
      expect(request).toMatchObject({
        method: "POST",
        path: `/app/installations/${INSTALLATION}/access_tokens`,
        headers: { accept: "application/vnd.github+json", "x-github-api-version": "2022-11-28", authorization: "Bearer <redacted>" }
      })
      expect(request?.headers["user-agent"]).toMatch(/^deployment-tracker\//)
      expect(sim.violations()).toEqual([])
    }).pipe(Effect.scoped))

  it.live("mints against the configured base URL (GHES-style /api/v3 prefix)", () =>
    Effect.gen(function*() {
      const sim = yield* simulator({ basePath: "/api/v3" })
      expect(sim.url).toMatch(/\/api\/v3$/)
      yield* mint(sim, installation())
      expect(sim.requests().map((r) => r.path)).toEqual([`/api/v3/app/installations/${INSTALLATION}/access_tokens`])
      expect(sim.violations()).toEqual([])
    }).pipe(Effect.scoped))

  it.live("an installation GitHub does not know is refused, naming GH_INSTALL_ID", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const error = yield* Effect.flip(mint(sim, installation({ installationId: "78" })))
      expect(error).toMatchObject({ _tag: "InstallationRefused", setting: "GH_INSTALL_ID", status: 404 })
      expect(error.message).toContain("installation 78")
      expectNoSecrets(error.message, sim)
    }).pipe(Effect.scoped))

  it.live("a key of another App is refused (401), naming GH_APP_ID; the message has no key or JWT", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const error = yield* Effect.flip(mint(sim, installation({ privateKey: Redacted.make(otherKeys.pkcs8) })))
      expect(error).toMatchObject({ _tag: "InstallationRefused", setting: "GH_APP_ID", status: 401 })
      expect(error.message).toContain("could not be decoded")
      expectNoSecrets(error.message, sim)
    }).pipe(Effect.scoped))

  it.live("5xx and rate limits are transient (MintFailed), with GitHub's wait", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      sim.setFaults({ kind: "status", status: 503, route: "create-token", count: 1 })
      const unavailable = yield* Effect.flip(mint(sim, installation()))
      expect(unavailable).toMatchObject({ _tag: "MintFailed" })
      expect(unavailable._tag === "MintFailed" && unavailable.reason).toContain("HTTP 503")
      sim.setFaults({ kind: "rate-limit", status: 429, route: "create-token", retryAfterSeconds: 7, count: 1 })
      const limited = yield* Effect.flip(mint(sim, installation()))
      expect(limited._tag).toBe("MintFailed")
      expect(limited._tag === "MintFailed" && Duration.toMillis(limited.retryAfter)).toBe(7000)
    }).pipe(Effect.scoped))

  it("the start-up retry doubles from 1 s (jittered), caps at 1 minute and never undercuts Retry-After", () => {
    const failure = (seconds: number) => new MintFailed({ reason: "x", retryAfter: Duration.seconds(seconds) })
    const delays = Effect.runSync(
      Schedule.run(Schedule.delays(startupMintRetry), 0, [0, 0, 0, 0, 0, 0, 0, 0, 0, 90].map(failure))
    ).pipe((chunk) => [...chunk].map(Duration.toMillis))
    expect(delays[0]).toBeGreaterThanOrEqual(800)
    expect(delays[0]).toBeLessThanOrEqual(1200)
    expect(delays[3]).toBeGreaterThanOrEqual(6400)
    expect(delays[3]).toBeLessThanOrEqual(9600)
    // From the 8th retry on, even 0.8 x 2^n s is past the cap.
    expect(delays.slice(7, 9)).toEqual([60_000, 60_000])
    expect(delays[9]).toBe(90_000)
  })
})

describe("GitHubAuthLive with App credentials", () => {
  it.live("mints at start-up, retrying a transient failure; sends `Bearer <installation token>`", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      sim.setFaults({ kind: "status", status: 502, route: "create-token", count: 1 })
      const auth = yield* Effect.provide(GitHubAuth, gitHubLayer().pipe(Layer.provide(appConfig(sim))))
      expect(routesOf(sim)).toEqual(["create-token:502", "create-token:201"])
      const header = Redacted.value(Option.getOrThrow(yield* auth.authorization))
      expect(header).toBe(`Bearer ${sim.installationTokens().at(-1)?.token}`)
      expect(routesOf(sim)).toHaveLength(2)
    }).pipe(Effect.scoped))

  it.live("an installation GitHub refuses fails the start-up with InstallationRefused", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const config = appConfig(sim, {
        credentials: { _tag: "App", appId: APP_ID, installationId: "99", privateKey: Redacted.make(keys.pkcs8) }
      })
      const exit = yield* Effect.exit(Effect.provide(GitHubAuth, gitHubLayer().pipe(Layer.provide(config))))
      expect(Exit.isFailure(exit)).toBe(true)
      if (Exit.isFailure(exit)) {
        expect(Cause.failureOption(exit.cause)).toMatchObject({ value: { _tag: "InstallationRefused", setting: "GH_INSTALL_ID" } })
      }
    }).pipe(Effect.scoped))

  it.live("in dry-run nothing is minted at start", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      yield* Effect.provide(GitHubAuth, gitHubLayer().pipe(Layer.provide(appConfig(sim, { dryRun: true }))))
      expect(sim.requests()).toEqual([])
    }).pipe(Effect.scoped))
})

describe("DeploymentRecordClient with App credentials", () => {
  it.live("tokens expiring mid-run are replaced before they expire: every record lands, none fails", () => {
    const lines: Array<string> = []
    return Effect.gen(function*() {
      const sim = yield* simulator({ ttlMs: 2_500 })
      const posted = yield* Effect.gen(function*() {
        const client = yield* DeploymentRecordClient
        let n = 0
        const started = Date.now()
        // Posts for longer than three token lifetimes.
        while (Date.now() - started < 8_000) {
          yield* client.post(record(n++))
          yield* Effect.sleep("100 millis")
        }
        expect(yield* metricValue("deptracker_post_record_hard_fail")).toBe(0)
        expect(yield* metricValue("deptracker_post_record_soft_fail")).toBe(0)
        expect(yield* metricValue("deptracker_post_record_client_error")).toBe(0)
        return n
      }).pipe(Effect.provide(clientLayer(appConfig(sim))), Effect.provide(captureLogs(lines)))

      expect(sim.records()).toHaveLength(posted)
      // No request ever carried an expired token: the simulator would have answered 401 and noted an auth violation.
      expect(sim.violations()).toEqual([])
      expect(sim.requests().filter((r) => r.route === "create-record").every((r) => r.status === 200)).toBe(true)
      expect(sim.installationTokens().length).toBeGreaterThanOrEqual(4)
      expect(lines.some((line) => line.includes("Minted a GitHub App installation token"))).toBe(true)
      expectNoSecrets(lines.join("\n"), sim)
    }).pipe(Effect.scoped)
  })

  it.live("a 401 (token revoked) forces one refresh and one retry of that request", () => {
    const lines: Array<string> = []
    return Effect.gen(function*() {
      const sim = yield* simulator()
      yield* Effect.gen(function*() {
        const client = yield* DeploymentRecordClient
        yield* client.post(record(1))
        expect(sim.revokeInstallationTokens()).toBe(1)
        yield* client.post(record(2))
        expect(yield* metricValue("deptracker_post_record_ok")).toBe(2)
        expect(yield* metricValue("deptracker_post_record_client_error")).toBe(0)
      }).pipe(Effect.provide(clientLayer(appConfig(sim))), Effect.provide(captureLogs(lines)))

      expect(routesOf(sim)).toEqual([
        "create-token:201", // start-up
        "create-record:200",
        "create-record:401", // revoked
        "create-token:201", // one refresh
        "create-record:200" // one retry
      ])
      expect(sim.records().map((r) => r.deployment_name)).toEqual([record(1).deployment_name, record(2).deployment_name])
      expect(lines.some((line) => line.includes("retrying with a new one"))).toBe(true)
      expectNoSecrets(lines.join("\n"), sim)
    }).pipe(Effect.scoped)
  })

  it.live("a second 401 after the refresh is a client error: no loop", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      yield* Effect.gen(function*() {
        const client = yield* DeploymentRecordClient
        sim.setFaults({ kind: "status", status: 401, route: "create-record", body: { message: "Bad credentials" } })
        const error = yield* Effect.flip(client.post(record(1)))
        expect(error).toMatchObject({ _tag: "ClientError", status: 401 })
      }).pipe(Effect.provide(clientLayer(appConfig(sim))))
      expect(routesOf(sim)).toEqual(["create-token:201", "create-record:401", "create-token:201", "create-record:401"])
    }).pipe(Effect.scoped))

  it.live("with a PAT a 401 is not retried (the token cannot change)", () =>
    Effect.gen(function*() {
      const sim = yield* Effect.acquireRelease(
        Effect.promise(() => startGitHubSimulator({ tokens: ["ghp_right"] })),
        (s) => Effect.promise(() => s.close())
      )
      const error = yield* Effect.gen(function*() {
        const client = yield* DeploymentRecordClient
        return yield* Effect.flip(client.post(record(1)))
      }).pipe(
        Effect.provide(clientLayer(testConfigLayer({ baseUrl: sim.url, credentials: { _tag: "Token", token: Redacted.make("ghp_wrong") } })))
      )
      expect(error).toMatchObject({ _tag: "ClientError", status: 401 })
      expect(routesOf(sim)).toEqual(["create-record:401"])
    }).pipe(Effect.scoped))
})

import * as HttpClient from "@effect/platform/HttpClient"
import { Context, Data, Duration, Effect, Layer, Option, Redacted, Schedule } from "effect"
import { Config } from "../config/Config.ts"
import {
  type AppInstallation,
  type InstallationRefused,
  mintInstallationToken,
  type MintFailed
} from "./installationToken.ts"
import { makeGitHubHttpClient } from "./GitHubHttp.ts"
import { makeInstallationTokenCache } from "./installationTokenCache.ts"

export class AuthUnavailable extends Data.TaggedError("AuthUnavailable")<{
  readonly reason: string
}> {}

/**
 * Supplies the Authorization header value for GitHub API calls. A PAT is
 * fixed; a GitHub App mints installation tokens that expire (cached, and
 * replaced before they expire), so `refresh` exists for the 401 path.
 * Without credentials there is no header at all.
 */
export class GitHubAuth extends Context.Tag("deployment-tracker/GitHubAuth")<GitHubAuth, {
  /**
   * The header value (`Bearer …`), none without credentials. Fails only when
   * no valid credential can be had right now (minting failed and the last
   * token expired): a retriable failure for the caller.
   */
  readonly authorization: Effect.Effect<Option.Option<Redacted.Redacted<string>>, AuthUnavailable>
  /** Drop any cached credential after GitHub answered 401 (the next `authorization` mints). */
  readonly refresh: Effect.Effect<void>
}>() {}

/**
 * Retries of the start-up mint after transient failures (5xx, network,
 * rate limit): 1 s doubling, jittered, capped at 1 minute, for as long as it
 * takes (a controller without a token can do nothing else), and never sooner
 * than GitHub's Retry-After. Jitter before the cap, so the cap holds.
 */
export const startupMintRetry = Schedule.exponential("1 second").pipe(
  Schedule.jittered,
  Schedule.union(Schedule.spaced("1 minute")),
  Schedule.intersect(Schedule.identity<MintFailed | InstallationRefused>()),
  Schedule.modifyDelay(([, failure], delay) =>
    failure._tag === "MintFailed" ? Duration.max(delay, failure.retryAfter) : delay
  )
)

const bearer = (token: Redacted.Redacted<string>) => Redacted.make(`Bearer ${Redacted.value(token)}`)

const patAuth = (token: Redacted.Redacted<string>): Context.Tag.Service<GitHubAuth> => {
  const header = Option.some(bearer(token))
  return { authorization: Effect.succeed(header), refresh: Effect.void }
}

/** No credentials: no Authorization header (BASE_URL adds one, or the endpoint needs none). */
const anonymous: Context.Tag.Service<GitHubAuth> = { authorization: Effect.succeed(Option.none()), refresh: Effect.void }

/**
 * GitHub App authentication: the first token is minted at start-up (unless
 * in dry-run, which sends nothing to GitHub), so an installation GitHub
 * refuses stops the program before it does anything (InstallationRefused);
 * transient failures are retried with `startupMintRetry`. Later refreshes
 * that fail make `authorization` fail as AuthUnavailable, which the callers
 * retry; nothing crashes.
 */
export const makeAppAuth = (
  installation: AppInstallation,
  options: { readonly requestTimeout: Duration.Duration; readonly mintAtStart: boolean }
): Effect.Effect<Context.Tag.Service<GitHubAuth>, InstallationRefused, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const http = (yield* HttpClient.HttpClient).pipe(HttpClient.withTracerPropagation(false))
    const mint = mintInstallationToken(http, installation, options.requestTimeout)
    const cache = yield* makeInstallationTokenCache(mint)
    if (options.mintAtStart) {
      const first = yield* mint.pipe(
        Effect.tapErrorTag("MintFailed", (e) =>
          Effect.logWarning("Minting a GitHub App installation token failed; retrying").pipe(
            Effect.annotateLogs({ reason: e.reason })
          )
        ),
        Effect.retry({ while: (e) => e._tag === "MintFailed", schedule: startupMintRetry }),
        // `while` has let only InstallationRefused through.
        Effect.catchTag("MintFailed", (e) => Effect.die(e))
      )
      yield* cache.set(first)
      yield* Effect.logInfo("Authenticated as a GitHub App installation").pipe(
        Effect.annotateLogs({
          app_id: installation.appId,
          installation_id: installation.installationId,
          token_expires_at: new Date(first.expiresAt).toISOString()
        })
      )
    }
    return {
      authorization: cache.current.pipe(
        Effect.map((token) => Option.some(bearer(token.token))),
        Effect.mapError((e) => new AuthUnavailable({ reason: e.reason }))
      ),
      refresh: cache.invalidate
    }
  })

/**
 * The credential from the configuration: a PAT, or a GitHub App (App settings
 * take precedence; loadConfig decided that). Fails with InstallationRefused
 * when GitHub refuses the App's installation at start-up.
 */
export const GitHubAuthLive: Layer.Layer<GitHubAuth, InstallationRefused, Config> = Layer.unwrapEffect(
  Effect.map(Config, (config) => {
    const credentials = config.credentials
    if (credentials._tag === "None") return Layer.succeed(GitHubAuth, anonymous)
    if (credentials._tag === "Token") return Layer.succeed(GitHubAuth, patAuth(credentials.token))
    const installation: AppInstallation = {
      baseUrl: config.baseUrl,
      appId: credentials.appId,
      installationId: credentials.installationId,
      privateKey: credentials.privateKey
    }
    // Minting goes to the same base URL as every other call: same proxy, same CAs.
    const mintingClient = Layer.scoped(
      HttpClient.HttpClient,
      makeGitHubHttpClient(config.apiRequestTimeout, config.baseUrl, config.egress)
    )
    return Layer.effect(
      GitHubAuth,
      makeAppAuth(installation, { requestTimeout: config.apiRequestTimeout, mintAtStart: !config.dryRun })
    ).pipe(Layer.provide(mintingClient))
  })
)

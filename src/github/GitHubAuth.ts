import { Context, Duration, Effect, Layer, Option, type Redacted, Schedule } from "effect"
import { Config } from "../config/Config.ts"
import { AuthUnavailable } from "./errors.ts"
import { bearer, type Credential, GitHubRequester } from "./GitHubRequester.ts"
import {
  type AppInstallation,
  type InstallationRefused,
  mintInstallationToken,
  type MintFailed
} from "./installationToken.ts"
import { makeInstallationTokenCache } from "./installationTokenCache.ts"

/**
 * The credential of GitHub API calls. A PAT is fixed; a GitHub App mints
 * installation tokens that expire (cached, and replaced before they
 * expire), so it is `renewable` and `refresh` serves the 401 path. Without
 * credentials there is no header at all.
 */
export class GitHubAuth extends Context.Tag("deployment-tracker/GitHubAuth")<GitHubAuth, Credential>() {}

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

const patAuth = (token: Redacted.Redacted<string>): Credential => {
  const header = Option.some(bearer(token))
  return { authorization: Effect.succeed(header), refresh: Effect.void, renewable: false }
}

/** No credentials: no Authorization header (BASE_URL adds one, or the endpoint needs none). */
const anonymous: Credential = { authorization: Effect.succeed(Option.none()), refresh: Effect.void, renewable: false }

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
  options: { readonly mintAtStart: boolean }
): Effect.Effect<Credential, InstallationRefused, GitHubRequester> =>
  Effect.gen(function*() {
    const mint = mintInstallationToken(yield* GitHubRequester, installation)
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
      refresh: cache.invalidate,
      renewable: true
    }
  })

/**
 * The credential from the configuration: a PAT, or a GitHub App (App settings
 * take precedence; loadConfig decided that). Fails with InstallationRefused
 * when GitHub refuses the App's installation at start-up.
 */
export const GitHubAuthLive: Layer.Layer<GitHubAuth, InstallationRefused, Config | GitHubRequester> = Layer.unwrapEffect(
  Effect.map(Config, (config) => {
    const credentials = config.credentials
    if (credentials._tag === "None") return Layer.succeed(GitHubAuth, anonymous)
    if (credentials._tag === "Token") return Layer.succeed(GitHubAuth, patAuth(credentials.token))
    // Minted through the requester, like every other call: same base URL, proxy and CAs.
    const installation: AppInstallation = {
      appId: credentials.appId,
      installationId: credentials.installationId,
      privateKey: credentials.privateKey
    }
    return Layer.effect(GitHubAuth, makeAppAuth(installation, { mintAtStart: !config.dryRun }))
  })
)

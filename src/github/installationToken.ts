import { createAppAuth } from "@octokit/auth-app"
import { Data, Duration, Effect, Either, Option, Redacted, Schema } from "effect"
import { classifyFailure, type ResponseFacts, shortMessage } from "./classifyResponse.ts"
import { bearer, type GitHubRequester } from "./GitHubRequester.ts"

/**
 * Minting a GitHub App installation token: `POST
 * {baseUrl}/app/installations/{id}/access_tokens` with the App's JWT.
 * @octokit/auth-app signs the JWT (RS256, iat 30 s back, exp 10 min after,
 * iss = App ID or client ID); the request itself goes through GitHubRequester
 * so it carries the same headers, timeout and failure rules as every other
 * call to GitHub (octokit's request would send a preview Accept header and
 * its own User-Agent), and it is minted against the configured base URL
 * (api.github.com, GHES /api/v3, or api.<sub>.ghe.com).
 */

export interface AppInstallation {
  /** Numeric App ID or the App's client ID. */
  readonly appId: string
  readonly installationId: string
  /** PEM (PKCS#8 after config checks; PKCS#1 works too). */
  readonly privateKey: Redacted.Redacted<string>
}

export interface InstallationToken {
  readonly token: Redacted.Redacted<string>
  /** Epoch ms on our clock when the response arrived. */
  readonly mintedAt: number
  /** Epoch ms on our clock when GitHub will refuse the token (see `localExpiry`). */
  readonly expiresAt: number
}

/**
 * GitHub definitively refused this App or installation: the JWT was refused
 * (401: wrong App ID or a key of another App), the installation is unknown
 * (404) or suspended (403). Retrying cannot help. `setting` names what to fix.
 */
export class InstallationRefused extends Data.TaggedError("InstallationRefused")<{
  readonly setting: "GH_APP_ID" | "GH_INSTALL_ID"
  readonly status: number
  readonly message: string
}> {}

/** A failure that may pass (5xx, network, timeout, rate limit, odd answer). */
export class MintFailed extends Data.TaggedError("MintFailed")<{
  readonly reason: string
  /** How long GitHub asked us to wait (rate limits); zero otherwise. */
  readonly retryAfter: Duration.Duration
}> {}

const AccessToken = Schema.Struct({
  token: Schema.String.pipe(Schema.minLength(1)),
  expires_at: Schema.Date
})
const decodeAccessToken = Schema.decodeUnknownEither(Schema.parseJson(AccessToken))

// GitHub's 401 texts when the JWT's iat/exp disagree with its clock; octokit
// re-signs with the offset from the Date header once, and so do we.
const CLOCK_SKEW = /'Expiration time' claim \('exp'\)|'Issued at' claim \('iat'\)/

/**
 * Sorts a failed mint. 401 and 404 are definitive (octokit: "do not retry"),
 * and so is a 403 that is not a rate limit (a suspended installation); rate
 * limits, 5xx and anything else are worth another try later.
 */
export const classifyMintFailure = (
  facts: ResponseFacts,
  installation: Pick<AppInstallation, "appId" | "installationId">
): InstallationRefused | MintFailed => {
  const failure = classifyFailure(facts)
  // What GitHub says, bounded: never request data, only its own message.
  const says = shortMessage(facts.body)
  switch (failure._tag) {
    case "RateLimited":
      return new MintFailed({ reason: `rate limited (HTTP ${failure.status}): ${says}`, retryAfter: failure.wait })
    case "SoftFailure":
      return new MintFailed({ reason: failure.reason, retryAfter: Duration.zero })
    case "ClientError":
      break
  }
  const status = facts.status
  if (status === 401) {
    return new InstallationRefused({
      setting: "GH_APP_ID",
      status,
      message: `GitHub refused the JWT of App ${installation.appId} (HTTP 401: ${says}); ` +
        "check GH_APP_ID and that the private key belongs to this App"
    })
  }
  if (status === 404 || status === 403) {
    return new InstallationRefused({
      setting: "GH_INSTALL_ID",
      status,
      message: `GitHub refused installation ${installation.installationId} of App ${installation.appId} ` +
        `(HTTP ${status}: ${says}); check GH_INSTALL_ID, GH_APP_ID and that the App is installed and not suspended`
    })
  }
  return new MintFailed({ reason: `HTTP ${status}: ${says}`, retryAfter: Duration.zero })
}

/**
 * When the token expires on our clock. GitHub's `expires_at` is on its clock;
 * with its Date header we keep only the lifetime, so a node whose clock is off
 * neither uses expired tokens nor mints too often. The Date header has whole
 * seconds: GitHub's "now" is taken at the end of that second (shorter, safe).
 */
export const localExpiry = (expiresAt: Date, dateHeader: string | undefined, receivedAt: number): number => {
  const serverNow = dateHeader === undefined ? Number.NaN : Date.parse(dateHeader)
  return Number.isNaN(serverNow) ? expiresAt.getTime() : receivedAt + (expiresAt.getTime() - (serverNow + 999))
}

const signJwt = (installation: AppInstallation, offsetSeconds: number) =>
  Effect.tryPromise({
    try: () =>
      createAppAuth({
        // A numeric ID goes in as a number (iss as GitHub shows it); a client ID as text.
        appId: /^\d+$/.test(installation.appId) ? Number(installation.appId) : installation.appId,
        privateKey: Redacted.value(installation.privateKey),
        // auth-app's own clock-skew correction (the seconds GitHub is ahead).
        ...(offsetSeconds === 0 ? {} : { timeDifference: offsetSeconds }),
        log: { warn: () => undefined }
      })({ type: "app" }),
    // The library's message could quote its input; say only what failed.
    catch: () => new MintFailed({ reason: "signing the App JWT failed", retryAfter: Duration.zero })
  }).pipe(Effect.map((auth) => Redacted.make(auth.token)))

/**
 * Mints one installation token. A 401 caused by clock skew is retried once
 * with a JWT signed on GitHub's time. Only the exchange of the requester:
 * minting happens inside an API call that holds the gate and the permit.
 */
export const mintInstallationToken = (
  requester: Pick<GitHubRequester, "exchange">,
  installation: AppInstallation
): Effect.Effect<InstallationToken, InstallationRefused | MintFailed> => {
  const path = `/app/installations/${encodeURIComponent(installation.installationId)}/access_tokens`

  const attempt = (offsetSeconds: number) =>
    signJwt(installation, offsetSeconds).pipe(
      Effect.flatMap((jwt) => requester.exchange({ method: "POST", path }, Option.some(bearer(jwt)))),
      Effect.catchTag("SoftFailure", (e) => Effect.fail(new MintFailed({ reason: e.reason, retryAfter: Duration.zero })))
    )

  const toToken = (facts: ResponseFacts): Either.Either<InstallationToken, InstallationRefused | MintFailed> => {
    if (facts.status !== 201 && facts.status !== 200) return Either.left(classifyMintFailure(facts, installation))
    return decodeAccessToken(facts.body).pipe(
      Either.mapLeft(() =>
        new MintFailed({ reason: "the answer has no token or expires_at", retryAfter: Duration.zero })
      ),
      Either.map(({ expires_at, token }) => ({
        token: Redacted.make(token),
        mintedAt: facts.receivedAt,
        expiresAt: localExpiry(expires_at, facts.headers["date"], facts.receivedAt)
      }))
    )
  }

  return Effect.gen(function*() {
    const first = yield* attempt(0)
    const skewed = first.status === 401 && CLOCK_SKEW.test(first.body) ? skewSeconds(first) : undefined
    if (skewed === undefined) return yield* toToken(first)
    yield* Effect.logWarning("GitHub's clock differs from ours; signing the App JWT on GitHub's time").pipe(
      Effect.annotateLogs({ difference_seconds: skewed })
    )
    return yield* toToken(yield* attempt(skewed))
  }).pipe(Effect.withSpan("github.mintInstallationToken", { captureStackTrace: false }))
}

/** Seconds GitHub's clock is ahead of ours (negative: behind), from the Date header. */
const skewSeconds = (facts: ResponseFacts): number | undefined => {
  const date = facts.headers["date"]
  const serverNow = date === undefined ? Number.NaN : Date.parse(date)
  if (Number.isNaN(serverNow)) return undefined
  const seconds = Math.floor((serverNow - facts.receivedAt) / 1000)
  return seconds === 0 ? undefined : seconds
}

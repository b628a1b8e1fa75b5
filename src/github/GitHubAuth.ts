import { Context, Data, Effect, Layer, Redacted } from "effect"
import { Config } from "../config/Config.ts"

export class AuthUnavailable extends Data.TaggedError("AuthUnavailable")<{
  readonly reason: string
}> {}

/**
 * Supplies the Authorization header value for GitHub API calls. A PAT is
 * fixed; a GitHub App mints installation tokens that expire, so `refresh`
 * exists for the 401 path (App authentication plugs in here).
 */
export class GitHubAuth extends Context.Tag("deployment-tracker/GitHubAuth")<GitHubAuth, {
  readonly authorization: Effect.Effect<Redacted.Redacted<string>, AuthUnavailable>
  /** Drop any cached credential after GitHub answered 401. */
  readonly refresh: Effect.Effect<void>
}>() {}

export const GitHubAuthLive = Layer.effect(
  GitHubAuth,
  Effect.gen(function*() {
    const config = yield* Config
    const credentials = config.credentials
    if (credentials._tag === "Token") {
      const header = Redacted.make(`Bearer ${Redacted.value(credentials.token)}`)
      return { authorization: Effect.succeed(header), refresh: Effect.void }
    }
    return {
      authorization: Effect.fail(
        new AuthUnavailable({ reason: "GitHub App authentication is not available in this build; use API_TOKEN" })
      ),
      refresh: Effect.void
    }
  })
)

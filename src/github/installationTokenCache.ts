import { Clock, Data, Duration, Effect, Either, Option, SynchronizedRef } from "effect"
import type { InstallationRefused, InstallationToken, MintFailed } from "./installationToken.ts"

/**
 * The current installation token, minted again before it expires. One mint
 * at a time: callers that need a token while one is being minted wait for
 * it. When a refresh fails, a token that is still valid keeps being used;
 * after failures, minting waits out a backoff so an outage of GitHub does not
 * turn every record attempt into a mint attempt.
 */

/** No usable token: the reason is safe to log (never the token or the key). */
export class TokenUnavailable extends Data.TaggedError("TokenUnavailable")<{
  readonly reason: string
}> {}

/** At most this long before expiry a token is replaced (GitHub tokens live 1 h: after 55 min). */
export const MAX_REFRESH_MARGIN = Duration.minutes(5)

/**
 * When to mint the next token: a fifth of its lifetime before expiry, at
 * most 5 minutes before (so short-lived tokens, as in tests, work too).
 */
export const refreshAt = (token: InstallationToken): number => {
  const lifetime = Math.max(0, token.expiresAt - token.mintedAt)
  return token.expiresAt - Math.min(Duration.toMillis(MAX_REFRESH_MARGIN), lifetime / 5)
}

/** Until when a token may still be sent while its replacement cannot be minted. */
export const usableUntil = (token: InstallationToken): number => {
  const lifetime = Math.max(0, token.expiresAt - token.mintedAt)
  // A request takes time to reach GitHub; keep a margin of 30 s (or 1/20 of a short lifetime).
  return token.expiresAt - Math.min(30_000, lifetime / 20)
}

/**
 * Wait before the next mint after `failures` failures in a row: 1 s doubling,
 * capped at 1 minute, and never less than what GitHub asked for.
 */
export const mintBackoffMillis = (failures: number, retryAfter: Duration.Duration): number =>
  Math.max(Math.min(1000 * 2 ** Math.max(0, failures - 1), 60_000), Duration.toMillis(retryAfter))

interface State {
  readonly token: Option.Option<InstallationToken>
  readonly failures: number
  /** No mint before this time (epoch ms); 0 when the last mint worked. */
  readonly nextMintAt: number
}

export interface InstallationTokenCache {
  /** A token valid for a while yet, minting one when needed. */
  readonly current: Effect.Effect<InstallationToken, TokenUnavailable>
  /** Forgets the token (GitHub answered 401 to it): the next `current` mints. */
  readonly invalidate: Effect.Effect<void>
  /** Stores a token minted elsewhere (the start-up mint). */
  readonly set: (token: InstallationToken) => Effect.Effect<void>
}

export const makeInstallationTokenCache = (
  mint: Effect.Effect<InstallationToken, InstallationRefused | MintFailed>
): Effect.Effect<InstallationTokenCache> =>
  Effect.gen(function*() {
    const state = yield* SynchronizedRef.make<State>({ token: Option.none(), failures: 0, nextMintAt: 0 })

    type Outcome = Either.Either<InstallationToken, TokenUnavailable>

    // Runs under the ref's lock and never fails: the new state must be kept
    // even when the caller gets an error (failure count, backoff).
    const refreshed = (now: number, old: State): Effect.Effect<readonly [Outcome, State]> =>
      mint.pipe(
        Effect.tap((token) =>
          Effect.logDebug("Minted a GitHub App installation token").pipe(
            Effect.annotateLogs({ expires_at: new Date(token.expiresAt).toISOString() })
          )
        ),
        Effect.map((token): readonly [Outcome, State] => [
          Either.right(token),
          { token: Option.some(token), failures: 0, nextMintAt: 0 }
        ]),
        Effect.catchAll((error) => {
          const failures = old.failures + 1
          const retryAfter = error._tag === "MintFailed" ? error.retryAfter : Duration.zero
          const next: State = { ...old, failures, nextMintAt: now + mintBackoffMillis(failures, retryAfter) }
          const reason = error._tag === "MintFailed"
            ? `minting a GitHub App installation token failed: ${error.reason}`
            : error.message
          const log = error._tag === "InstallationRefused" ? Effect.logError : Effect.logWarning
          // A refresh that failed while the old token still works is no failure for the caller.
          const stillValid = Option.filter(old.token, (token) => now < usableUntil(token))
          const outcome: Outcome = Option.match(stillValid, {
            onNone: () => Either.left(new TokenUnavailable({ reason })),
            onSome: Either.right
          })
          return log(reason).pipe(Effect.annotateLogs({ failures }), Effect.as([outcome, next] as const))
        })
      )

    const current = Effect.flatMap(Clock.currentTimeMillis, (now) =>
      SynchronizedRef.modifyEffect(state, (s): Effect.Effect<readonly [Outcome, State]> => {
        const cached = Option.getOrUndefined(s.token)
        if (cached !== undefined && now < refreshAt(cached)) return Effect.succeed([Either.right(cached), s])
        if (now < s.nextMintAt) {
          if (cached !== undefined && now < usableUntil(cached)) return Effect.succeed([Either.right(cached), s])
          const wait = Duration.format(Duration.millis(s.nextMintAt - now))
          const reason = `no GitHub App installation token: minting failed ${s.failures} time(s); next try in ${wait}`
          return Effect.succeed([Either.left(new TokenUnavailable({ reason })), s])
        }
        return refreshed(now, s)
      })
    ).pipe(Effect.flatten)

    const invalidate = SynchronizedRef.update(state, (s) => ({ ...s, token: Option.none() }))
    const set = (token: InstallationToken) =>
      SynchronizedRef.set(state, { token: Option.some(token), failures: 0, nextMintAt: 0 })

    return { current, invalidate, set }
  })

import { describe, expect, it } from "@effect/vitest"
import { Clock, Deferred, Duration, Effect, Fiber, Redacted, Ref, TestClock } from "effect"
import { InstallationRefused, type InstallationToken, MintFailed } from "../../src/github/installationToken.ts"
import {
  makeInstallationTokenCache,
  mintBackoffMillis,
  refreshAt,
  usableUntil
} from "../../src/github/installationTokenCache.ts"

const HOUR = 3_600_000

type Answer = "token" | "transient" | "refused"

/**
 * A scripted mint: each call takes the next answer (the last one repeats)
 * and counts; tokens are `t1`, `t2`, ... and live `lifetime` ms from now.
 */
const scriptedMint = (answers: ReadonlyArray<Answer>, lifetime = HOUR) =>
  Effect.gen(function*() {
    const calls = yield* Ref.make(0)
    const mint = Effect.gen(function*() {
      const n = yield* Ref.updateAndGet(calls, (c) => c + 1)
      const answer = answers[Math.min(n, answers.length) - 1] ?? "token"
      const now = yield* Clock.currentTimeMillis
      if (answer === "transient") return yield* new MintFailed({ reason: "HTTP 503", retryAfter: Duration.zero })
      if (answer === "refused") {
        return yield* new InstallationRefused({ setting: "GH_INSTALL_ID", status: 404, message: "refused" })
      }
      return { token: Redacted.make(`t${n}`), mintedAt: now, expiresAt: now + lifetime } satisfies InstallationToken
    })
    return { mint, calls: Ref.get(calls) }
  })

const tokenText = (token: InstallationToken) => Redacted.value(token.token)

describe("refresh timing", () => {
  it("a GitHub token (1 h) is replaced 5 minutes before it expires; a short one at 4/5 of its life", () => {
    expect(refreshAt({ token: Redacted.make("x"), mintedAt: 0, expiresAt: HOUR })).toBe(55 * 60_000)
    expect(refreshAt({ token: Redacted.make("x"), mintedAt: 0, expiresAt: 10_000 })).toBe(8_000)
    expect(usableUntil({ token: Redacted.make("x"), mintedAt: 0, expiresAt: HOUR })).toBe(HOUR - 30_000)
    expect(usableUntil({ token: Redacted.make("x"), mintedAt: 0, expiresAt: 10_000 })).toBe(9_500)
  })

  it("mint backoff doubles from 1 s, caps at 1 minute, and honours Retry-After", () => {
    expect([1, 2, 3, 4, 7, 8, 20].map((n) => mintBackoffMillis(n, Duration.zero))).toEqual([
      1000, 2000, 4000, 8000, 60_000, 60_000, 60_000
    ])
    expect(mintBackoffMillis(1, Duration.minutes(2))).toBe(120_000)
  })
})

describe("InstallationTokenCache", () => {
  it.effect("mints once, reuses the token until its refresh time, then mints a new one", () =>
    Effect.gen(function*() {
      const { calls, mint } = yield* scriptedMint(["token"])
      const cache = yield* makeInstallationTokenCache(mint)
      expect(tokenText(yield* cache.current)).toBe("t1")
      yield* TestClock.adjust(Duration.minutes(54))
      expect(tokenText(yield* cache.current)).toBe("t1")
      expect(yield* calls).toBe(1)
      yield* TestClock.adjust(Duration.minutes(2))
      expect(tokenText(yield* cache.current)).toBe("t2")
      expect(yield* calls).toBe(2)
    }))

  it.effect("callers that need a token while one is minted wait for that one mint", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const { calls, mint } = yield* scriptedMint(["token"])
      const cache = yield* makeInstallationTokenCache(Effect.zipRight(Deferred.await(gate), mint))
      const callers = yield* Effect.fork(Effect.all(Array.from({ length: 5 }, () => cache.current), { concurrency: "unbounded" }))
      yield* Effect.yieldNow()
      yield* Deferred.succeed(gate, undefined)
      const tokens = yield* Fiber.join(callers)
      expect(tokens.map(tokenText)).toEqual(["t1", "t1", "t1", "t1", "t1"])
      expect(yield* calls).toBe(1)
    }))

  it.effect("a failed refresh keeps using the still-valid token, and backs off before minting again", () =>
    Effect.gen(function*() {
      const { calls, mint } = yield* scriptedMint(["token", "transient", "transient", "token"])
      const cache = yield* makeInstallationTokenCache(mint)
      yield* cache.current
      yield* TestClock.adjust(Duration.minutes(56)) // past the refresh time, 4 minutes of life left
      expect(tokenText(yield* cache.current)).toBe("t1") // mint 2 failed
      expect(tokenText(yield* cache.current)).toBe("t1") // within the 1 s backoff: no mint
      expect(yield* calls).toBe(2)
      yield* TestClock.adjust(Duration.seconds(1))
      expect(tokenText(yield* cache.current)).toBe("t1") // mint 3 failed; backoff now 2 s
      yield* TestClock.adjust(Duration.seconds(1))
      yield* cache.current
      expect(yield* calls).toBe(3)
      yield* TestClock.adjust(Duration.seconds(1))
      expect(tokenText(yield* cache.current)).toBe("t4")
      expect(yield* calls).toBe(4)
    }))

  it.effect("with no valid token left, a failing mint is a TokenUnavailable (retriable), never a defect", () =>
    Effect.gen(function*() {
      const { calls, mint } = yield* scriptedMint(["token", "transient", "refused", "token"], 10_000)
      const cache = yield* makeInstallationTokenCache(mint)
      yield* cache.current
      yield* TestClock.adjust(Duration.seconds(10)) // expired
      const transient = yield* Effect.flip(cache.current)
      expect(transient._tag).toBe("TokenUnavailable")
      expect(transient.reason).toContain("HTTP 503")
      const backingOff = yield* Effect.flip(cache.current)
      expect(backingOff.reason).toMatch(/minting failed 1 time\(s\); next try in/)
      expect(yield* calls).toBe(2)
      yield* TestClock.adjust(Duration.seconds(1))
      const refused = yield* Effect.flip(cache.current) // e.g. the App was uninstalled
      expect(refused.reason).toBe("refused")
      yield* TestClock.adjust(Duration.seconds(2))
      expect(tokenText(yield* cache.current)).toBe("t4")
    }))

  it.effect("invalidate (after a 401) makes the next caller mint, though the token had time left", () =>
    Effect.gen(function*() {
      const { calls, mint } = yield* scriptedMint(["token"])
      const cache = yield* makeInstallationTokenCache(mint)
      expect(tokenText(yield* cache.current)).toBe("t1")
      yield* cache.invalidate
      expect(tokenText(yield* cache.current)).toBe("t2")
      expect(yield* calls).toBe(2)
    }))

  it.effect("a token stored by the start-up mint is used without minting", () =>
    Effect.gen(function*() {
      const { calls, mint } = yield* scriptedMint(["token"])
      const cache = yield* makeInstallationTokenCache(mint)
      yield* cache.set({ token: Redacted.make("start"), mintedAt: 0, expiresAt: HOUR })
      expect(tokenText(yield* cache.current)).toBe("start")
      expect(yield* calls).toBe(0)
    }))
})

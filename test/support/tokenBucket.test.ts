import { describe, expect, it } from "@effect/vitest"
import { fullBucket, isFull, readyAt, tryTake } from "../../src/support/tokenBucket.ts"

const RULE = { burst: 3, refillMillis: 1000 }

describe("token bucket", () => {
  it("lets the burst go at once, then one token per refill interval", () => {
    const bucket = fullBucket(RULE, 0)
    expect([tryTake(RULE, bucket, 0), tryTake(RULE, bucket, 0), tryTake(RULE, bucket, 0), tryTake(RULE, bucket, 0)]).toStrictEqual(
      [true, true, true, false]
    )
    expect(readyAt(RULE, bucket, 0)).toBe(1000)
    expect(readyAt(RULE, bucket, 400)).toBe(1000)
    expect(tryTake(RULE, bucket, 999)).toBe(false)
    expect(tryTake(RULE, bucket, 1000)).toBe(true)
    expect(readyAt(RULE, bucket, 1000)).toBe(2000)
  })

  it("refills up to the burst and no further", () => {
    const bucket = fullBucket(RULE, 0)
    for (let i = 0; i < 3; i++) tryTake(RULE, bucket, 0)
    expect(isFull(RULE, bucket, 2999)).toBe(false)
    expect(isFull(RULE, bucket, 3000)).toBe(true)
    expect(isFull(RULE, bucket, 100_000)).toBe(true)
    expect([tryTake(RULE, bucket, 100_000), tryTake(RULE, bucket, 100_000), tryTake(RULE, bucket, 100_000), tryTake(RULE, bucket, 100_000)])
      .toStrictEqual([true, true, true, false])
  })

  it("a fractional rate is ready exactly when its token is whole (no rounding leaves it a hair short)", () => {
    const rule = { burst: 1, refillMillis: 200 }
    const bucket = fullBucket(rule, 0)
    let now = 0
    for (let i = 0; i < 1000; i++) {
      expect(tryTake(rule, bucket, now)).toBe(true)
      now = readyAt(rule, bucket, now)
    }
    expect(now).toBe(1000 * 200)
  })
})

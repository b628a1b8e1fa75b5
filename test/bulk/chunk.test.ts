import { describe, expect, it } from "@effect/vitest"
import { chunk } from "../../src/bulk/chunk.ts"

describe("chunk", () => {
  it("splits into consecutive slices of at most the given size", () => {
    const items = Array.from({ length: 10_001 }, (_, i) => i)
    const chunks = chunk(items, 5000)
    expect(chunks.map((c) => c.length)).toEqual([5000, 5000, 1])
    expect(chunks.flat()).toEqual(items)
    expect(chunk(items.slice(0, 5000), 5000).map((c) => c.length)).toEqual([5000])
    expect(chunk([], 5000)).toEqual([])
  })

  it("refuses a size that is not a positive integer (a bug, not input)", () => {
    expect(() => chunk([1], 0)).toThrow(RangeError)
  })
})

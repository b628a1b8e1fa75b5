import { describe, expect, it } from "@effect/vitest"
import { eventName, limitNote, microTime, NOTE_LIMIT_BYTES } from "../../src/events/eventContent.ts"

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/

describe("microTime (metav1.MicroTime)", () => {
  it.each([
    [0n, "1970-01-01T00:00:00.000000Z"],
    [1_796_313_751_123_456_789n, "2026-12-03T16:02:31.123456Z"],
    [1_796_313_751_000_000_999n, "2026-12-03T16:02:31.000000Z"]
  ])("%s ns is %s: six fractional digits, UTC", (nanos, text) => {
    expect(microTime(nanos)).toBe(text)
  })
})

describe("eventName", () => {
  it("is the object's name, a dot and the stamp in hex (client-go's)", () => {
    expect(eventName("web", 0x18abcn)).toBe("web.18abc")
  })

  it.each([
    ["a 250-character name", "w".repeat(250)],
    ["a name that ends in a dash once shortened", `${"w".repeat(235)}-${"x".repeat(20)}`],
    ["upper case and odd characters (a custom kind's name)", "My_Rollout:v2"],
    ["nothing usable", "---"]
  ])("is a DNS subdomain of at most 253 characters for %s", (_, name) => {
    const result = eventName(name, 1_796_313_751_123_456_789n)
    expect(result.length).toBeLessThanOrEqual(253)
    expect(result).toMatch(DNS_SUBDOMAIN)
    expect(result.endsWith(`.${(1_796_313_751_123_456_789n).toString(16)}`)).toBe(true)
  })
})

describe("limitNote", () => {
  it("leaves a note within 1 KiB alone", () => {
    const note = "x".repeat(NOTE_LIMIT_BYTES)
    expect(limitNote(note)).toBe(note)
  })

  it.each([
    ["ASCII", "x".repeat(3000)],
    ["two-byte characters", "é".repeat(3000)],
    ["four-byte characters", "🚀".repeat(3000)]
  ])("cuts %s to at most 1024 bytes without splitting a character", (_, note) => {
    const cut = limitNote(note)
    expect(Buffer.byteLength(cut, "utf8")).toBeLessThanOrEqual(NOTE_LIMIT_BYTES)
    expect(Buffer.byteLength(cut, "utf8")).toBeGreaterThan(NOTE_LIMIT_BYTES - 8)
    expect(cut).not.toContain("\uFFFD")
    expect(cut.endsWith("...")).toBe(true)
  })
})

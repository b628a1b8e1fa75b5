import { describe, expect, it } from "@effect/vitest"
import { Duration } from "effect"
import { classifyFailure, errorMessage } from "../../src/github/classifyResponse.ts"

const NOW = 1_700_000_000_000

const classify = (status: number, headers: Record<string, string> = {}, body: unknown = { message: "x" }) =>
  classifyFailure({ status, headers, body: typeof body === "string" ? body : JSON.stringify(body), receivedAt: NOW })

describe("classifyFailure", () => {
  it.each([
    [400, "ClientError"],
    [401, "ClientError"],
    [409, "ClientError"],
    [422, "ClientError"],
    [403, "ClientError"],
    [429, "ClientError"],
    [408, "SoftFailure"],
    [500, "SoftFailure"],
    [502, "SoftFailure"],
    [503, "SoftFailure"],
    [504, "SoftFailure"]
  ])("HTTP %i without rate-limit signals is a %s", (status, tag) => {
    expect(classify(status)._tag).toBe(tag)
  })

  // What a 404 means depends on the endpoint (DeploymentRecordClient's notFound, ClusterJobClient's JobsUnavailable).
  it.each(["no artifacts found", "Not Found"])("a 404 (%s) is a plain client error here", (message) => {
    expect(classify(404, {}, { message })).toMatchObject({ _tag: "ClientError", status: 404, message })
  })

  const waitOf = (e: ReturnType<typeof classify>) => (e._tag === "RateLimited" ? Duration.toMillis(e.wait) : undefined)

  it.each([403, 429])("HTTP %i with Retry-After waits that many seconds", (status) => {
    expect(waitOf(classify(status, { "retry-after": "7" }))).toBe(7000)
  })

  it("x-ratelimit-remaining 0 waits until x-ratelimit-reset", () => {
    const reset = String(NOW / 1000 + 42)
    expect(waitOf(classify(403, { "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset }))).toBe(42_000)
  })

  it("the larger of Retry-After and the reset wins", () => {
    const reset = String(NOW / 1000 + 42)
    expect(waitOf(classify(429, { "retry-after": "90", "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset })))
      .toBe(90_000)
    expect(waitOf(classify(429, { "retry-after": "5", "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset })))
      .toBe(42_000)
  })

  it("a secondary rate limit without headers waits one minute", () => {
    const body = { message: "You have exceeded a secondary rate limit. Please wait a few minutes before you try again." }
    expect(waitOf(classify(403, {}, body))).toBe(60_000)
  })

  // Our clock ahead of GitHub's, or the answer sent in its reset second:
  // retrying at once would repeat requests inside the limit.
  it.each([
    ["in the past", -30],
    ["now", 0]
  ])("remaining 0 with a reset %s waits one minute", (_, offsetSeconds) => {
    const reset = String(NOW / 1000 + offsetSeconds)
    expect(waitOf(classify(403, { "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset }))).toBe(60_000)
    expect(waitOf(classify(429, { "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset }))).toBe(60_000)
  })

  it("remaining 0 with a reset already past and Retry-After waits Retry-After", () => {
    const reset = String(NOW / 1000 - 30)
    expect(waitOf(classify(429, { "retry-after": "12", "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset })))
      .toBe(12_000)
  })

  it("a reset less than a second ahead is waited for as it is", () => {
    const reset = String((NOW + 400) / 1000)
    expect(waitOf(classify(403, { "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset }))).toBe(400)
  })

  it("remaining 0 with an unparseable reset waits one minute", () => {
    expect(waitOf(classify(403, { "x-ratelimit-remaining": "0", "x-ratelimit-reset": "soon" }))).toBe(60_000)
  })

  it("Retry-After as an HTTP date", () => {
    const at = new Date(NOW + 30_000).toUTCString()
    expect(waitOf(classify(429, { "retry-after": at }))).toBe(30_000)
  })
})

describe("errorMessage", () => {
  it.each([
    [JSON.stringify({ message: "Bad credentials" }), "Bad credentials"],
    [JSON.stringify({ message: { cause: "One or more repositories do not exist", repositories: ["a"] } }),
      "One or more repositories do not exist"],
    ["<html>bad gateway</html>", "<html>bad gateway</html>"]
  ])("reads %s", (body, expected) => {
    expect(errorMessage(body)).toBe(expected)
  })
})

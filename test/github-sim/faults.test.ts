import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest"
import { startGitHubSimulator, type GitHubSimulator } from "../../scripts/github-sim/simulator.ts"
import { call, RECORD_PATH, recordBody, sleep, TOKEN } from "./helpers.ts"

const post = (sim: GitHubSimulator, overrides: Record<string, unknown> = {}, signal?: AbortSignal) =>
  call(sim, "POST", RECORD_PATH, { body: recordBody(overrides), ...(signal === undefined ? {} : { signal }) })

describe("github-sim fault injection", () => {
  let sim: GitHubSimulator
  beforeAll(async () => {
    sim = await startGitHubSimulator({ tokens: [TOKEN] })
  })
  afterAll(() => sim.close())
  beforeEach(() => sim.reset())

  it("status: the next N matching requests get the chosen 5xx, then service resumes", async () => {
    sim.setFaults({ kind: "status", status: 503, route: "create-record", count: 2 })
    const statuses = []
    for (let i = 0; i < 3; i++) statuses.push((await post(sim)).status)
    expect(statuses).toEqual([503, 503, 200])
    expect(sim.records()).toHaveLength(1)
    expect(sim.requests().map((r) => r.faults)).toEqual([["status"], ["status"], []])
    expect(sim.violations()).toEqual([])
  })

  it("matches by deployment_name and can skip the first matching requests", async () => {
    sim.setFaults({ kind: "status", deploymentName: "shop-api-app", skip: 2, count: 1 })
    const api = { deployment_name: "shop-api-app" }
    const statuses = []
    for (const body of [{}, api, {}, api, api, api]) statuses.push((await post(sim, body)).status)
    expect(statuses).toEqual([200, 200, 200, 200, 500, 200])
  })

  it("does not match other routes", async () => {
    sim.setFaults({ kind: "status", route: "get-job" })
    expect((await post(sim)).status).toBe(200)
  })

  it("holds for a time window when given durationMs", async () => {
    sim.setFaults({ kind: "status", status: 502, durationMs: 150 })
    expect((await post(sim)).status).toBe(502)
    expect((await post(sim)).status).toBe(502)
    await sleep(170)
    expect((await post(sim)).status).toBe(200)
    expect(sim.faults()).toEqual([])
  })

  it("latency: delays the response and then answers normally", async () => {
    sim.setFaults({ kind: "latency", latencyMs: 250, count: 1 })
    const started = Date.now()
    const res = await post(sim)
    expect(res.status).toBe(200)
    expect(Date.now() - started).toBeGreaterThanOrEqual(240)
    const quick = Date.now()
    await post(sim)
    expect(Date.now() - quick).toBeLessThan(200)
  })

  it("reset: destroys the connection without an answer and stores nothing", async () => {
    sim.setFaults({ kind: "reset", count: 1 })
    await expect(post(sim)).rejects.toThrow()
    expect(sim.records()).toEqual([])
    expect(sim.requests()[0]).toMatchObject({ outcome: "reset", status: null })
    expect((await post(sim)).status).toBe(200)
  })

  it("hang: never answers, so the client's timeout fires", async () => {
    sim.setFaults({ kind: "hang", count: 1 })
    const started = Date.now()
    await expect(post(sim, {}, AbortSignal.timeout(300))).rejects.toThrow(/abort|timeout/i)
    expect(Date.now() - started).toBeGreaterThanOrEqual(290)
    expect(sim.requests()[0]).toMatchObject({ outcome: "hang", status: null })
    expect((await post(sim)).status).toBe(200)
  })

  it("close() does not wait for hanging requests", async () => {
    const own = await startGitHubSimulator({ tokens: [TOKEN] })
    own.setFaults({ kind: "hang" })
    const pending = post(own).catch((error: unknown) => error)
    await sleep(50)
    await own.close()
    expect(await pending).toBeInstanceOf(Error)
  })

  it("setFaults replaces, addFaults appends, clearFaults empties", () => {
    sim.setFaults({ kind: "status" })
    sim.setFaults([{ kind: "reset" }])
    sim.addFaults({ kind: "hang", route: "get-job" })
    expect(sim.faults().map((f) => f.kind)).toEqual(["reset", "hang"])
    expect(() => sim.addFaults({ kind: "explode" } as never)).toThrow(/kind/)
    sim.clearFaults()
    expect(sim.faults()).toEqual([])
  })

  it("is controlled over HTTP: POST, GET and DELETE /_sim/faults", async () => {
    const add = await fetch(`${sim.origin}/_sim/faults`, {
      method: "POST",
      body: JSON.stringify([{ kind: "status", status: 500, count: 1 }, { kind: "latency", latencyMs: 10 }])
    })
    expect(add.status).toBe(201)
    const listed = (await (await fetch(`${sim.origin}/_sim/faults`)).json()) as Array<{ kind: string }>
    expect(listed.map((f) => f.kind)).toEqual(["status", "latency"])
    expect((await post(sim)).status).toBe(500)
    expect((await fetch(`${sim.origin}/_sim/faults`, { method: "DELETE" })).status).toBe(204)
    expect(sim.faults()).toEqual([])
    const bad = await fetch(`${sim.origin}/_sim/faults`, { method: "POST", body: JSON.stringify({ kind: "rate-limit", status: 500 }) })
    expect(bad.status).toBe(400)
    expect(((await bad.json()) as { message: string }).message).toMatch(/403 or 429/)
  })
})

describe("github-sim rate limits", () => {
  let sim: GitHubSimulator
  beforeAll(async () => {
    sim = await startGitHubSimulator({ tokens: [TOKEN] })
  })
  afterAll(() => sim.close())
  beforeEach(() => sim.reset())

  it("secondary limit: 429 + Retry-After; a retry before it elapses is a violation, one after is fine", async () => {
    sim.setFaults({ kind: "rate-limit", status: 429, retryAfterSeconds: 1, count: 1 })
    const limited = await post(sim)
    expect(limited.status).toBe(429)
    expect(limited.headers.get("retry-after")).toBe("1")
    expect(limited.body.message).toMatch(/secondary rate limit/)
    const received = Date.now()

    const early = await post(sim)
    expect(early.status).toBe(429)
    expect(Number(early.headers.get("retry-after"))).toBeGreaterThanOrEqual(1)
    expect(sim.violations()).toMatchObject([{ kind: "rate-limit" }])
    expect(sim.violations()[0]?.message).toMatch(/request before rate-limit reset/)

    await sleep(1000 - (Date.now() - received))
    expect((await post(sim)).status).toBe(200)
    expect(sim.violations()).toHaveLength(1)
  })

  it("primary limit: 403 + x-ratelimit-remaining 0 + reset; waiting until the reset is not a violation", async () => {
    sim.setFaults({ kind: "rate-limit", status: 403, resetAfterSeconds: 1, count: 1 })
    const limited = await post(sim)
    expect(limited.status).toBe(403)
    expect(limited.headers.get("x-ratelimit-remaining")).toBe("0")
    expect(limited.headers.get("retry-after")).toBeNull()
    expect(limited.body.message).not.toMatch(/secondary/)
    const reset = Number(limited.headers.get("x-ratelimit-reset"))
    expect(reset * 1000).toBeGreaterThan(Date.now())
    await sleep(reset * 1000 - Date.now())
    expect((await post(sim)).status).toBe(200)
    expect(sim.violations()).toEqual([])
  })

  it("a reset not in the future: remaining 0 with a past reset, and the client must hold off a minute", async () => {
    sim.setFaults({ kind: "rate-limit", status: 403, resetSecondsAgo: 3, count: 1 })
    const limited = await post(sim)
    expect(limited.status).toBe(403)
    expect(limited.headers.get("x-ratelimit-remaining")).toBe("0")
    expect(limited.headers.get("retry-after")).toBeNull()
    expect(limited.body.message).not.toMatch(/secondary/)
    expect(Number(limited.headers.get("x-ratelimit-reset")) * 1000).toBeLessThanOrEqual(Date.now() - 2000)
    // Retrying "after the reset" (at once) is a violation: the limit holds for a minute.
    const early = await post(sim)
    expect(early.status).toBe(403)
    expect(sim.violations()).toMatchObject([{ kind: "rate-limit" }])
    const until = Date.parse(String((sim.violations()[0]?.details as { until: string }).until))
    expect(until - Date.parse(sim.requests()[0]!.time)).toBeGreaterThanOrEqual(59_900)
  })

  it("a reset not in the future with Retry-After: Retry-After is the wait", async () => {
    sim.setFaults({ kind: "rate-limit", status: 429, resetSecondsAgo: 0, retryAfterSeconds: 1, count: 1 })
    const limited = await post(sim)
    expect(limited.status).toBe(429)
    expect(limited.headers.get("retry-after")).toBe("1")
    expect(Number(limited.headers.get("x-ratelimit-reset")) * 1000).toBeLessThanOrEqual(Date.now())
    const received = Date.now()
    await sleep(1000 - (Date.now() - received))
    expect((await post(sim)).status).toBe(200)
    expect(sim.violations()).toEqual([])
  })

  it("resetAfterSeconds and resetSecondsAgo together are refused", () => {
    expect(() => sim.setFaults({ kind: "rate-limit", resetAfterSeconds: 1, resetSecondsAgo: 1 })).toThrow(/not both/)
  })

  it("a rate limit applies to every route, so a client that keeps going on another route is caught", async () => {
    sim.setFaults({ kind: "rate-limit", route: "create-record", retryAfterSeconds: 5, count: 1 })
    expect((await post(sim)).status).toBe(429)
    const job = await call(sim, "GET", "/orgs/acme/artifacts/metadata/deployment-record/cluster/prod-eu/jobs/1")
    expect(job.status).toBe(429)
    expect(sim.violations()).toMatchObject([{ kind: "rate-limit", route: "get-job" }])
  })

  it("exhausting the primary bucket answers 403 until the window resets", async () => {
    const own = await startGitHubSimulator({ tokens: [TOKEN], rateLimit: { limit: 2, windowMs: 1000 } })
    try {
      const first = await post(own)
      expect(first.headers.get("x-ratelimit-remaining")).toBe("1")
      expect((await post(own)).headers.get("x-ratelimit-remaining")).toBe("0")
      const limited = await post(own)
      expect(limited.status).toBe(403)
      expect(limited.headers.get("x-ratelimit-remaining")).toBe("0")
      expect(own.violations()).toEqual([])
      // Ignoring x-ratelimit-reset is a violation.
      expect((await post(own)).status).toBe(403)
      expect(own.violations()).toMatchObject([{ kind: "rate-limit" }])
      await sleep(Number(limited.headers.get("x-ratelimit-reset")) * 1000 - Date.now())
      const after = await post(own)
      expect(after.status).toBe(200)
      expect(own.violations()).toHaveLength(1)
    } finally {
      await own.close()
    }
  })
})

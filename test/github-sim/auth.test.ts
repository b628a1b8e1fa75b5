import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest"
import { startGitHubSimulator, type GitHubSimulator } from "../../scripts/github-sim/simulator.ts"
import { appKeys, call, nowSeconds, rawRequest, RECORD_PATH, recordBody, signJwt, sleep, TOKEN } from "./helpers.ts"

const APP_ID = 4242
const CLIENT_ID = "Iv23liTestClient"
const INSTALLATION = 77
const TOKENS_PATH = `/app/installations/${INSTALLATION}/access_tokens`

describe("github-sim request headers", () => {
  let sim: GitHubSimulator
  beforeAll(async () => {
    sim = await startGitHubSimulator({ tokens: [TOKEN] })
  })
  afterAll(() => sim.close())
  beforeEach(() => sim.reset())

  it("refuses a request without User-Agent with 403", async () => {
    // fetch would add "user-agent: node"; node:http sends none.
    const res = await rawRequest(`${sim.url}${RECORD_PATH}`, {
      method: "POST",
      headers: { accept: "application/vnd.github+json", authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify(recordBody())
    })
    expect(res.status).toBe(403)
    expect(res.body.message).toMatch(/User-Agent/)
    expect(sim.records()).toEqual([])
    expect(sim.violations()).toMatchObject([{ kind: "header" }])
  })

  it("records an Accept header other than application/vnd.github+json but still answers", async () => {
    const missing = await call(sim, "POST", RECORD_PATH, { body: recordBody(), headers: { accept: null } })
    const v3 = await call(sim, "POST", RECORD_PATH, { body: recordBody(), headers: { accept: "application/vnd.github.v3+json" } })
    expect([missing.status, v3.status]).toEqual([200, 200])
    expect(sim.violations().map((v) => v.kind)).toEqual(["header", "header"])
    expect(sim.violations()[1]?.message).toContain("application/vnd.github.v3+json")
  })

  it("accepts both known API versions and no version header; refuses others with 400", async () => {
    for (const version of ["2022-11-28", "2026-03-10", null]) {
      const res = await call(sim, "POST", RECORD_PATH, { body: recordBody(), headers: { "x-github-api-version": version } })
      expect(res.status).toBe(200)
    }
    expect(sim.violations()).toEqual([])
    const res = await call(sim, "POST", RECORD_PATH, { body: recordBody(), headers: { "x-github-api-version": "2023-01-01" } })
    expect(res.status).toBe(400)
    expect(res.body.message).toContain("2023-01-01")
    expect(sim.violations()).toMatchObject([{ kind: "header" }])
  })
})

describe("github-sim token auth", () => {
  let sim: GitHubSimulator
  beforeAll(async () => {
    sim = await startGitHubSimulator({ tokens: [TOKEN, "second-token"] })
  })
  afterAll(() => sim.close())
  beforeEach(() => sim.reset())

  it("accepts configured tokens as 'Bearer T' and 'token T'", async () => {
    expect((await call(sim, "POST", RECORD_PATH, { body: recordBody() })).status).toBe(200)
    const scheme = await call(sim, "POST", RECORD_PATH, { body: recordBody(), token: null, headers: { authorization: "token second-token" } })
    expect(scheme.status).toBe(200)
    expect(sim.violations()).toEqual([])
  })

  it("answers 401 without credentials, with an unknown token, or with an unknown scheme", async () => {
    const none = await call(sim, "POST", RECORD_PATH, { body: recordBody(), token: null })
    expect(none.status).toBe(401)
    expect(none.body.message).toBe("Requires authentication")
    const wrong = await call(sim, "POST", RECORD_PATH, { body: recordBody(), token: "ghp_nope" })
    expect(wrong.status).toBe(401)
    expect(wrong.body).toMatchObject({ message: "Bad credentials", documentation_url: "https://docs.github.com/rest" })
    const basic = await call(sim, "POST", RECORD_PATH, { body: recordBody(), token: null, headers: { authorization: `Basic ${TOKEN}` } })
    expect(basic.status).toBe(401)
    expect(sim.records()).toEqual([])
    expect(sim.violations().map((v) => v.kind)).toEqual(["auth", "auth", "auth"])
  })

  it("checks auth before the body schema (an unauthenticated bad body gets 401)", async () => {
    const res = await call(sim, "POST", RECORD_PATH, { body: { name: "" }, token: "ghp_nope" })
    expect(res.status).toBe(401)
  })
})

describe("github-sim GitHub App auth", () => {
  const { privateKey, publicKeyPem } = appKeys()
  const other = appKeys()
  let sim: GitHubSimulator
  beforeAll(async () => {
    sim = await startGitHubSimulator({
      app: { id: APP_ID, clientId: CLIENT_ID, publicKey: publicKeyPem, installationIds: [INSTALLATION] },
      installationTokenTtlMs: 400
    })
  })
  afterAll(() => sim.close())
  beforeEach(() => sim.reset())

  const jwt = (claims: Record<string, unknown> = {}, key = privateKey): string =>
    signJwt(key, { iat: nowSeconds() - 30, exp: nowSeconds() + 570, iss: String(APP_ID), ...claims })

  const mint = (token: string, path = TOKENS_PATH) => call(sim, "POST", path, { token })

  it("mints a ghs_ installation token from a valid JWT (iss = app id, numeric or string, or client id)", async () => {
    for (const iss of [APP_ID, String(APP_ID), CLIENT_ID]) {
      const res = await mint(jwt({ iss }))
      expect(res.status).toBe(201)
      expect(res.body.token).toMatch(/^ghs_[A-Za-z0-9]+$/)
      expect(Date.parse(res.body.expires_at)).toBeGreaterThan(Date.now() - 1000)
      expect(res.body.expires_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
    }
    expect(sim.violations()).toEqual([])
  })

  it("lets the minted token write records until it expires, then answers 401", async () => {
    const minted = await mint(jwt())
    const token = minted.body.token as string
    expect((await call(sim, "POST", RECORD_PATH, { body: recordBody(), token })).status).toBe(200)
    await sleep(450)
    const expired = await call(sim, "POST", RECORD_PATH, { body: recordBody(), token })
    expect(expired.status).toBe(401)
    expect(expired.body.message).toBe("Bad credentials")
    expect(sim.violations()).toMatchObject([{ kind: "auth" }])
  })

  const refused: ReadonlyArray<{ readonly case: string; readonly token: () => string; readonly message: RegExp }> = [
    { case: "a JWT signed with another key", token: () => jwt({}, other.privateKey), message: /could not be decoded/ },
    { case: "an expired JWT", token: () => jwt({ iat: nowSeconds() - 700, exp: nowSeconds() - 100 }), message: /'exp'/ },
    { case: "an exp more than 10 minutes after iat", token: () => jwt({ iat: nowSeconds() - 30, exp: nowSeconds() + 600 }), message: /too far in the future/ },
    { case: "an exp more than 10 minutes ahead", token: () => jwt({ iat: nowSeconds() + 50, exp: nowSeconds() + 640 }), message: /too far in the future/ },
    { case: "a fractional iat", token: () => jwt({ iat: nowSeconds() - 30.5 }), message: /'iat'/ },
    { case: "an iat in the future", token: () => jwt({ iat: nowSeconds() + 300, exp: nowSeconds() + 400 }), message: /'iat'/ },
    { case: "another issuer", token: () => jwt({ iss: "9999" }), message: /'iss'/ },
    { case: "an HS256 JWT", token: () => signJwt(privateKey, { iat: nowSeconds(), exp: nowSeconds() + 60, iss: APP_ID }, "HS256"), message: /could not be decoded/ },
    { case: "a personal access token", token: () => "ghp_not_a_jwt", message: /could not be decoded/ }
  ]

  for (const c of refused) {
    it(`refuses ${c.case} with 401`, async () => {
      const res = await mint(c.token())
      expect(res.status).toBe(401)
      expect(res.body.message).toMatch(c.message)
      expect(sim.violations()).toMatchObject([{ kind: "auth", route: "create-token" }])
    })
  }

  it("refuses revoked installation tokens (in process and over /_sim) and lists minted ones", async () => {
    const first = (await mint(jwt())).body.token as string
    expect((await call(sim, "POST", RECORD_PATH, { body: recordBody(), token: first })).status).toBe(200)
    expect(sim.revokeInstallationTokens()).toBeGreaterThanOrEqual(1)
    expect((await call(sim, "POST", RECORD_PATH, { body: recordBody(), token: first })).status).toBe(401)

    const second = (await mint(jwt())).body.token as string
    expect((await call(sim, "POST", RECORD_PATH, { body: recordBody(), token: second })).status).toBe(200)
    const revoked = await fetch(`${sim.origin}/_sim/installation-tokens/revoke`, { method: "POST" })
    expect(await revoked.json()).toEqual({ revoked: 1 })
    expect((await call(sim, "POST", RECORD_PATH, { body: recordBody(), token: second })).status).toBe(401)

    const listed = (await (await fetch(`${sim.origin}/_sim/installation-tokens`)).json()) as Array<Record<string, unknown>>
    expect(listed.map((t) => t["token"])).toEqual(expect.arrayContaining([first, second]))
    expect(sim.installationTokens().at(-1)).toMatchObject({ token: second, installationId: INSTALLATION })
    expect(sim.violations().map((v) => v.kind)).toEqual(["auth", "auth"])
  })

  it("answers 404 for an installation the App does not have", async () => {
    const res = await mint(jwt(), "/app/installations/78/access_tokens")
    expect(res.status).toBe(404)
  })

  it("does not accept the App JWT itself on the records endpoint", async () => {
    const res = await call(sim, "POST", RECORD_PATH, { body: recordBody(), token: jwt() })
    expect(res.status).toBe(401)
  })

  it("validates the access_tokens body against the description", async () => {
    const res = await call(sim, "POST", TOKENS_PATH, { token: jwt(), body: { permissions: { artifact_metadata: "admin" } } })
    expect(res.status).toBe(422)
    const ok = await call(sim, "POST", TOKENS_PATH, { token: jwt(), body: { permissions: { artifact_metadata: "write" } } })
    expect(ok.status).toBe(201)
    expect(ok.body.permissions).toEqual({ artifact_metadata: "write" })
  })
})

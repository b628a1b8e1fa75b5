import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest"
import { startGitHubSimulator, type GitHubSimulator } from "../../scripts/github-sim/simulator.ts"
import { call, digest, RECORD_PATH, recordBody, sleep, TOKEN } from "./helpers.ts"

const UNATTESTED = digest("never-attested")

describe("github-sim deployment records", () => {
  let sim: GitHubSimulator
  beforeAll(async () => {
    sim = await startGitHubSimulator({ tokens: [TOKEN], unattestedDigests: [UNATTESTED] })
  })
  afterAll(() => sim.close())
  beforeEach(() => sim.reset())

  it("stores a valid record and answers like GitHub (200, total_count, deployment_records)", async () => {
    const res = await call(sim, "POST", RECORD_PATH, { body: recordBody() })
    expect(res.status).toBe(200)
    expect(res.body.total_count).toBe(1)
    expect(res.body.deployment_records).toHaveLength(1)
    expect(res.body.deployment_records[0]).toMatchObject({
      digest: digest("web"),
      cluster: "prod-eu",
      deployment_name: "shop-web-app",
      tags: { team: "shop" },
      runtime_risks: ["internet-exposed"]
    })
    expect(typeof res.body.deployment_records[0].attestation_id).toBe("number")
    const [stored, ...others] = sim.records()
    expect(others).toEqual([])
    expect(stored).toMatchObject({ org: "acme", name: "ghcr.io/acme/web", version: "1.2.3", status: "deployed", update_count: 0 })
    // response-schema violations would show a simulator bug; none of any kind here.
    expect(sim.violations()).toEqual([])
  })

  it("upserts by (org, cluster, logical env, physical env, deployment_name), keeping created_at", async () => {
    await call(sim, "POST", RECORD_PATH, { body: recordBody() })
    const first = sim.records()[0]
    await sleep(5)
    // Same key (org differs only by case), new digest: replaces the record.
    const res = await call(sim, "POST", "/orgs/ACME/artifacts/metadata/deployment-record", {
      body: recordBody({ digest: digest("web-v2"), version: "1.2.4" })
    })
    expect(res.status).toBe(200)
    const records = sim.records()
    expect(records).toHaveLength(1)
    expect(records[0]).toMatchObject({ id: first?.id, digest: digest("web-v2"), version: "1.2.4", update_count: 1 })
    expect(records[0]?.created_at).toBe(first?.created_at)
    expect(records[0]?.updated_at).not.toBe(first?.updated_at)
    // A different physical environment is a different record.
    await call(sim, "POST", RECORD_PATH, { body: recordBody({ physical_environment: "us-east-1" }) })
    expect(sim.records()).toHaveLength(2)
  })

  it("honours return_records:false", async () => {
    const res = await call(sim, "POST", RECORD_PATH, { body: recordBody({ return_records: false }) })
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ total_count: 1 })
  })

  it("answers 404 'no artifacts found' for an unattested digest, unless a repository is named", async () => {
    const res = await call(sim, "POST", RECORD_PATH, { body: recordBody({ digest: UNATTESTED }) })
    expect(res.status).toBe(404)
    expect(res.body.message).toBe("no artifacts found")
    expect(res.body.documentation_url).toMatch(/^https:\/\/docs\.github\.com\//)
    expect(sim.records()).toEqual([])
    expect(sim.violations()).toEqual([])

    const linked = await call(sim, "POST", RECORD_PATH, { body: recordBody({ digest: UNATTESTED, github_repository: "web" }) })
    expect(linked.status).toBe(200)
    expect(linked.body.deployment_records[0].attestation_id).toBeNull()
  })

  const invalid: ReadonlyArray<{ readonly case: string; readonly path?: string; readonly body: Record<string, unknown>; readonly field: string }> = [
    { case: "digest with uppercase hex", body: recordBody({ digest: digest("x").toUpperCase().replace("SHA256", "sha256") }), field: "digest" },
    { case: "digest without sha256: prefix", body: recordBody({ digest: "a".repeat(71) }), field: "digest" },
    { case: "name longer than 256", body: recordBody({ name: "n".repeat(257) }), field: "name" },
    { case: "deployment_name longer than 256", body: recordBody({ deployment_name: "d".repeat(257) }), field: "deployment_name" },
    { case: "unknown status", body: recordBody({ status: "running" }), field: "status" },
    { case: "more than 5 tags", body: recordBody({ tags: { a: "1", b: "2", c: "3", d: "4", e: "5", f: "6" } }), field: "tags" },
    { case: "non-string tag value", body: recordBody({ tags: { replicas: 3 } }), field: "tags.replicas" },
    { case: "unknown runtime risk", body: recordBody({ runtime_risks: ["public"] }), field: "runtime_risks.0" },
    { case: "duplicate runtime risks", body: recordBody({ runtime_risks: ["internet-exposed", "internet-exposed"] }), field: "runtime_risks" },
    { case: "bad github_repository", body: recordBody({ github_repository: "acme/web" }), field: "github_repository" },
    { case: "missing logical_environment", body: recordBody({ logical_environment: undefined }), field: "logical_environment" },
    { case: "bad org path parameter", path: "/orgs/-acme-/artifacts/metadata/deployment-record", body: recordBody(), field: "org" }
  ]

  for (const c of invalid) {
    it(`answers 422 and records a violation for ${c.case}`, async () => {
      const res = await call(sim, "POST", c.path ?? RECORD_PATH, { body: c.body })
      expect(res.status).toBe(422)
      expect(res.body.message).toMatch(/^Invalid request\.\n\n/)
      expect(res.body.documentation_url).toMatch(/^https:\/\/docs\.github\.com\//)
      expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(c.field)
      expect(sim.records()).toEqual([])
      const violations = sim.violations()
      expect(violations).toHaveLength(1)
      expect(violations[0]).toMatchObject({ kind: "schema", route: "create-record" })
      expect(violations[0]?.message).toContain(c.field)
    })
  }

  it("accepts the boundaries the description allows (256-char name, 5 tags, 4 risks)", async () => {
    const res = await call(sim, "POST", RECORD_PATH, {
      body: recordBody({
        name: "n".repeat(256),
        tags: { a: "1", b: "2", c: "3", d: "4", e: "5" },
        runtime_risks: ["critical-resource", "internet-exposed", "lateral-movement", "sensitive-data"]
      })
    })
    expect(res.status).toBe(200)
    expect(sim.violations()).toEqual([])
  })

  it("records body properties the schema does not define, but still accepts the request", async () => {
    const res = await call(sim, "POST", RECORD_PATH, { body: recordBody({ runtimeRisks: ["internet-exposed"] }) })
    expect(res.status).toBe(200)
    expect(sim.violations()).toMatchObject([{ kind: "unknown-property" }])
    expect(sim.violations()[0]?.message).toContain("runtimeRisks")
  })

  it("answers 400 for a body that is not JSON or not an object", async () => {
    const bad = await call(sim, "POST", RECORD_PATH, { rawBody: "{not json" })
    expect(bad.status).toBe(400)
    expect(bad.body.message).toBe("Problems parsing JSON")
    const array = await call(sim, "POST", RECORD_PATH, { body: [recordBody()] })
    expect(array.status).toBe(400)
    expect(array.body.message).toBe("Body should be a JSON object")
    expect(sim.violations().map((v) => v.kind)).toEqual(["bad-json", "bad-json"])
  })

  it("answers 404 for an unknown route and records it", async () => {
    const res = await call(sim, "POST", "/orgs/acme/artifacts/metadata/deployment-records", { body: recordBody() })
    expect(res.status).toBe(404)
    expect(sim.violations()).toMatchObject([{ kind: "route" }])
  })

  it("logs every request with its route, status and deployment_name, and exposes state over HTTP", async () => {
    await call(sim, "POST", RECORD_PATH, { body: recordBody() })
    const requests = sim.requests()
    expect(requests).toHaveLength(1)
    expect(requests[0]).toMatchObject({
      method: "POST",
      path: RECORD_PATH,
      route: "create-record",
      status: 200,
      outcome: "response",
      deployment_name: "shop-web-app"
    })
    expect(requests[0]?.headers["authorization"]).toBe("Bearer <redacted>")
    expect(JSON.stringify(requests)).not.toContain(TOKEN)

    const overHttp = async (path: string): Promise<unknown> => (await fetch(`${sim.origin}${path}`)).json()
    expect(await overHttp("/_sim/records")).toEqual(sim.records())
    expect(await overHttp("/_sim/requests")).toEqual(sim.requests())
    expect(await overHttp("/_sim/violations")).toEqual([])
    expect((await fetch(`${sim.origin}/_sim/reset`, { method: "POST" })).status).toBe(204)
    expect(sim.records()).toEqual([])
    expect(sim.requests()).toEqual([])
  })

  it("puts rate-limit headers on every response", async () => {
    const ok = await call(sim, "POST", RECORD_PATH, { body: recordBody() })
    const rejected = await call(sim, "POST", RECORD_PATH, { body: recordBody({ status: "nope" }) })
    for (const res of [ok, rejected]) {
      expect(res.headers.get("x-ratelimit-limit")).toBe("5000")
      expect(res.headers.get("x-ratelimit-resource")).toBe("core")
      expect(Number(res.headers.get("x-ratelimit-reset"))).toBeGreaterThan(Date.now() / 1000)
    }
    expect(ok.headers.get("x-ratelimit-remaining")).toBe("4999")
    expect(rejected.headers.get("x-ratelimit-used")).toBe("2")
  })
})

describe("github-sim base path", () => {
  it("serves the API under a prefix such as /api/v3 and nothing outside it", async () => {
    const sim = await startGitHubSimulator({ tokens: [TOKEN], basePath: "/api/v3" })
    try {
      expect(sim.url).toMatch(/\/api\/v3$/)
      expect((await call(sim, "POST", RECORD_PATH, { body: recordBody() })).status).toBe(200)
      const outside = await fetch(`${sim.origin}${RECORD_PATH}`, {
        method: "POST",
        headers: { "user-agent": "t", accept: "application/vnd.github+json", authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify(recordBody())
      })
      expect(outside.status).toBe(404)
    } finally {
      await sim.close()
    }
  })
})

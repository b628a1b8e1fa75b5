import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest"
import { startGitHubSimulator, type GitHubSimulator } from "../../scripts/github-sim/simulator.ts"
import { call, deployment, digest, jobBody, JOBS_PATH, sleep, TOKEN } from "./helpers.ts"

const UNATTESTED = digest("unattested-image")

/** Polls the job until it settles, returning every distinct status seen in order. */
async function follow(sim: GitHubSimulator, jobId: number, path = JOBS_PATH): Promise<{ seen: string[]; last: any }> {
  const seen: string[] = []
  for (let i = 0; i < 200; i++) {
    const res = await call(sim, "GET", `${path}/${jobId}`)
    expect(res.status).toBe(200)
    if (seen.at(-1) !== res.body.status) seen.push(res.body.status)
    if (res.body.status === "completed" || res.body.status === "failed") return { seen, last: res.body }
    await sleep(15)
  }
  throw new Error(`job ${jobId} did not settle; saw ${seen.join(",")}`)
}

describe("github-sim cluster jobs", () => {
  let sim: GitHubSimulator
  beforeAll(async () => {
    sim = await startGitHubSimulator({ tokens: [TOKEN], unattestedDigests: [UNATTESTED], jobDelayMs: 200 })
  })
  afterAll(() => sim.close())
  beforeEach(() => sim.reset())

  it("runs a job pending -> processing -> completed and then applies its records", async () => {
    const res = await call(sim, "POST", JOBS_PATH, { body: jobBody([deployment("web"), deployment("api")]) })
    expect(res.status).toBe(202)
    expect(res.body).toEqual({ job_id: expect.any(Number) })
    const pending = await call(sim, "GET", `${JOBS_PATH}/${res.body.job_id}`)
    expect(pending.body).toEqual({ job_id: res.body.job_id, status: "pending" })
    expect(sim.records()).toEqual([])

    const { seen, last } = await follow(sim, res.body.job_id)
    expect(seen).toEqual(["pending", "processing", "completed"])
    expect(last).toEqual({ job_id: res.body.job_id, status: "completed", started_at: expect.any(String), total_count: 2, errors: [] })
    expect(Number.isNaN(Date.parse(last.started_at))).toBe(false)
    expect(
      sim.records().map((r) => [r.cluster, r.logical_environment, r.physical_environment, r.deployment_name, r.source, r.job_id])
    ).toEqual([
      ["prod-eu", "production", "eu-west-1", "shop-web-app", "create-job", res.body.job_id],
      ["prod-eu", "production", "eu-west-1", "shop-api-app", "create-job", res.body.job_id]
    ])
    expect(sim.violations()).toEqual([])
  })

  it("returns unattested digests as not_found errors at once and does not store them", async () => {
    const res = await call(sim, "POST", JOBS_PATH, {
      body: jobBody([deployment("web"), deployment("ghost", { digest: UNATTESTED })])
    })
    expect(res.status).toBe(202)
    expect(res.body.errors).toEqual([
      expect.objectContaining({ cause: "not_found", deployment_name: "shop-ghost-app", digest: UNATTESTED })
    ])
    const { last } = await follow(sim, res.body.job_id)
    expect(last.total_count).toBe(1)
    expect(sim.records().map((r) => r.deployment_name)).toEqual(["shop-web-app"])
  })

  it("answers 409 while a job for the same cluster is in progress, and accepts one after", async () => {
    const first = await call(sim, "POST", JOBS_PATH, { body: jobBody([deployment("web")]) })
    const second = await call(sim, "POST", JOBS_PATH, { body: jobBody([deployment("api")]) })
    expect(second.status).toBe(409)
    expect(second.body.message).toBe("A job is already in progress for this cluster.")
    const otherCluster = await call(sim, "POST", JOBS_PATH.replace("prod-eu", "prod-us"), { body: jobBody([deployment("api")]) })
    expect(otherCluster.status).toBe(202)
    await follow(sim, first.body.job_id)
    expect((await call(sim, "POST", JOBS_PATH, { body: jobBody([deployment("api")]) })).status).toBe(202)
  })

  it("answers 404 for an unknown job or a job of another cluster", async () => {
    const res = await call(sim, "POST", JOBS_PATH, { body: jobBody([deployment("web")]) })
    expect((await call(sim, "GET", `${JOBS_PATH}/999`)).status).toBe(404)
    expect((await call(sim, "GET", `${JOBS_PATH.replace("prod-eu", "prod-us")}/${res.body.job_id}`)).status).toBe(404)
  })

  it("accepts 5000 deployments and refuses 5001 with 422 (the description's maxItems)", async () => {
    const many = (n: number) => Array.from({ length: n }, (_, i) => deployment(`svc${i}`))
    const ok = await call(sim, "POST", JOBS_PATH, { body: jobBody(many(5000)) })
    expect(ok.status).toBe(202)
    const tooMany = await call(sim, "POST", JOBS_PATH.replace("prod-eu", "prod-us"), { body: jobBody(many(5001)) })
    expect(tooMany.status).toBe(422)
    expect(sim.violations()).toMatchObject([{ kind: "schema", route: "create-job" }])
  })

  it("refuses a bad cluster path parameter, a non-integer job id and bad items with 422", async () => {
    const badCluster = await call(sim, "POST", JOBS_PATH.replace("prod-eu", "prod%2Feu"), { body: jobBody([deployment("web")]) })
    expect(badCluster.status).toBe(422)
    expect(badCluster.body.errors[0]).toMatchObject({ field: "cluster", code: "invalid" })
    const longCluster = await call(sim, "POST", JOBS_PATH.replace("prod-eu", "c".repeat(129)), { body: jobBody([deployment("web")]) })
    expect(longCluster.status).toBe(422)
    const badJobId = await call(sim, "GET", `${JOBS_PATH}/abc`)
    expect(badJobId.status).toBe(422)
    const badItem = await call(sim, "POST", JOBS_PATH, { body: jobBody([deployment("web", { digest: "sha256:1234" })]) })
    expect(badItem.status).toBe(422)
    expect(badItem.body.errors.map((e: { field: string }) => e.field)).toContain("deployments.0.digest")
    expect(sim.violations().map((v) => v.kind)).toEqual(["schema", "schema", "schema", "schema"])
  })

  it("flags return_records/partial_success on the jobs endpoint as unknown properties", async () => {
    const res = await call(sim, "POST", JOBS_PATH, { body: { ...jobBody([deployment("web")]), partial_success: true } })
    expect(res.status).toBe(202)
    expect(sim.violations()).toMatchObject([{ kind: "unknown-property" }])
  })
})

describe("github-sim job faults", () => {
  let sim: GitHubSimulator
  beforeAll(async () => {
    sim = await startGitHubSimulator({ tokens: [TOKEN], jobDelayMs: 30 })
  })
  afterAll(() => sim.close())
  beforeEach(() => sim.reset())

  it("job-failure: the job is accepted, ends failed with errors, and writes nothing", async () => {
    sim.setFaults({ kind: "job-failure", count: 1 })
    const res = await call(sim, "POST", JOBS_PATH, { body: jobBody([deployment("web")]) })
    expect(res.status).toBe(202)
    const { seen, last } = await follow(sim, res.body.job_id)
    expect(seen.at(-1)).toBe("failed")
    expect(last.errors.length).toBeGreaterThan(0)
    expect(last.started_at).toEqual(expect.any(String))
    expect(last.total_count).toBeUndefined()
    expect(sim.records()).toEqual([])
    // The fault was for one job only.
    const next = await call(sim, "POST", JOBS_PATH, { body: jobBody([deployment("web")]) })
    expect((await follow(sim, next.body.job_id)).last.status).toBe("completed")
  })

  it("job-conflict and job-not-found answer the job POST with 409 and 404", async () => {
    sim.setFaults([{ kind: "job-conflict", count: 1 }, { kind: "job-not-found", count: 1 }])
    const conflict = await call(sim, "POST", JOBS_PATH, { body: jobBody([deployment("web")]) })
    expect(conflict.status).toBe(409)
    expect(conflict.body.message).toBe("A job is already in progress for this cluster.")
    const notFound = await call(sim, "POST", JOBS_PATH, { body: jobBody([deployment("web")]) })
    expect(notFound.status).toBe(404)
    expect((await call(sim, "POST", JOBS_PATH, { body: jobBody([deployment("web")]) })).status).toBe(202)
    expect(sim.jobs()).toHaveLength(1)
  })
})

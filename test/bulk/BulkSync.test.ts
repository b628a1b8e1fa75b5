import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@effect/vitest"
import { Duration, Effect, HashMap, Layer, Logger, Schedule } from "effect"
import { type GitHubSimulator, startGitHubSimulator } from "../../scripts/github-sim/simulator.ts"
import { BulkSync } from "../../src/bulk/BulkSync.ts"
import type { ControllerConfig } from "../../src/config/Config.ts"
import { JobPolling } from "../../src/github/ClusterJobClient.ts"
import type { DeploymentRecord } from "../../src/record/DeploymentRecord.ts"
import { gitHubLayer } from "../support/gitHubLayer.ts"
import { TEST_TOKEN, testConfigLayer } from "../support/testConfig.ts"
import { testDigest, testRecord } from "../support/testRecord.ts"

const digest = testDigest
const UNATTESTED = digest("f")

const candidate = (deploymentName: string, digestChar = "a"): DeploymentRecord =>
  testRecord({
    name: `ghcr.io/octo-org/${deploymentName.split("/")[1] ?? "app"}`,
    digest: digest(digestChar),
    version: "1.0.0",
    deployment_name: deploymentName
  })

const many = (n: number) => Array.from({ length: n }, (_, i) => candidate(`ns/app-${String(i).padStart(5, "0")}/main`))

interface LogLine {
  readonly level: string
  readonly message: string
  readonly annotations: Record<string, unknown>
}

/** Runs the sync against `url` and returns its outcome with the log lines it wrote. */
const runSync = (url: string, candidates: ReadonlyArray<DeploymentRecord>, overrides: Partial<ControllerConfig> = {}) =>
  Effect.gen(function*() {
    const logs: Array<LogLine> = []
    const collect = Logger.make(({ annotations, logLevel, message }) => {
      logs.push({
        level: logLevel.label,
        message: (Array.isArray(message) ? message : [message]).join(" "),
        annotations: Object.fromEntries(HashMap.toEntries(annotations))
      })
    })
    const layer = BulkSync.Default.pipe(
      Layer.provide(Layer.mergeAll(
        gitHubLayer(),
        Layer.succeed(JobPolling, { schedule: Schedule.spaced("20 millis"), maxWait: Duration.seconds(20) })
      )),
      Layer.provide(testConfigLayer({ baseUrl: url, bulkClusterSync: true, ...overrides }))
    )
    const outcome = yield* Effect.flatMap(BulkSync, (sync) => sync.run(candidates)).pipe(
      Effect.provide(layer),
      Effect.provide(Logger.replace(Logger.defaultLogger, collect))
    )
    return { outcome, logs }
  })

const names = (records: ReadonlyArray<DeploymentRecord>) => records.map((r) => r.deployment_name)

describe("BulkSync against the simulator", () => {
  let sim: GitHubSimulator
  beforeAll(async () => {
    sim = await startGitHubSimulator({ tokens: [TEST_TOKEN], unattestedDigests: [UNATTESTED], jobDelayMs: 20 })
  })
  afterAll(() => sim.close())
  beforeEach(() => sim.reset())

  const posts = () => sim.requests().filter((r) => r.method === "POST")

  it.live("one job of the workloads' records, sorted by deployment_name; accepted records seen, not_found digests unknown", () =>
    Effect.gen(function*() {
      const { outcome } = yield* runSync(sim.url, [
        candidate("ns/web/web", "b"),
        candidate("ns/ghost/ghost", "f"),
        candidate("ns/api/api", "c")
      ])
      expect(outcome.outcome).toBe("completed")
      expect(names(outcome.seen)).toEqual(["ns/api/api", "ns/web/web"])
      expect(outcome.seen.find((r) => r.deployment_name === "ns/web/web")?.digest).toBe(digest("b"))
      expect(outcome.unknownDigests).toEqual([UNATTESTED])
      expect(outcome.counts).toMatchObject({ candidates: 3, invalid: 0, submitted: 3, seen: 2, rejected: 1, unknownDigests: 1 })
      expect(outcome.jobs).toEqual([{ outcome: "completed", jobId: expect.any(Number), submitted: 3, accepted: 2, rejected: 1, reason: expect.any(String) }])

      expect(posts()).toHaveLength(1)
      const body = posts()[0]?.body as { deployments: Array<Record<string, unknown>> } & Record<string, unknown>
      expect(Object.keys(body).sort()).toEqual(["deployments", "logical_environment", "physical_environment"])
      expect(body.deployments.map((d) => d["deployment_name"])).toEqual(["ns/api/api", "ns/ghost/ghost", "ns/web/web"])
      expect(sim.records().map((r) => [r.deployment_name, r.digest]).sort()).toEqual([
        ["ns/api/api", digest("c")],
        ["ns/web/web", digest("b")]
      ])
      expect(sim.violations()).toEqual([])
    }))

  it.live("more than 5000 records: jobs of at most 5000, each submitted after the previous finished", () =>
    Effect.gen(function*() {
      const { outcome } = yield* runSync(sim.url, many(5001))
      expect(outcome.outcome).toBe("completed")
      expect(outcome.jobs.map((j) => [j.outcome, j.submitted])).toEqual([["completed", 5000], ["completed", 1]])
      expect(outcome.seen).toHaveLength(5001)
      const requests = sim.requests()
      expect(requests.filter((r) => r.method === "POST").map((r) => r.deployment_names.length)).toEqual([5000, 1])
      // The second POST comes after a GET that saw the first job completed, so it never meets a 409.
      const secondPost = requests.findLastIndex((r) => r.method === "POST")
      expect(requests.slice(0, secondPost).some((r) => r.method === "GET")).toBe(true)
      expect(requests.every((r) => r.status !== 409)).toBe(true)
      expect(sim.records()).toHaveLength(5001)
      expect(sim.violations()).toEqual([])
    }))

  it.live("a 409 on a later job stops the sync there: its records count as seen, the rest are not sent", () =>
    Effect.gen(function*() {
      sim.setFaults({ kind: "job-conflict", skip: 1, count: 1 })
      const { outcome } = yield* runSync(sim.url, many(10_001))
      expect(outcome.outcome).toBe("conflict")
      expect(outcome.jobs.map((j) => j.outcome)).toEqual(["completed", "conflict"])
      expect(outcome.seen).toHaveLength(10_000)
      expect(outcome.counts).toMatchObject({ submitted: 10_000, notSent: 1 })
      expect(posts()).toHaveLength(2)
      expect(sim.violations()).toEqual([])
    }))

  it.live("a cluster name the jobs URL cannot carry: skipped with one warning, nothing sent", () =>
    Effect.gen(function*() {
      const { logs, outcome } = yield* runSync(sim.url, many(3), { cluster: "prod/eu" })
      expect(outcome).toMatchObject({ outcome: "skipped", seen: [], unknownDigests: [], jobs: [] })
      expect(logs.filter((l) => l.level === "WARN")).toEqual([
        expect.objectContaining({ message: expect.stringContaining("bulk sync skipped") })
      ])
      expect(sim.requests()).toEqual([])
    }))

  it.live("409 on the first job: conflict, the submitted records count as seen", () =>
    Effect.gen(function*() {
      sim.setFaults({ kind: "job-conflict", count: 1 })
      const { outcome } = yield* runSync(sim.url, many(3))
      expect(outcome.outcome).toBe("conflict")
      expect(outcome.seen).toHaveLength(3)
      expect(sim.requests()).toHaveLength(1)
      expect(sim.violations()).toEqual([])
    }))

  it.live("404 on the jobs POST: unavailable, nothing seen", () =>
    Effect.gen(function*() {
      sim.setFaults({ kind: "job-not-found", count: 1 })
      const { outcome } = yield* runSync(sim.url, many(3))
      expect(outcome).toMatchObject({ outcome: "unavailable", seen: [], unknownDigests: [] })
      expect(sim.requests()).toHaveLength(1)
      expect(sim.violations()).toEqual([])
    }))

  it.live("a failed job fills no seen cache; digests refused at submission are still unknown", () =>
    Effect.gen(function*() {
      sim.setFaults({ kind: "job-failure", count: 1 })
      const { outcome } = yield* runSync(sim.url, [...many(2), candidate("ns/ghost/ghost", "f")])
      expect(outcome).toMatchObject({ outcome: "failed", seen: [], unknownDigests: [UNATTESTED] })
      expect(sim.records()).toEqual([])
      expect(sim.violations()).toEqual([])
    }))

  it.live("a record the schema would reject is left out; the job carries the rest", () =>
    Effect.gen(function*() {
      const bad = candidate("ns/bad/bad")
      const { logs, outcome } = yield* runSync(sim.url, [...many(2), { ...bad, digest: "sha256:XYZ" }])
      expect(outcome.outcome).toBe("completed")
      expect(outcome.counts).toMatchObject({ candidates: 3, invalid: 1, submitted: 2, seen: 2 })
      expect(logs.some((l) => l.level === "WARN" && l.annotations["deployment_name"] === "ns/bad/bad")).toBe(true)
      expect(sim.violations()).toEqual([])
    }))

  it.live("a 202 that does not parse is an error outcome with the bounded body logged", () =>
    Effect.gen(function*() {
      sim.setFaults({ kind: "status", status: 202, route: "create-job", count: 1, body: { id: "x".repeat(5000) } })
      const { logs, outcome } = yield* runSync(sim.url, many(2))
      expect(outcome).toMatchObject({ outcome: "error", seen: [], unknownDigests: [] })
      const logged = logs.find((l) => l.level === "ERROR")
      expect(String(logged?.annotations["body"]).length).toBeLessThan(600)
      expect(sim.violations()).toEqual([])
    }))

  it.live("-dry-run builds and logs the job, sends nothing, and says so", () =>
    Effect.gen(function*() {
      const { logs, outcome } = yield* runSync(sim.url, many(3), { dryRun: true })
      expect(outcome).toMatchObject({ outcome: "dry-run", seen: [], unknownDigests: [] })
      expect(outcome.counts).toMatchObject({ candidates: 3, submitted: 0, notSent: 3 })
      expect(logs.filter((l) => l.message === "Dry run: record not sent")).toHaveLength(3)
      expect(logs.some((l) => l.message === "Dry run: cluster job not sent" && l.annotations["deployments"] === 3)).toBe(true)
      expect(sim.requests()).toEqual([])
    }))

  it.live("a defect (here a malformed candidate) becomes an error outcome, not a crash", () =>
    Effect.gen(function*() {
      const broken = null as unknown as DeploymentRecord
      const { logs, outcome } = yield* runSync(sim.url, [...many(1), broken])
      expect(outcome).toMatchObject({ outcome: "error", seen: [], unknownDigests: [] })
      expect(logs.some((l) => l.level === "ERROR")).toBe(true)
      expect(sim.requests()).toEqual([])
    }))

  it.live("off (BULK_CLUSTER_SYNC=false) or nothing to sync: skipped, nothing sent", () =>
    Effect.gen(function*() {
      expect((yield* runSync(sim.url, many(2), { bulkClusterSync: false })).outcome.outcome).toBe("skipped")
      expect((yield* runSync(sim.url, [])).outcome.outcome).toBe("skipped")
      expect(sim.requests()).toEqual([])
    }))
})

import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Either, Fiber, Layer, Option, Redacted, Schedule, TestClock } from "effect"
import { type GitHubSimulator, startGitHubSimulator } from "../../scripts/github-sim/simulator.ts"
import type { Config, ControllerConfig } from "../../src/config/Config.ts"
import type { ClusterJobDeployment, ClusterJobRequest } from "../../src/github/ClusterJob.ts"
import {
  ClusterJobClient,
  JOB_POLL_SCHEDULE,
  JOB_WAIT_LIMIT,
  JobPolling
} from "../../src/github/ClusterJobClient.ts"
import { GitHubAuth, GitHubAuthLive } from "../../src/github/GitHubAuth.ts"
import type { GitHubRequester } from "../../src/github/GitHubRequester.ts"
import type { InstallationRefused } from "../../src/github/installationToken.ts"
import { Metrics } from "../../src/observability/Metrics.ts"
import { fakeGitHub } from "../support/fakeGitHub.ts"
import { gitHubLayer } from "../support/gitHubLayer.ts"
import { TEST_TOKEN, testConfigLayer } from "../support/testConfig.ts"

const CLUSTER = "test-cluster"
const JOBS_PATH = `/orgs/octo-org/artifacts/metadata/deployment-record/cluster/${CLUSTER}/jobs`
const UNATTESTED = `sha256:${"f".repeat(64)}`

const deployment = (name: string, digestChar = "a"): ClusterJobDeployment => ({
  name: `ghcr.io/octo-org/${name}`,
  digest: `sha256:${digestChar.repeat(64)}`,
  version: "1.0.0",
  status: "deployed",
  deployment_name: `default/${name}/${name}`
})

const jobRequest = (deployments: ReadonlyArray<ClusterJobDeployment>): ClusterJobRequest => ({
  logical_environment: "test",
  physical_environment: "lab",
  deployments
})

/** Polls fast so tests take milliseconds; the production pace is tested on the schedule itself. */
const fastPolling: { readonly schedule: Schedule.Schedule<unknown>; readonly maxWait: Duration.Duration } = {
  schedule: Schedule.spaced("20 millis"),
  maxWait: Duration.seconds(10)
}

const clientLayer = (
  overrides: Partial<ControllerConfig>,
  auth: Layer.Layer<GitHubAuth, InstallationRefused, Config | GitHubRequester> = GitHubAuthLive,
  polling: typeof fastPolling = fastPolling
) =>
  ClusterJobClient.Default.pipe(
    Layer.provideMerge(Layer.succeed(JobPolling, polling)),
    Layer.provideMerge(gitHubLayer(auth)),
    Layer.provide(testConfigLayer(overrides))
  )

const withClient = <A, E>(
  sim: { readonly url: string },
  use: (client: ClusterJobClient) => Effect.Effect<A, E>,
  overrides: Partial<ControllerConfig> = {},
  polling: typeof fastPolling = fastPolling
) => Effect.flatMap(ClusterJobClient, use).pipe(Effect.provide(clientLayer({ baseUrl: sim.url, ...overrides }, undefined, polling)))

describe("ClusterJobClient against the simulator", () => {
  let sim: GitHubSimulator
  beforeAll(async () => {
    sim = await startGitHubSimulator({ tokens: [TEST_TOKEN], unattestedDigests: [UNATTESTED], jobDelayMs: 30 })
  })
  afterAll(() => sim.close())
  beforeEach(() => sim.reset())

  it.live("submits a job with the credential and a schema-valid body, then polls it to completed", () =>
    Effect.gen(function*() {
      const request = jobRequest([deployment("api", "b"), deployment("web", "a")])
      const status = yield* withClient(sim, (client) =>
        client.createJob(request).pipe(Effect.flatMap((accepted) => client.awaitJob(accepted.job_id))))
      expect(status).toMatchObject({ status: "completed", total_count: 2 })

      const requests = sim.requests()
      const post = requests[0]
      expect(post?.method).toBe("POST")
      expect(post?.path).toBe(JOBS_PATH)
      expect(post?.body).toEqual(request)
      expect(post?.headers["authorization"]).toMatch(/^Bearer/)
      // Polled until it finished, and not after.
      const gets = requests.slice(1)
      expect(gets.length).toBeGreaterThanOrEqual(2)
      expect(gets.every((r) => r.method === "GET" && r.path === `${JOBS_PATH}/${status.job_id}`)).toBe(true)
      expect(sim.records().map((r) => r.deployment_name).sort()).toEqual(["default/api/api", "default/web/web"])
      expect(sim.violations()).toEqual([])
    }))

  it.live("returns the deployments refused at submission", () =>
    Effect.gen(function*() {
      const accepted = yield* withClient(sim, (client) =>
        client.createJob(jobRequest([deployment("web"), { ...deployment("ghost"), digest: UNATTESTED }])))
      expect(accepted.errors).toEqual([expect.objectContaining({ cause: "not_found", digest: UNATTESTED })])
      expect(sim.violations()).toEqual([])
    }))

  it.live("409 is a JobConflict and 404 is JobsUnavailable; neither is retried", () =>
    Effect.gen(function*() {
      const submit = (client: ClusterJobClient) => Effect.either(client.createJob(jobRequest([deployment("web")])))
      const results = yield* withClient(sim, (client) =>
        Effect.all([
          Effect.sync(() => sim.setFaults({ kind: "job-conflict", count: 1 })).pipe(Effect.zipRight(submit(client))),
          Effect.sync(() => sim.setFaults({ kind: "job-not-found", count: 1 })).pipe(Effect.zipRight(submit(client)))
        ]))
      expect(results.map((r) => Either.isLeft(r) ? r.left._tag : "ok")).toEqual(["JobConflict", "JobsUnavailable"])
      expect(sim.requests()).toHaveLength(2)
      expect(sim.violations()).toEqual([])
    }))

  it.live("the job POST feeds the original's deptracker_post_record_* counters as the original does; polls only the per-attempt ones", () =>
    Effect.gen(function*() {
      const counters = ["ok", "client_error", "hard_fail", "unknown_artifact", "soft_fail", "rate_limited"] as const
      const read = Effect.gen(function*() {
        const metrics = yield* Metrics
        const json = yield* Effect.promise(() => metrics.registry.getMetricsAsJSON())
        const value = (name: string) => json.find((m) => m.name === name)?.values[0]?.value ?? 0
        return Object.fromEntries(counters.map((c) => [c, value(`deptracker_post_record_${c}`)]))
      })
      const submit = (client: ClusterJobClient) => Effect.either(client.createJob(jobRequest([deployment("web")])))
      const seen = yield* Effect.gen(function*() {
        const client = yield* ClusterJobClient
        const steps: Array<readonly [string, Record<string, number>]> = []
        const step = (label: string, fault: Parameters<GitHubSimulator["setFaults"]>[0] | undefined, run: Effect.Effect<unknown>) =>
          Effect.gen(function*() {
            sim.clearFaults()
            if (fault !== undefined) sim.setFaults(fault)
            yield* run
            steps.push([label, yield* read])
          })
        yield* step("accepted and polled", undefined, client.createJob(jobRequest([deployment("web")])).pipe(
          Effect.flatMap((accepted) => client.awaitJob(accepted.job_id)),
          Effect.orDie
        ))
        yield* step("409", { kind: "job-conflict", count: 1 }, submit(client))
        yield* step("404", { kind: "job-not-found", count: 1 }, submit(client))
        yield* step("422", { kind: "status", status: 422, route: "create-job", count: 1 }, submit(client))
        yield* step("5xx until the retries are used up", { kind: "status", status: 503, route: "create-job", count: 4 }, submit(client))
        return steps
      }).pipe(Effect.provide(clientLayer({ baseUrl: sim.url })))
      const zero = { ok: 0, client_error: 0, hard_fail: 0, unknown_artifact: 0, soft_fail: 0, rate_limited: 0 }
      expect(seen).toEqual([
        ["accepted and polled", { ...zero, ok: 1 }],
        ["409", { ...zero, ok: 1 }],
        ["404", { ...zero, ok: 1, unknown_artifact: 1 }],
        ["422", { ...zero, ok: 1, unknown_artifact: 1, client_error: 1 }],
        ["5xx until the retries are used up", { ...zero, ok: 1, unknown_artifact: 1, client_error: 1, hard_fail: 1, soft_fail: 4 }]
      ])
    }))

  it.live("a 5xx is retried with backoff, then the job is created", () =>
    Effect.gen(function*() {
      sim.setFaults({ kind: "status", status: 503, route: "create-job", count: 1 })
      const accepted = yield* withClient(sim, (client) => client.createJob(jobRequest([deployment("web")])))
      expect(accepted.job_id).toBeGreaterThan(0)
      expect(sim.requests().map((r) => r.status)).toEqual([503, 202])
      expect(sim.violations()).toEqual([])
    }))

  it.live("a rate limit closes the shared gate; the request is sent again only after the reset", () =>
    Effect.gen(function*() {
      sim.setFaults({ kind: "rate-limit", route: "create-job", retryAfterSeconds: 1, count: 1 })
      const started = performance.now()
      yield* withClient(sim, (client) => client.createJob(jobRequest([deployment("web")])))
      expect(performance.now() - started).toBeGreaterThanOrEqual(950)
      expect(sim.requests().map((r) => r.status)).toEqual([429, 202])
      // The simulator flags any request before the advertised reset.
      expect(sim.violations()).toEqual([])
    }))

  it.live("a 202 whose body does not parse is an UnexpectedResponse carrying a bounded body", () =>
    Effect.gen(function*() {
      sim.setFaults({ kind: "status", status: 202, route: "create-job", count: 1, body: { id: "x".repeat(2000) } })
      const result = yield* withClient(sim, (client) => Effect.either(client.createJob(jobRequest([deployment("web")]))))
      expect(Either.isLeft(result)).toBe(true)
      const error = Either.getLeft(result).pipe((o) => (o._tag === "Some" ? o.value : undefined))
      expect(error).toMatchObject({ _tag: "UnexpectedResponse", status: 202 })
      expect(error?._tag === "UnexpectedResponse" && error.body.length).toBeLessThan(600)
      expect(sim.violations()).toEqual([])
    }))

  it.live("a job status that does not parse is an UnexpectedResponse, not a crash", () =>
    Effect.gen(function*() {
      sim.setFaults({ kind: "status", status: 200, route: "get-job", count: 1, body: { job_id: 1, status: "done" } })
      const result = yield* withClient(sim, (client) =>
        client.createJob(jobRequest([deployment("web")])).pipe(
          Effect.flatMap((accepted) => Effect.either(client.awaitJob(accepted.job_id)))
        ))
      expect(Either.isLeft(result) && result.left).toMatchObject({ _tag: "UnexpectedResponse", reason: expect.stringContaining("status") })
      expect(sim.violations()).toEqual([])
    }))

  it.live("never sends a request the schema rejects: bad cluster path, more than 5000 deployments", () =>
    Effect.gen(function*() {
      const badCluster = yield* withClient(sim, (client) => Effect.either(client.createJob(jobRequest([deployment("web")]))), {
        cluster: "prod/eu"
      })
      expect(Either.isLeft(badCluster) && badCluster.left).toMatchObject({ _tag: "InvalidJobRequest" })
      const many = Array.from({ length: 5001 }, (_, i) => ({ ...deployment("web"), deployment_name: `d/${i}` }))
      const tooMany = yield* withClient(sim, (client) => Effect.either(client.createJob(jobRequest(many))))
      expect(Either.isLeft(tooMany) && tooMany.left).toMatchObject({ _tag: "InvalidJobRequest" })
      expect(sim.requests()).toEqual([])
    }))

  it.live("a job that does not finish within the wait limit is a JobWaitTimeout", () =>
    Effect.gen(function*() {
      const slow = yield* Effect.acquireRelease(
        Effect.promise(() => startGitHubSimulator({ tokens: [TEST_TOKEN], jobDelayMs: 60_000 })),
        (s) => Effect.promise(() => s.close())
      )
      const result = yield* withClient(slow, (client) =>
        client.createJob(jobRequest([deployment("web")])).pipe(
          Effect.flatMap((accepted) => Effect.either(client.awaitJob(accepted.job_id)))
        ), {}, { schedule: Schedule.spaced("50 millis"), maxWait: Duration.millis(300) })
      expect(Either.isLeft(result) && result.left).toMatchObject({ _tag: "JobWaitTimeout", lastState: "pending" })
      // Polled several times within the limit, then stopped.
      const polls = slow.requests().filter((r) => r.method === "GET").length
      expect(polls).toBeGreaterThanOrEqual(3)
      yield* Effect.sleep("150 millis")
      expect(slow.requests().filter((r) => r.method === "GET").length).toBe(polls)
      expect(slow.violations()).toEqual([])
    }).pipe(Effect.scoped))
})

describe("ClusterJobClient on 401", () => {
  /** A credential that is stale until refreshed, as an expired App installation token is. */
  const refreshingAuth = (refreshes: { count: number }) =>
    Layer.succeed(GitHubAuth, {
      authorization: Effect.sync(() => Option.some(Redacted.make(refreshes.count === 0 ? "Bearer stale" : `Bearer ${TEST_TOKEN}`))),
      refresh: Effect.sync(() => {
        refreshes.count++
      }),
      renewable: true
    })

  it.live("refreshes the credential once and sends the request once more", () =>
    Effect.gen(function*() {
      const github = yield* fakeGitHub([{ status: 401, body: { message: "Bad credentials" } }, { status: 202, body: { job_id: 9 } }])
      const refreshes = { count: 0 }
      const accepted = yield* Effect.flatMap(ClusterJobClient, (client) => client.createJob(jobRequest([deployment("web")]))).pipe(
        Effect.provide(clientLayer({ baseUrl: github.url }, refreshingAuth(refreshes)))
      )
      expect(accepted.job_id).toBe(9)
      expect(refreshes.count).toBe(1)
      expect(github.requests.map((r) => r.headers["authorization"])).toEqual(["Bearer stale", `Bearer ${TEST_TOKEN}`])
    }).pipe(Effect.scoped))

  it.live("a second 401 is a client error, not a loop", () =>
    Effect.gen(function*() {
      const github = yield* fakeGitHub([{ status: 401, body: { message: "Bad credentials" } }, { status: 401, body: { message: "Bad credentials" } }])
      const refreshes = { count: 0 }
      const result = yield* Effect.flatMap(ClusterJobClient, (client) => Effect.either(client.createJob(jobRequest([deployment("web")])))).pipe(
        Effect.provide(clientLayer({ baseUrl: github.url }, refreshingAuth(refreshes)))
      )
      expect(Either.isLeft(result) && result.left).toMatchObject({ _tag: "ClientError", status: 401 })
      // Every refused credential is dropped (as for record posts), but the request is not sent a third time.
      expect(refreshes.count).toBe(2)
      expect(github.requests).toHaveLength(2)
    }).pipe(Effect.scoped))
})

/** Waits in real time (the TestClock is stopped) until `condition` holds, or fails after 5 s. */
const realTimeUntil = (condition: () => boolean) =>
  Effect.promise(async () => {
    const deadline = performance.now() + 5000
    while (!condition()) {
      if (performance.now() > deadline) throw new Error("condition not met within 5 s")
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  })

describe("job polling pace", () => {
  it.scoped("polls at once, then after 2, 4, 8, 16, 30, 30 ... s, and gives up at 5 minutes (TestClock)", () =>
    Effect.gen(function*() {
      const pending = { status: 200, body: { job_id: 5, status: "pending" } }
      const github = yield* fakeGitHub(Array.from({ length: 30 }, () => pending))
      const gets = () => github.requests.length
      const waiting = yield* Effect.flatMap(ClusterJobClient, (client) => client.awaitJob(5)).pipe(
        Effect.provide(clientLayer({ baseUrl: github.url }, undefined, { schedule: JOB_POLL_SCHEDULE, maxWait: JOB_WAIT_LIMIT })),
        Effect.either,
        Effect.fork
      )
      yield* realTimeUntil(() => gets() === 1)
      // Cumulative poll times: 0, 2, 6, 14, 30, 60, 90, ... 270 s; the limit ends the wait at 300 s.
      let elapsed = 0
      for (const [at, expected] of [[1, 1], [2, 2], [5, 2], [6, 3], [14, 4], [29, 4], [30, 5], [60, 6], [90, 7], [270, 13], [299, 13]] as const) {
        yield* TestClock.adjust(Duration.seconds(at - elapsed))
        elapsed = at
        yield* realTimeUntil(() => gets() >= expected)
        expect(gets()).toBe(expected)
      }
      yield* TestClock.adjust(Duration.seconds(1))
      const result = yield* Fiber.join(waiting)
      expect(Either.isLeft(result) && result.left).toMatchObject({ _tag: "JobWaitTimeout", lastState: "pending" })
      expect(github.requests.every((r) => r.method === "GET" && r.url.endsWith(`${JOBS_PATH}/5`))).toBe(true)
    }))

  it.effect("2 s doubling to 30 s, for at most 5 minutes", () =>
    Effect.gen(function*() {
      const delays = yield* Schedule.run(Schedule.delays(JOB_POLL_SCHEDULE), 0, Array.from({ length: 8 }, (_, i) => i))
      expect(Chunk.toArray(delays).map(Duration.toSeconds)).toEqual([2, 4, 8, 16, 30, 30, 30, 30])
      expect(Duration.toMinutes(JOB_WAIT_LIMIT)).toBe(5)
      const defaults = yield* JobPolling
      expect(defaults.schedule).toBe(JOB_POLL_SCHEDULE)
      expect(defaults.maxWait).toBe(JOB_WAIT_LIMIT)
    }))
})

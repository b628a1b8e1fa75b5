import { describe, expect, it } from "@effect/vitest"
import { Data, Duration, Effect, Exit, HashMap, Layer, Logger, Option, Redacted, Schedule } from "effect"
import { createServer, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import type { ControllerConfig } from "../../src/config/Config.ts"
import { AuthUnavailable } from "../../src/github/errors.ts"
import { GitHubAuth } from "../../src/github/GitHubAuth.ts"
import { MAX_RESPONSE_BYTES } from "../../src/github/GitHubHttp.ts"
import {
  type ApiRequest,
  type Credential,
  GITHUB_API_VERSION,
  GitHubRequester,
  RATE_LIMIT_ROUNDS
} from "../../src/github/GitHubRequester.ts"
import { RateLimitGate } from "../../src/github/RateLimitGate.ts"
import { Metrics } from "../../src/observability/Metrics.ts"
import { USER_AGENT } from "../../src/version.ts"
import { fakeGitHub, type ScriptedResponse } from "../support/fakeGitHub.ts"
import { gitHubLayer, metricValue } from "../support/gitHubLayer.ts"
import { TEST_TOKEN, testConfigLayer } from "../support/testConfig.ts"

// The one request policy every call to GitHub follows (record posts,
// cluster jobs, token minting): tested here once; the clients' tests cover
// what the answers mean at their endpoints.

const requesterLayer = (overrides: Partial<ControllerConfig>) =>
  GitHubRequester.Default.pipe(
    Layer.provideMerge(Layer.mergeAll(Metrics.Default, RateLimitGate.Default)),
    Layer.provide(testConfigLayer(overrides))
  )

/** Runs `use` with a requester whose BASE_URL is `baseUrl`. */
const withRequester = <A, E>(
  baseUrl: string,
  use: (requester: GitHubRequester) => Effect.Effect<A, E, Metrics>,
  overrides: Partial<ControllerConfig> = {}
) => Effect.flatMap(GitHubRequester, use).pipe(Effect.provide(requesterLayer({ baseUrl, ...overrides })))

const exchangeWith = (baseUrl: string, path: string) =>
  withRequester(baseUrl, (requester) => requester.exchange({ method: "GET", path }, Option.none()), {
    apiRequestTimeout: Duration.seconds(20)
  })

/** A fixed token; `renewable` credentials count their refreshes and answer with a fresh token after one. */
const tokenCredential = (renewable = false) => {
  const refreshes = { count: 0 }
  const credential: Credential = {
    authorization: Effect.sync(() => Option.some(Redacted.make(refreshes.count === 0 ? `Bearer ${TEST_TOKEN}` : "Bearer renewed"))),
    refresh: Effect.sync(() => {
      refreshes.count++
    }),
    renewable
  }
  return { credential, refreshes }
}

const recordPost = (credential: Credential): ApiRequest<never> => ({
  method: "POST",
  path: "/orgs/octo-org/artifacts/metadata/deployment-record",
  body: { name: "app" },
  credential,
  retryMessage: "Test request failed; retrying"
})

/** `send(recordPost)` against a fake GitHub answering with `script`. */
const sendAgainst = (
  script: ReadonlyArray<ScriptedResponse>,
  overrides: Partial<ControllerConfig> = {},
  credential: Credential = tokenCredential().credential
) =>
  Effect.gen(function*() {
    const github = yield* fakeGitHub(script)
    const exit = yield* withRequester(github.url, (requester) => Effect.exit(requester.send(recordPost(credential))), overrides)
    return { exit, requests: github.requests }
  })

/** Log lines as message and annotations. */
const captureLines = (lines: Array<{ message: unknown; annotations: Record<string, unknown> }>) =>
  Logger.replace(
    Logger.defaultLogger,
    Logger.make(({ annotations, message }) => {
      lines.push({ message: Array.isArray(message) ? message[0] : message, annotations: Object.fromEntries(HashMap.toEntries(annotations)) })
    })
  )

class Gone extends Data.TaggedError("Gone")<{ readonly status: number; readonly body: string }> {}

describe("every request: URL, headers, body", () => {
  it.live("below BASE_URL (with its path) with GitHub's Accept, the pinned API version, our User-Agent, the authorization and a JSON body", () =>
    Effect.gen(function*() {
      const github = yield* fakeGitHub([])
      yield* withRequester(`${github.url}/api/v3`, (requester) =>
        Effect.all([
          requester.exchange({ method: "POST", path: "/app/installations/7/access_tokens", body: { a: 1 } }, Option.some(Redacted.make("Bearer jwt"))),
          requester.exchange({ method: "GET", path: "/orgs/o/jobs/1" }, Option.none())
        ]))
      const [post, get] = github.requests
      expect(post).toMatchObject({ method: "POST", url: "/api/v3/app/installations/7/access_tokens", body: { a: 1 } })
      expect(get).toMatchObject({ method: "GET", url: "/api/v3/orgs/o/jobs/1", body: undefined })
      for (const request of [post, get]) {
        expect(request?.headers["accept"]).toBe("application/vnd.github+json")
        expect(request?.headers["x-github-api-version"]).toBe(GITHUB_API_VERSION)
        expect(request?.headers["user-agent"]).toBe(USER_AGENT)
      }
      expect(post?.headers["authorization"]).toBe("Bearer jwt")
      expect(Object.keys(get!.headers)).not.toContain("authorization")
    }).pipe(Effect.scoped))

  it.live("an API call carries the configured credential; without credentials no Authorization header (for a BASE_URL that adds it)", () =>
    Effect.gen(function*() {
      const github = yield* fakeGitHub([])
      for (const credentials of [undefined, { _tag: "None" } as const]) {
        const overrides: Partial<ControllerConfig> = { baseUrl: github.url, ...(credentials === undefined ? {} : { credentials }) }
        yield* Effect.gen(function*() {
          const requester = yield* GitHubRequester
          yield* requester.send(recordPost(yield* GitHubAuth))
        }).pipe(Effect.provide(gitHubLayer().pipe(Layer.provide(testConfigLayer(overrides)))))
      }
      expect(github.requests.map((r) => r.headers["authorization"])).toEqual([`Bearer ${TEST_TOKEN}`, undefined])
      expect(Object.keys(github.requests[1]!.headers)).not.toContain("authorization")
      expect(github.requests[1]?.headers["user-agent"]).toBe(USER_AGENT)
    }).pipe(Effect.scoped))
})

interface Served {
  /** Bytes the server managed to write before the client went away or it finished. */
  written: number
  finished: boolean
  closed: boolean
}

const MIB = 1024 * 1024
/** Announced (and sent) by `/declared`: well past the limit, so the server cannot finish sending it into socket buffers. */
const DECLARED_BYTES = 48 * MIB
/** Far more than the limit plus what socket buffers can hold, so a client that reads it all would be seen. */
const STREAMED_BYTES = 64 * MIB

/** A local server: `/exact` sends exactly the limit, `/declared` announces (and sends) 48 MiB with a Content-Length, `/streamed` streams 64 MiB without a length. */
const bodyServer = Effect.acquireRelease(
  Effect.async<{ url: string; served: Map<string, Served>; close: () => Promise<void> }>((resume) => {
    const served = new Map<string, Served>()
    const stream = (res: ServerResponse, total: number, state: Served) => {
      const chunk = Buffer.alloc(256 * 1024, "x")
      const pump = () => {
        while (state.written < total) {
          const ok = res.write(chunk)
          state.written += chunk.length
          if (!ok) return res.once("drain", pump)
        }
        state.finished = true
        res.end()
      }
      res.on("close", () => (state.closed = true))
      pump()
    }
    const server = createServer((req, res) => {
      const state: Served = { written: 0, finished: false, closed: false }
      served.set(req.url ?? "", state)
      if (req.url === "/exact") {
        res.writeHead(200, { "content-type": "application/json", "content-length": String(MAX_RESPONSE_BYTES) })
        stream(res, MAX_RESPONSE_BYTES, state)
      } else if (req.url === "/declared") {
        res.writeHead(200, { "content-type": "application/json", "content-length": String(DECLARED_BYTES) })
        stream(res, DECLARED_BYTES, state)
      } else {
        res.writeHead(502, { "content-type": "text/html" })
        stream(res, STREAMED_BYTES, state)
      }
    })
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      resume(Effect.succeed({
        url: `http://127.0.0.1:${port}`,
        served,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections()
            server.close(() => done())
          })
      }))
    })
  }),
  (server) => Effect.promise(server.close)
)

/** The route's state once the server saw the connection close (polled, 5 s at most). */
const closedConnection = (served: Map<string, Served>, route: string) =>
  Effect.sync(() => served.get(route)).pipe(
    Effect.filterOrFail((state) => state?.closed === true, () => `${route}: the connection is still open`),
    Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 250 })
  )

// Response bodies are read up to the original's 10 MiB; beyond, reading
// stops (the rest never crosses the wire into memory) and the exchange is a
// soft failure that says why.
describe("exchange: response bodies up to 10 MiB", () => {
  it.live("reads a body of exactly 10 MiB", () =>
    Effect.gen(function*() {
      const server = yield* bodyServer
      const response = yield* exchangeWith(server.url, "/exact")
      expect(response.status).toBe(200)
      expect(response.body.length).toBe(MAX_RESPONSE_BYTES)
    }).pipe(Effect.scoped))

  it.live("a Content-Length over 10 MiB is a soft failure before anything is read", () =>
    Effect.gen(function*() {
      const server = yield* bodyServer
      const exit = yield* Effect.exit(exchangeWith(server.url, "/declared"))
      expect(exit).toMatchObject({
        _tag: "Failure",
        cause: { error: { _tag: "SoftFailure", status: 200, reason: expect.stringMatching(/larger than 10485760 bytes \(10 MiB\)/) } }
      })
      const served = yield* closedConnection(server.served, "/declared")
      expect(served?.finished).toBe(false)
      // Far less than the limit crossed the wire: reading stopped at the first chunk.
      expect(served?.written).toBeLessThan(MAX_RESPONSE_BYTES)
    }).pipe(Effect.scoped))

  it.live("a body that grows past 10 MiB is a soft failure, and the rest is not read", () =>
    Effect.gen(function*() {
      const server = yield* bodyServer
      const exit = yield* Effect.exit(exchangeWith(server.url, "/streamed"))
      expect(Exit.isFailure(exit)).toBe(true)
      expect(exit).toMatchObject({
        cause: { error: { _tag: "SoftFailure", status: 502, reason: expect.stringContaining("HTTP 502 response body is larger than") } }
      })
      // The connection was dropped: the server saw it close before it could send its 64 MiB.
      const served = yield* closedConnection(server.served, "/streamed")
      expect(served?.finished).toBe(false)
      expect(served?.written).toBeLessThan(STREAMED_BYTES)
    }).pipe(Effect.scoped))
})

describe("send: soft failures", () => {
  it.live("a 5xx is retried with backoff, then succeeds; each failed attempt counted and logged", () =>
    Effect.gen(function*() {
      const lines: Array<{ message: unknown; annotations: Record<string, unknown> }> = []
      const github = yield* fakeGitHub([{ status: 502 }, { status: 500 }])
      yield* withRequester(github.url, (requester) =>
        Effect.gen(function*() {
          const response = yield* requester.send(recordPost(tokenCredential().credential))
          expect(response.status).toBe(200)
          expect(yield* metricValue("deptracker_post_record_soft_fail")).toBe(2)
          // Every attempt is timed.
          expect(yield* metricValue("deptracker_post_deployment_record_timer")).toBeGreaterThan(0)
        })).pipe(Effect.provide(captureLines(lines)))
      expect(github.requests).toHaveLength(3)
      // Backoff: ~100 ms then ~200 ms (0.8-1.2x jitter) between attempts.
      const gaps = github.requests.slice(1).map((r, i) => r.at - github.requests[i]!.at)
      expect(gaps[0]).toBeGreaterThanOrEqual(75)
      expect(gaps[1]).toBeGreaterThanOrEqual(155)
      expect(lines.filter((l) => l.message === "Test request failed; retrying").map((l) => l.annotations["reason"])).toEqual([
        expect.stringMatching(/^HTTP 502/),
        expect.stringMatching(/^HTTP 500/)
      ])
    }).pipe(Effect.scoped))

  it.live("a connection reset is a soft failure and is retried", () =>
    Effect.gen(function*() {
      const { exit, requests } = yield* sendAgainst([{ status: 0, reset: true }])
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(requests).toHaveLength(2)
    }).pipe(Effect.scoped))

  it.live("a request that gets no answer within the timeout is a soft failure, and is retried", () =>
    Effect.gen(function*() {
      const { exit, requests } = yield* sendAgainst([{ status: 0, hang: true }], { apiRequestTimeout: Duration.millis(200) })
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(requests).toHaveLength(2)
    }).pipe(Effect.scoped))

  it.live("a credential that cannot be had right now is a soft failure: retried, nothing sent meanwhile", () =>
    Effect.gen(function*() {
      let calls = 0
      const credential: Credential = {
        authorization: Effect.suspend(() =>
          ++calls === 1
            ? Effect.fail(new AuthUnavailable({ reason: "minting failed" }))
            : Effect.succeed(Option.some(Redacted.make(`Bearer ${TEST_TOKEN}`)))
        ),
        refresh: Effect.void,
        renewable: true
      }
      const { exit, requests } = yield* sendAgainst([], {}, credential)
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(calls).toBe(2)
      expect(requests).toHaveLength(1)
    }).pipe(Effect.scoped))

  it.live("soft failures outlasting 3 retries become a HardFailure, each attempt counted", () =>
    Effect.gen(function*() {
      const github = yield* fakeGitHub(Array.from({ length: 5 }, () => ({ status: 503 })))
      yield* withRequester(github.url, (requester) =>
        Effect.gen(function*() {
          const exit = yield* Effect.exit(requester.send(recordPost(tokenCredential().credential)))
          expect(exit).toMatchObject({ cause: { error: { _tag: "HardFailure", reason: expect.stringMatching(/^retries exhausted: HTTP 503/) } } })
          expect(yield* metricValue("deptracker_post_record_soft_fail")).toBe(4)
        }))
      expect(github.requests).toHaveLength(4)
    }).pipe(Effect.scoped))
})

describe("send: rate limits", () => {
  it.live("a 429 with Retry-After holds every request until the reset, then retries", () =>
    Effect.gen(function*() {
      const github = yield* fakeGitHub([{ status: 429, headers: { "retry-after": "1" }, body: { message: "slow down" } }])
      yield* withRequester(github.url, (requester) =>
        Effect.gen(function*() {
          // Two calls at once: after the first is limited, neither may send
          // again before the advertised reset.
          const credential = tokenCredential().credential
          const results = yield* Effect.all([
            requester.send(recordPost(credential)),
            requester.send({ ...recordPost(credential), body: { name: "other" } })
          ], { concurrency: 2 })
          expect(results.map((r) => r.status)).toEqual([200, 200])
          expect(yield* metricValue("deptracker_post_record_rate_limited")).toBe(1)
        }))
      const limitedAt = github.requests[0]!.at
      const afterLimit = github.requests.slice(1).filter((r) => r.at > limitedAt)
      expect(github.requests.length).toBeGreaterThanOrEqual(3)
      // One request at a time: none can have been on the wire with the limited one.
      const sentAfterLimit = github.requests.filter((r, i) => i > 0 && r.at - limitedAt < 950 && r.at > limitedAt)
      expect(sentAfterLimit).toEqual([])
      expect(afterLimit.some((r) => r.at - limitedAt >= 950)).toBe(true)
    }).pipe(Effect.scoped))

  it.live(`still rate limited after ${RATE_LIMIT_ROUNDS} waits: a HardFailure, each limit counted and logged`, () =>
    Effect.gen(function*() {
      const lines: Array<{ message: unknown; annotations: Record<string, unknown> }> = []
      const limited = { status: 429, headers: { "retry-after": "0" }, body: { message: "slow down" } }
      const github = yield* fakeGitHub(Array.from({ length: RATE_LIMIT_ROUNDS + 1 }, () => limited))
      yield* withRequester(github.url, (requester) =>
        Effect.gen(function*() {
          const exit = yield* Effect.exit(requester.send(recordPost(tokenCredential().credential)))
          expect(exit).toMatchObject({
            cause: { error: { _tag: "HardFailure", reason: `still rate limited after ${RATE_LIMIT_ROUNDS} waits: slow down` } }
          })
          expect(yield* metricValue("deptracker_post_record_rate_limited")).toBe(RATE_LIMIT_ROUNDS)
        })).pipe(Effect.provide(captureLines(lines)))
      expect(github.requests).toHaveLength(RATE_LIMIT_ROUNDS)
      expect(lines.filter((l) => l.message === "GitHub rate limit reached; all requests wait")).toHaveLength(RATE_LIMIT_ROUNDS)
      expect(lines[0]?.annotations).toMatchObject({ status: 429, wait: "0", reason: "slow down" })
    }).pipe(Effect.scoped))

  it.live("the throttle spaces requests beyond the burst at the configured rate", () =>
    Effect.gen(function*() {
      const github = yield* fakeGitHub([])
      const started = performance.now()
      // Burst 2 at 10/s: calls 3 and 4 must wait ~100 ms each.
      yield* withRequester(github.url, (requester) =>
        Effect.forEach([1, 2, 3, 4], (i) => requester.send({ ...recordPost(tokenCredential().credential), body: { i } })), {
        apiRatePerSecond: 10,
        apiBurst: 2
      })
      expect(performance.now() - started).toBeGreaterThanOrEqual(180)
      expect(github.requests).toHaveLength(4)
    }).pipe(Effect.scoped))
})

describe("send: client errors and the credential", () => {
  it.live("a 422 is a ClientError: never retried", () =>
    Effect.gen(function*() {
      const { exit, requests } = yield* sendAgainst([{ status: 422, body: { message: "Validation Failed" } }])
      expect(exit).toMatchObject({ cause: { error: { _tag: "ClientError", status: 422, message: "Validation Failed" } } })
      expect(requests).toHaveLength(1)
    }).pipe(Effect.scoped))

  it.live("the endpoint says what a client error means (refine), with the response at hand; never retried", () =>
    Effect.gen(function*() {
      const github = yield* fakeGitHub([{ status: 404, body: { message: "Not Found" } }])
      const exit = yield* withRequester(github.url, (requester) =>
        Effect.exit(requester.send({
          ...recordPost(tokenCredential().credential),
          refine: (e, response) => e.status === 404 ? new Gone({ status: e.status, body: response.body }) : e
        })))
      expect(exit).toMatchObject({ cause: { error: { _tag: "Gone", status: 404, body: JSON.stringify({ message: "Not Found" }) } } })
      expect(github.requests).toHaveLength(1)
    }).pipe(Effect.scoped))

  it.live("a 401 with a renewable credential: refreshed once, sent once more with the new one, logged", () =>
    Effect.gen(function*() {
      const lines: Array<{ message: unknown; annotations: Record<string, unknown> }> = []
      const { credential, refreshes } = tokenCredential(true)
      const { exit, requests } = yield* sendAgainst([{ status: 401, body: { message: "Bad credentials" } }], {}, credential).pipe(
        Effect.provide(captureLines(lines))
      )
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(refreshes.count).toBe(1)
      expect(requests.map((r) => r.headers["authorization"])).toEqual([`Bearer ${TEST_TOKEN}`, "Bearer renewed"])
      expect(lines.map((l) => l.message)).toContain("GitHub refused the installation token (401); retrying with a new one")
    }).pipe(Effect.scoped))

  it.live("a second 401 is a ClientError, not a loop; a 401 is never refined", () =>
    Effect.gen(function*() {
      const { credential, refreshes } = tokenCredential(true)
      const unauthorized = { status: 401, body: { message: "Bad credentials" } }
      const github = yield* fakeGitHub([unauthorized, unauthorized])
      const exit = yield* withRequester(github.url, (requester) =>
        Effect.exit(requester.send({ ...recordPost(credential), refine: (e) => new Gone({ status: e.status, body: "" }) })))
      expect(exit).toMatchObject({ cause: { error: { _tag: "ClientError", status: 401 } } })
      expect(refreshes.count).toBe(2)
      expect(github.requests).toHaveLength(2)
    }).pipe(Effect.scoped))

  it.live("a 401 with a credential that cannot change (a PAT): a ClientError at once", () =>
    Effect.gen(function*() {
      const { credential } = tokenCredential(false)
      const { exit, requests } = yield* sendAgainst([{ status: 401, body: { message: "Bad credentials" } }], {}, credential)
      expect(exit).toMatchObject({ cause: { error: { _tag: "ClientError", status: 401 } } })
      expect(requests).toHaveLength(1)
    }).pipe(Effect.scoped))

  it.live("each attempt runs inside traceAttempt (a span of its own in the record client)", () =>
    Effect.gen(function*() {
      const github = yield* fakeGitHub([{ status: 502 }])
      const traced: Array<string> = []
      yield* withRequester(github.url, (requester) =>
        requester.send({
          ...recordPost(tokenCredential().credential),
          traceAttempt: (attempt) =>
            attempt.pipe(Effect.tapBoth({
              onFailure: (e) => Effect.sync(() => traced.push(e._tag)),
              onSuccess: () => Effect.sync(() => traced.push("ok"))
            }))
        }))
      expect(traced).toEqual(["SoftFailure", "ok"])
    }).pipe(Effect.scoped))
})

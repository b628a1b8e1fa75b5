import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, HashMap, Layer, Logger, Option } from "effect"
import type { ControllerConfig } from "../../src/config/Config.ts"
import { DeploymentRecordClient } from "../../src/github/DeploymentRecordClient.ts"
import { Metrics } from "../../src/observability/Metrics.ts"
import type { DeploymentRecord } from "../../src/record/DeploymentRecord.ts"
import { fakeGitHub, type ScriptedResponse } from "../support/fakeGitHub.ts"
import { gitHubLayer, metricValue } from "../support/gitHubLayer.ts"
import { TEST_TOKEN, testConfigLayer } from "../support/testConfig.ts"
import { testRecord } from "../support/testRecord.ts"

// The request policy (headers, retries, rate limits, budget, timeouts) is
// GitHubRequester's and tested there; here, what the record endpoint's
// answers mean and how they are counted.

const record: DeploymentRecord = testRecord()

const clientLayer = (overrides: Partial<ControllerConfig>) => {
  const config = testConfigLayer(overrides)
  return DeploymentRecordClient.Default.pipe(
    Layer.provideMerge(gitHubLayer()),
    Layer.provide(config)
  )
}

/** Runs `post(record)` against a fake GitHub answering with `script`. */
const postAgainst = (script: ReadonlyArray<ScriptedResponse>, overrides: Partial<ControllerConfig> = {}) =>
  Effect.gen(function*() {
    const github = yield* fakeGitHub(script)
    const exit = yield* Effect.gen(function*() {
      const client = yield* DeploymentRecordClient
      return yield* Effect.exit(client.post(record))
    }).pipe(Effect.provide(clientLayer({ baseUrl: github.url, ...overrides })))
    return { exit, requests: github.requests }
  })

describe("DeploymentRecordClient", () => {
  it.live("posts the record with the PAT and return_records: false", () =>
    Effect.gen(function*() {
      const { exit, requests } = yield* postAgainst([])
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(requests).toHaveLength(1)
      const [req] = requests
      expect(req?.method).toBe("POST")
      expect(req?.url).toBe("/orgs/octo-org/artifacts/metadata/deployment-record")
      expect(req?.headers["authorization"]).toBe(`Bearer ${TEST_TOKEN}`)
      expect(req?.body).toEqual({ ...record, return_records: false })
    }).pipe(Effect.scoped))

  it.live("soft failures outlasting 3 retries become a HardFailure, each attempt counted", () =>
    Effect.gen(function*() {
      const github = yield* fakeGitHub(Array.from({ length: 4 }, () => ({ status: 503 })))
      yield* Effect.gen(function*() {
        const client = yield* DeploymentRecordClient
        const exit = yield* Effect.exit(client.post(record))
        expect(exit).toMatchObject({ _tag: "Failure", cause: { error: { _tag: "HardFailure" } } })
        expect(github.requests).toHaveLength(4)
        expect(yield* metricValue("deptracker_post_record_soft_fail")).toBe(4)
        expect(yield* metricValue("deptracker_post_record_hard_fail")).toBe(1)
        expect(yield* metricValue("deptracker_post_record_ok")).toBe(0)
      }).pipe(Effect.provide(clientLayer({ baseUrl: github.url })))
    }).pipe(Effect.scoped))

  it.live("a 422 is a client error: never retried, counted", () =>
    Effect.gen(function*() {
      const github = yield* fakeGitHub([{ status: 422, body: { message: "Validation Failed" } }])
      yield* Effect.gen(function*() {
        const client = yield* DeploymentRecordClient
        const exit = yield* Effect.exit(client.post(record))
        expect(exit).toMatchObject({ cause: { error: { _tag: "ClientError", status: 422 } } })
        expect(github.requests).toHaveLength(1)
        expect(yield* metricValue("deptracker_post_record_client_error")).toBe(1)
      }).pipe(Effect.provide(clientLayer({ baseUrl: github.url })))
    }).pipe(Effect.scoped))

  // The original caches every 404 of the record endpoint as an unknown
  // digest; the reason keeps "no attestation" apart from the rest.
  it.live.each([
    [{ message: "no artifacts found" }, "no_artifacts_found", "no artifacts found"],
    [{ message: "Not Found", documentation_url: "https://docs.github.com/rest" }, "other", "other 404: Not Found"],
    [{ message: { cause: "One or more repositories do not exist", repositories: ["a"] } }, "other",
      "other 404: One or more repositories do not exist"],
    // fakeGitHub sends a string body as a JSON string: not a GitHub error object, shown as it is.
    ["<html>not here</html>", "other", 'other 404: "<html>not here</html>"']
  ] as const)("every 404 is NoArtifact, not retried, counted with its reason (%j)", ([body, reason, message]) =>
    Effect.gen(function*() {
      const github = yield* fakeGitHub([{ status: 404, body }])
      yield* Effect.gen(function*() {
        const client = yield* DeploymentRecordClient
        const exit = yield* Effect.exit(client.post(record))
        expect(exit).toMatchObject({ cause: { error: { _tag: "NoArtifact", reason, message } } })
        expect(github.requests).toHaveLength(1)
        expect(yield* metricValue("deptracker_post_record_unknown_artifact")).toBe(1)
        expect(yield* metricValue("deptracker_post_record_client_error")).toBe(0)
        const metrics = yield* Metrics
        expect(yield* metrics.render).toContain(`deployment_tracker_post_record_not_found_total{reason="${reason}"} 1`)
      }).pipe(Effect.provide(clientLayer({ baseUrl: github.url })))
    }).pipe(Effect.scoped))

  it.live("a response body over 10 MiB is a soft failure with a log line that says so, then the post is retried", () =>
    Effect.gen(function*() {
      const github = yield* fakeGitHub([{ status: 200, body: "x".repeat(11 * 1024 * 1024) }])
      const lines: Array<{ message: unknown; reason: unknown }> = []
      const capture = Logger.make(({ annotations, message }) => {
        lines.push({ message: Array.isArray(message) ? message[0] : message, reason: HashMap.get(annotations, "reason").pipe(Option.getOrUndefined) })
      })
      yield* Effect.gen(function*() {
        const client = yield* DeploymentRecordClient
        const exit = yield* Effect.exit(client.post(record))
        expect(Exit.isSuccess(exit)).toBe(true)
        expect(github.requests).toHaveLength(2)
        expect(yield* metricValue("deptracker_post_record_soft_fail")).toBe(1)
        expect(yield* metricValue("deptracker_post_record_ok")).toBe(1)
      }).pipe(Effect.provide(clientLayer({ baseUrl: github.url })), Effect.provide(Logger.replace(Logger.defaultLogger, capture)))
      expect(lines).toContainEqual({
        message: "Posting a record failed; retrying",
        reason: expect.stringMatching(/^the HTTP 200 response body is larger than 10485760 bytes \(10 MiB\); it was not read further/)
      })
    }).pipe(Effect.scoped))
})

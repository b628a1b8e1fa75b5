import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { jobEnvelopeProblem, parseJobAccepted, parseJobError, parseJobStatus } from "../../src/github/ClusterJob.ts"

const envelope = { cluster: "prod-eu.1_a", logicalEnvironment: "prod", physicalEnvironment: "" }

describe("jobEnvelopeProblem", () => {
  it("accepts what the path and body schema accept", () => {
    expect(jobEnvelopeProblem(envelope)).toBeUndefined()
    expect(jobEnvelopeProblem({ ...envelope, cluster: "c".repeat(128) })).toBeUndefined()
  })

  it("names cluster names the jobs URL cannot carry, and bad environments", () => {
    expect(jobEnvelopeProblem({ ...envelope, cluster: "prod/eu" })).toMatch(/cluster name/)
    expect(jobEnvelopeProblem({ ...envelope, cluster: "prod eu" })).toMatch(/cluster name/)
    expect(jobEnvelopeProblem({ ...envelope, cluster: "" })).toMatch(/cluster name/)
    expect(jobEnvelopeProblem({ ...envelope, cluster: "c".repeat(129) })).toMatch(/at most 128/)
    expect(jobEnvelopeProblem({ ...envelope, logicalEnvironment: "" })).toMatch(/logical_environment/)
    expect(jobEnvelopeProblem({ ...envelope, logicalEnvironment: "l".repeat(129) })).toMatch(/logical_environment/)
    expect(jobEnvelopeProblem({ ...envelope, physicalEnvironment: "p".repeat(129) })).toMatch(/physical_environment/)
  })
})

describe("job response parsing", () => {
  it("parses the 202 body and the status body of each state", () => {
    expect(parseJobAccepted(JSON.stringify({ job_id: 7 }))).toEqual(Either.right({ job_id: 7 }))
    expect(parseJobAccepted(JSON.stringify({ job_id: 7, errors: [{ cause: "not_found" }] }))).toEqual(
      Either.right({ job_id: 7, errors: [{ cause: "not_found" }] })
    )
    expect(parseJobStatus(JSON.stringify({ job_id: 7, status: "pending" }))).toEqual(Either.right({ job_id: 7, status: "pending" }))
    const completed = { job_id: 7, status: "completed", started_at: "2026-06-10T12:00:00Z", total_count: 5, errors: [] }
    expect(parseJobStatus(JSON.stringify(completed))).toEqual(Either.right(completed))
  })

  it("refuses bodies that break the description, with a readable reason", () => {
    for (const body of ["", "not json", JSON.stringify({}), JSON.stringify({ job_id: "7" }), JSON.stringify({ job_id: 1.5 })]) {
      expect(Either.isLeft(parseJobAccepted(body))).toBe(true)
    }
    const unknownState = parseJobStatus(JSON.stringify({ job_id: 7, status: "done" }))
    expect(Either.isLeft(unknownState)).toBe(true)
    expect(Either.getLeft(unknownState).pipe((o) => o._tag === "Some" ? o.value : "")).toMatch(/status/)
  })

  it("reads job error items leniently: string fields kept, anything else only as raw text", () => {
    expect(parseJobError({ cause: "not_found", name: "img", digest: "sha256:x", message: { cause: "x" } })).toEqual({
      cause: "not_found",
      name: "img",
      digest: "sha256:x",
      raw: JSON.stringify({ cause: "not_found", name: "img", digest: "sha256:x", message: { cause: "x" } })
    })
    expect(parseJobError(42)).toEqual({ raw: "42" })
    expect(parseJobError({ cause: 1 }).cause).toBeUndefined()
  })
})

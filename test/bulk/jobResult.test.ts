import { describe, expect, it } from "@effect/vitest"
import { attributeJobErrors } from "../../src/bulk/jobResult.ts"
import { parseJobError } from "../../src/github/ClusterJob.ts"
import type { DeploymentRecord } from "../../src/record/DeploymentRecord.ts"

const digest = (c: string) => `sha256:${c.repeat(64)}`
const record = (deploymentName: string, name: string, d: string): DeploymentRecord => ({
  name,
  digest: digest(d),
  status: "deployed",
  logical_environment: "test",
  physical_environment: "lab",
  cluster: "c",
  deployment_name: deploymentName
})

const web = record("ns/web/web", "ghcr.io/o/web", "a")
const api = record("ns/api/api", "ghcr.io/o/api", "b")
const apiCanary = record("ns/api-canary/api", "ghcr.io/o/api", "c")
const submitted = [api, apiCanary, web]

describe("attributeJobErrors", () => {
  it("no errors: everything submitted is clean", () => {
    expect(attributeJobErrors(submitted, [])).toEqual({ attributed: [], clean: submitted, unknownDigests: [] })
  })

  it("a not_found naming the deployment_name excludes that record and reports its digest", () => {
    const verdict = attributeJobErrors(submitted, [parseJobError({ cause: "not_found", deployment_name: "ns/web/web" })])
    expect(verdict.clean).toEqual([api, apiCanary])
    expect(verdict.unknownDigests).toEqual([web.digest])
  })

  it("an error naming only the artifact name excludes every record of that name; the digest only when unambiguous", () => {
    const ambiguous = attributeJobErrors(submitted, [parseJobError({ cause: "not_found", name: "ghcr.io/o/api" })])
    expect(ambiguous.clean).toEqual([web])
    expect(ambiguous.unknownDigests).toEqual([])
    const single = attributeJobErrors(submitted, [parseJobError({ cause: "not_found", name: "ghcr.io/o/web" })])
    expect(single.unknownDigests).toEqual([web.digest])
  })

  it("the error's own digest is trusted when well formed", () => {
    const verdict = attributeJobErrors(submitted, [parseJobError({ cause: "not_found", name: "ghcr.io/o/api", digest: apiCanary.digest })])
    expect(verdict.clean).toEqual([api, web])
    expect(verdict.unknownDigests).toEqual([apiCanary.digest])
  })

  it("unauthorized excludes the record but reports no unknown digest", () => {
    const verdict = attributeJobErrors(submitted, [parseJobError({ cause: "unauthorized", deployment_name: "ns/api/api" })])
    expect(verdict.clean).toEqual([apiCanary, web])
    expect(verdict.unknownDigests).toEqual([])
  })

  it("an error that names nothing we sent is kept for the log and excludes nothing", () => {
    const verdict = attributeJobErrors(submitted, [parseJobError({ cause: "internal_error", message: "boom" }), parseJobError("odd")])
    expect(verdict.clean).toEqual(submitted)
    expect(verdict.attributed.map((a) => a.records)).toEqual([[], []])
    expect(verdict.attributed[1]?.error.raw).toBe("\"odd\"")
  })
})

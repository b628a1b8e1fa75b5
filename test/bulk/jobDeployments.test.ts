import { describe, expect, it } from "@effect/vitest"
import { prepareDeployments, toJobDeployment } from "../../src/bulk/jobDeployments.ts"
import type { DeploymentRecord } from "../../src/record/DeploymentRecord.ts"

const good: DeploymentRecord = {
  name: "ghcr.io/octo-org/app",
  digest: `sha256:${"a".repeat(64)}`,
  version: "1.0.0",
  status: "deployed",
  logical_environment: "test",
  physical_environment: "lab",
  cluster: "test-cluster",
  deployment_name: "ns/app/app",
  runtime_risks: ["internet-exposed"],
  tags: { team: "shop" },
  github_repository: "app"
}

describe("toJobDeployment", () => {
  it("keeps the item fields and leaves environments and cluster to the body and path", () => {
    expect(toJobDeployment(good)).toEqual({
      name: good.name,
      digest: good.digest,
      version: "1.0.0",
      status: "deployed",
      deployment_name: "ns/app/app",
      runtime_risks: ["internet-exposed"],
      tags: { team: "shop" },
      github_repository: "app"
    })
    const { version: _v, tags: _t, runtime_risks: _r, github_repository: _g, ...bare } = good
    expect(Object.keys(toJobDeployment(bare)).sort()).toEqual(["deployment_name", "digest", "name", "status"])
  })
})

describe("prepareDeployments", () => {
  it("leaves out records the item schema would reject, so one bad record cannot fail the job", () => {
    const badDigest = { ...good, deployment_name: "ns/bad/bad", digest: "sha256:ABC" }
    const longName = { ...good, deployment_name: "ns/long/long", name: "x".repeat(257) }
    const decommissioned = { ...good, deployment_name: "ns/gone/gone", status: "decommissioned" as const }
    const { invalid, items } = prepareDeployments([good, badDigest, longName, decommissioned])
    expect(items.map((i) => i.record.deployment_name)).toEqual(["ns/app/app"])
    expect(invalid.map((r) => [r.record.deployment_name, r.field])).toEqual([
      ["ns/bad/bad", "digest"],
      ["ns/long/long", "name"],
      ["ns/gone/gone", "status"]
    ])
  })

  it("drops an over-long version instead of the record, and says so", () => {
    const { adjustments, items } = prepareDeployments([{ ...good, version: "v".repeat(101) }])
    expect(items).toHaveLength(1)
    expect(items[0]?.deployment.version).toBeUndefined()
    expect(items[0]?.record.version).toBeUndefined()
    expect(adjustments).toEqual([{ deploymentName: "ns/app/app", note: expect.stringContaining("version dropped") }])
  })
})

import { describe, expect, it } from "@effect/vitest"
import type { SlimContainer, SlimPod } from "../../src/kube/SlimPod.ts"
import { type BuildRecordsInput, buildRecords } from "../../src/record/buildRecords.ts"
import { DEFAULT_TEMPLATE } from "../../src/record/deploymentName.ts"

const hex = (seed: string): string => seed.repeat(64 / seed.length)
const DIGEST_APP = `sha256:${hex("a1")}`
const DIGEST_INIT = `sha256:${hex("b2")}`

const container = (name: string, image: string, imageID: string | undefined): SlimContainer => ({
  name,
  image,
  imageID
})

const basePod: SlimPod = {
  namespace: "shop",
  name: "web-7d9f8c6b5d-x2kqp",
  uid: "pod-uid",
  resourceVersion: "42",
  phase: "Running",
  terminating: false,
  createdAt: 0,
  ownerReferences: [],
  templateHash: undefined,
  annotations: undefined,
  containers: [container("app", "ghcr.io/acme/web:v1.2.3", `docker-pullable://ghcr.io/acme/web@${DIGEST_APP}`)],
  initContainers: [container("migrate", "localhost:5000/acme/migrate", `localhost:5000/acme/migrate@${DIGEST_INIT}`)]
}

const baseInput: BuildRecordsInput = {
  pod: basePod,
  status: "deployed",
  workloadName: "web",
  template: DEFAULT_TEMPLATE,
  logicalEnvironment: "prod",
  physicalEnvironment: "eu-west-1",
  cluster: "prod-eu-1"
}

describe("buildRecords", () => {
  it("one Ready record per container, then per init container", () => {
    expect(buildRecords(baseInput)).toEqual([
      {
        _tag: "Ready",
        container: basePod.containers[0],
        adjustments: [],
        record: {
          name: "ghcr.io/acme/web",
          digest: DIGEST_APP,
          version: "v1.2.3",
          status: "deployed",
          logical_environment: "prod",
          physical_environment: "eu-west-1",
          cluster: "prod-eu-1",
          deployment_name: "shop/web/app"
        }
      },
      {
        _tag: "Ready",
        container: basePod.initContainers[0],
        adjustments: [],
        record: {
          // A registry port is not a tag: no version.
          name: "localhost:5000/acme/migrate",
          digest: DIGEST_INIT,
          status: "deployed",
          logical_environment: "prod",
          physical_environment: "eu-west-1",
          cluster: "prod-eu-1",
          deployment_name: "shop/web/migrate"
        }
      }
    ])
  })

  it("omits version when the image has no tag (the key is absent, not undefined)", () => {
    const [outcome] = buildRecords(baseInput).slice(1)
    expect(outcome?._tag).toBe("Ready")
    if (outcome?._tag === "Ready") expect("version" in outcome.record).toBe(false)
  })

  it("passes risks, tags and repository through, and the decommissioned status", () => {
    const [outcome] = buildRecords({
      ...baseInput,
      status: "decommissioned",
      runtimeRisks: ["internet-exposed"],
      tags: { team: "payments" },
      githubRepository: "web",
      pod: { ...basePod, initContainers: [] }
    })
    expect(outcome).toMatchObject({
      _tag: "Ready",
      record: {
        status: "decommissioned",
        runtime_risks: ["internet-exposed"],
        tags: { team: "payments" },
        github_repository: "web"
      }
    })
  })

  it("leaves out empty risks, tags and repository (as the original's omitempty)", () => {
    const [outcome] = buildRecords({
      ...baseInput,
      runtimeRisks: [],
      tags: {},
      githubRepository: "",
      pod: { ...basePod, initContainers: [] }
    })
    expect(outcome?._tag).toBe("Ready")
    if (outcome?._tag !== "Ready") return
    expect(Object.keys(outcome.record)).not.toContain("runtime_risks")
    expect(Object.keys(outcome.record)).not.toContain("tags")
    expect(Object.keys(outcome.record)).not.toContain("github_repository")
  })

  it("renders deployment_name from the template", () => {
    const [outcome] = buildRecords({
      ...baseInput,
      template: "{{namespace}}-{{deploymentName}}-{{containerName}}",
      pod: { ...basePod, initContainers: [] }
    })
    expect(outcome).toMatchObject({ _tag: "Ready", record: { deployment_name: "shop-web-app" } })
  })

  const outcomes: ReadonlyArray<
    readonly [label: string, sidecar: SlimContainer, expected: Record<string, unknown>]
  > = [
    ["no imageID yet -> NoDigest", container("sidecar", "envoy:1.31", undefined), { _tag: "NoDigest" }],
    ["empty imageID -> NoDigest", container("sidecar", "envoy:1.31", ""), { _tag: "NoDigest" }],
    [
      "bare sha256 config ID -> Ready",
      container("sidecar", "envoy:1.31", DIGEST_APP),
      { _tag: "Ready", record: { name: "envoy", version: "1.31", digest: DIGEST_APP } }
    ],
    [
      "uppercase hex -> Invalid digest",
      container("sidecar", "envoy:1.31", `envoy@sha256:${hex("A1")}`),
      { _tag: "Invalid", field: "digest" }
    ],
    [
      "short hex -> Invalid digest",
      container("sidecar", "envoy:1.31", "docker://sha256:abc"),
      { _tag: "Invalid", field: "digest" }
    ],
    [
      "over-long tag -> Ready without version, adjustment noted",
      container("sidecar", `envoy:${"v".repeat(101)}`, `envoy@${DIGEST_APP}`),
      { _tag: "Ready", record: { name: "envoy" }, adjustments: [expect.stringMatching(/^version dropped/)] }
    ],
    [
      "over-long image name -> Invalid name",
      container("sidecar", `registry.example.com/${"n".repeat(240)}:1`, `x@${DIGEST_APP}`),
      { _tag: "Invalid", field: "name" }
    ]
  ]
  for (const [label, sidecar, expected] of outcomes) {
    it(label, () => {
      const result = buildRecords({ ...baseInput, pod: { ...basePod, containers: [sidecar], initContainers: [] } })
      expect(result).toHaveLength(1)
      expect(result[0]).toMatchObject({ ...expected, container: sidecar })
      if (result[0]?._tag === "Ready" && label.startsWith("over-long tag")) {
        expect("version" in result[0].record).toBe(false)
      }
    })
  }

  it("keeps going past a bad container: each gets its own outcome", () => {
    const pod: SlimPod = {
      ...basePod,
      containers: [
        container("pulling", "envoy:1.31", undefined),
        container("broken", "envoy:1.31", "envoy@sha256:XYZ"),
        ...basePod.containers
      ]
    }
    expect(buildRecords({ ...baseInput, pod }).map((outcome) => outcome._tag)).toEqual([
      "NoDigest",
      "Invalid",
      "Ready",
      "Ready"
    ])
  })

  it("a deployment_name over 256 characters is Invalid", () => {
    const [outcome] = buildRecords({
      ...baseInput,
      workloadName: "w".repeat(250),
      pod: { ...basePod, initContainers: [] }
    })
    expect(outcome).toMatchObject({ _tag: "Invalid", field: "deployment_name" })
  })

  it("a pod with no containers gives no outcomes", () => {
    expect(buildRecords({ ...baseInput, pod: { ...basePod, containers: [], initContainers: [] } })).toEqual([])
  })
})

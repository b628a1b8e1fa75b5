import { describe, expect, it } from "@effect/vitest"
import { readFileSync } from "node:fs"
import { projectPod } from "../../src/kube/podProjection.ts"
import type { SlimPod } from "../../src/kube/SlimPod.ts"

const fixtureText = readFileSync(new URL("../fixtures/pod.json", import.meta.url), "utf8")

/** A fresh parsed copy, so a test can change it freely. */
const fixture = (): Record<string, any> => JSON.parse(fixtureText)

const project = (raw: unknown): SlimPod => {
  const result = projectPod(raw)
  if (!result.ok) throw new Error(`projection failed: ${result.reason}`)
  return result.value
}

describe("projectPod on a full Deployment pod", () => {
  it("keeps exactly the SlimPod fields", () => {
    expect(project(fixture())).toEqual({
      namespace: "storefront",
      name: "checkout-api-7d9f8c6b5d-x2kqp",
      uid: "9a4c2e71-6b3f-4d0e-a8c5-1f7b3d9e2c64",
      resourceVersion: "48213377",
      phase: "Running",
      terminating: false,
      createdAt: Date.UTC(2026, 6, 14, 9, 12, 51),
      ownerReferences: [
        {
          apiVersion: "apps/v1",
          kind: "ReplicaSet",
          name: "checkout-api-7d9f8c6b5d",
          uid: "0b7e6c1a-4f3d-4a8e-9c2b-5d1e7f9a3b6c",
          controller: true
        }
      ],
      templateHash: "7d9f8c6b5d",
      annotations: {
        "metadata.github.com/runtime-risks": "internet-exposed,sensitive-data",
        "metadata.github.com/team": "payments",
        "metadata.github.com/service-tier": "1"
      },
      // Statuses are listed in a different order than the spec: joined by name.
      containers: [
        {
          name: "api",
          image: "ghcr.io/acme/checkout-api:v2.14.3",
          imageID:
            "ghcr.io/acme/checkout-api@sha256:c0e1f3a5c7e9b2d4f6a8c0e1f5b1c0f3e9a7d4c2b8e6f1a0d3c5b7e9f2a4c6e8"
        },
        {
          name: "envoy",
          image:
            "localhost:5000/mesh/envoy:1.31.2@sha256:2d4f6a8c0e1f3a5c7e9b2d4f6a8c0e1f5b1c0f3e9a7d4c2b8e6f1a0d3c5b7e9f",
          imageID:
            "localhost:5000/mesh/envoy@sha256:2d4f6a8c0e1f3a5c7e9b2d4f6a8c0e1f5b1c0f3e9a7d4c2b8e6f1a0d3c5b7e9f"
        }
      ],
      initContainers: [
        {
          name: "migrate",
          image:
            "ghcr.io/acme/checkout-migrations@sha256:7e9b2d4f6a8c0e1f5b1c0f3e9a7d4c2b8e6f1a0d3c5b7e9f2a4c6e8b0d1f3a5c",
          imageID:
            "ghcr.io/acme/checkout-migrations@sha256:7e9b2d4f6a8c0e1f5b1c0f3e9a7d4c2b8e6f1a0d3c5b7e9f2a4c6e8b0d1f3a5c"
        }
      ]
    } satisfies SlimPod)
  })

  it("keeps no reference into the parsed object (it can be collected)", () => {
    const raw = fixture()
    const pod = project(raw)
    expect(pod.ownerReferences[0]).not.toBe(raw.metadata.ownerReferences[0])
    expect(pod.annotations).not.toBe(raw.metadata.annotations)
    expect(pod.containers).not.toBe(raw.spec.containers)
    // Mutating the source afterwards does not reach the projection.
    raw.metadata.ownerReferences[0].name = "changed"
    raw.spec.containers[0].image = "changed"
    expect(pod.ownerReferences[0]?.name).toBe("checkout-api-7d9f8c6b5d")
    expect(pod.containers[0]?.image).toBe("ghcr.io/acme/checkout-api:v2.14.3")
  })
})

describe("projectPod field rules", () => {
  const phases: ReadonlyArray<readonly [raw: unknown, phase: SlimPod["phase"]]> = [
    ["Pending", "Pending"],
    ["Running", "Running"],
    ["Succeeded", "Succeeded"],
    ["Failed", "Failed"],
    ["Unknown", "Unknown"],
    ["running", "Unknown"],
    ["Terminating", "Unknown"],
    [undefined, "Unknown"],
    [3, "Unknown"]
  ]
  for (const [raw, phase] of phases) {
    it(`status.phase ${JSON.stringify(raw)} -> ${phase}`, () => {
      const pod = fixture()
      pod.status.phase = raw
      expect(project(pod).phase).toBe(phase)
    })
  }

  it("no status at all: Unknown phase, no imageIDs", () => {
    const pod = fixture()
    delete pod.status
    const slim = project(pod)
    expect(slim.phase).toBe("Unknown")
    expect(slim.containers.map((c) => c.imageID)).toEqual([undefined, undefined])
    expect(slim.initContainers.map((c) => c.imageID)).toEqual([undefined])
  })

  it("a container without a status, or with an empty imageID, has imageID undefined", () => {
    const pod = fixture()
    pod.status.containerStatuses = [{ name: "api", imageID: "" }]
    expect(project(pod).containers.map((c) => c.imageID)).toEqual([undefined, undefined])
  })

  it("init containers are joined with initContainerStatuses, not containerStatuses", () => {
    const pod = fixture()
    pod.status.containerStatuses.push({ name: "migrate", imageID: "wrong@sha256:00" })
    delete pod.status.initContainerStatuses
    expect(project(pod).initContainers[0]?.imageID).toBeUndefined()
  })

  const timestamps: ReadonlyArray<readonly [raw: unknown, millis: number]> = [
    ["2026-07-14T09:12:51Z", Date.UTC(2026, 6, 14, 9, 12, 51)],
    ["2026-07-14T11:12:51+02:00", Date.UTC(2026, 6, 14, 9, 12, 51)],
    [new Date(Date.UTC(2025, 0, 1)), Date.UTC(2025, 0, 1)], // client-node's typed list results
    [undefined, 0],
    [null, 0],
    ["yesterday", 0],
    [12345, 0]
  ]
  for (const [raw, millis] of timestamps) {
    it(`creationTimestamp ${String(raw)} -> ${millis}`, () => {
      const pod = fixture()
      pod.metadata.creationTimestamp = raw
      expect(project(pod).createdAt).toBe(millis)
    })
  }

  it("deletionTimestamp set -> terminating", () => {
    const pod = fixture()
    pod.metadata.deletionTimestamp = "2026-07-14T10:00:00Z"
    expect(project(pod).terminating).toBe(true)
    pod.metadata.deletionTimestamp = null
    expect(project(pod).terminating).toBe(false)
  })

  it("no github annotations -> annotations undefined", () => {
    const pod = fixture()
    pod.metadata.annotations = { "prometheus.io/scrape": "true", "metadata.github.com": "no slash" }
    expect(project(pod).annotations).toBeUndefined()
    delete pod.metadata.annotations
    expect(project(pod).annotations).toBeUndefined()
  })

  it("ownerReferences: controller only when exactly true; none -> shared frozen empty array", () => {
    const pod = fixture()
    pod.metadata.ownerReferences = [
      { apiVersion: "v1", kind: "ConfigMap", name: "cm", uid: "u1" },
      { apiVersion: "batch/v1", kind: "Job", name: "job", uid: "u2", controller: "true" }
    ]
    expect(project(pod).ownerReferences.map((o) => o.controller)).toEqual([false, false])

    delete pod.metadata.ownerReferences
    const first = project(pod).ownerReferences
    pod.metadata.ownerReferences = []
    const second = project(pod).ownerReferences
    expect(first).toEqual([])
    expect(first).toBe(second)
    expect(Object.isFrozen(first)).toBe(true)
  })

  it("no init containers -> shared frozen empty array", () => {
    const pod = fixture()
    delete pod.spec.initContainers
    const slim = project(pod)
    expect(slim.initContainers).toEqual([])
    expect(Object.isFrozen(slim.initContainers)).toBe(true)
  })

  it("resourceVersion missing -> empty string", () => {
    const pod = fixture()
    delete pod.metadata.resourceVersion
    expect(project(pod).resourceVersion).toBe("")
  })
})

describe("projectPod rejects malformed input, naming the field", () => {
  const rows: ReadonlyArray<readonly [label: string, mutate: (pod: Record<string, any>) => unknown, reason: RegExp]> = [
    ["null", () => null, /pod is not an object/],
    ["a string", () => "pod", /pod is not an object/],
    ["no metadata", (pod) => (delete pod.metadata, pod), /metadata is missing/],
    ["no name", (pod) => (delete pod.metadata.name, pod), /metadata\.name/],
    ["empty name", (pod) => ((pod.metadata.name = ""), pod), /metadata\.name/],
    ["no namespace", (pod) => (delete pod.metadata.namespace, pod), /metadata\.namespace/],
    ["numeric uid", (pod) => ((pod.metadata.uid = 7), pod), /metadata\.uid/],
    ["no spec", (pod) => (delete pod.spec, pod), /spec is missing/],
    ["no containers", (pod) => (delete pod.spec.containers, pod), /spec\.containers is missing/],
    ["containers not an array", (pod) => ((pod.spec.containers = { api: {} }), pod), /spec\.containers is not an array/],
    ["initContainers not an array", (pod) => ((pod.spec.initContainers = "x"), pod), /spec\.initContainers is not an array/],
    ["container without name", (pod) => (delete pod.spec.containers[1].name, pod), /spec\.containers\[1\]\.name/],
    ["container without image", (pod) => (delete pod.spec.containers[0].image, pod), /spec\.containers\[0\]\.image/],
    ["container is null", (pod) => ((pod.spec.containers[0] = null), pod), /spec\.containers\[0\] is not an object/],
    [
      "ownerReferences not an array",
      (pod) => ((pod.metadata.ownerReferences = {}), pod),
      /metadata\.ownerReferences is not an array/
    ],
    [
      "owner without kind",
      (pod) => (delete pod.metadata.ownerReferences[0].kind, pod),
      /metadata\.ownerReferences\[0\]\.kind/
    ]
  ]
  for (const [label, mutate, reason] of rows) {
    it(label, () => {
      const result = projectPod(mutate(fixture()))
      expect(result.ok).toBe(false)
      if (!result.ok) expect(result.reason).toMatch(reason)
    })
  }

  it("an empty containers array is not an error (the API would not create it, but it is harmless)", () => {
    const pod = fixture()
    pod.spec.containers = []
    expect(project(pod).containers).toEqual([])
  })
})

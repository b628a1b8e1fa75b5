import { describe, expect, it } from "@effect/vitest"
import { metaKey, type ObjectMeta, objectKey, projectObjectMeta } from "../../src/kube/ObjectMeta.ts"

/** What the metadata API sends for one object (GET with as=PartialObjectMetadata). */
const partial = (metadata: Record<string, unknown>) => ({
  kind: "PartialObjectMetadata",
  apiVersion: "meta.k8s.io/v1",
  metadata
})

const baseMetadata = {
  name: "frontend",
  namespace: "shop",
  uid: "uid-frontend",
  resourceVersion: "4711"
}

const projected = (kind: string, raw: unknown): ObjectMeta => {
  const result = projectObjectMeta(kind, raw)
  if (!result.ok) throw new Error(`expected a projection, got: ${result.reason}`)
  return result.value
}

describe("projectObjectMeta", () => {
  it("projects a PartialObjectMetadata, taking the kind from the caller", () => {
    expect(projected("Deployment", partial(baseMetadata))).toEqual({
      kind: "Deployment",
      namespace: "shop",
      name: "frontend",
      uid: "uid-frontend",
      resourceVersion: "4711",
      deleting: false,
      controller: undefined,
      annotations: undefined
    })
  })

  it("projects a full object to the same metadata, ignoring spec and status", () => {
    const full = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: baseMetadata,
      spec: { replicas: 3, template: { spec: { containers: [{ name: "app", image: "x" }] } } },
      status: { readyReplicas: 3 }
    }
    expect(projected("Deployment", full)).toEqual(projected("Deployment", partial(baseMetadata)))
  })

  it("a missing resourceVersion is empty, not a failure", () => {
    const { resourceVersion: _dropped, ...withoutVersion } = baseMetadata
    expect(projected("Deployment", partial(withoutVersion)).resourceVersion).toBe("")
  })

  describe("deleting: set by metadata.deletionTimestamp", () => {
    const cases: ReadonlyArray<readonly [label: string, deletionTimestamp: unknown, deleting: boolean]> = [
      ["a timestamp (foreground deletion in progress)", "2026-11-24T10:00:00Z", true],
      ["null", null, false],
      ["absent", undefined, false]
    ]
    it.each(cases)("%s", (_label, deletionTimestamp, deleting) => {
      const metadata = deletionTimestamp === undefined ? baseMetadata : { ...baseMetadata, deletionTimestamp }
      expect(projected("Deployment", partial(metadata)).deleting).toBe(deleting)
    })
  })

  it("keeps the controlling owner reference, not the other owners", () => {
    const meta = projected("ReplicaSet", partial({
      ...baseMetadata,
      ownerReferences: [
        { apiVersion: "apps/v1", kind: "Deployment", name: "loose", uid: "uid-loose", controller: false },
        { apiVersion: "v1", kind: "ConfigMap", name: "no-controller-field", uid: "uid-cm" },
        { apiVersion: "argoproj.io/v1alpha1", kind: "Rollout", name: "checkout", uid: "uid-rollout", controller: true }
      ]
    }))
    expect(meta.controller).toEqual({
      apiVersion: "argoproj.io/v1alpha1",
      kind: "Rollout",
      name: "checkout",
      uid: "uid-rollout",
      controller: true
    })
  })

  it("has no controller when no owner reference is the controller", () => {
    const meta = projected("ReplicaSet", partial({
      ...baseMetadata,
      ownerReferences: [{ apiVersion: "apps/v1", kind: "Deployment", name: "loose", uid: "uid-loose", controller: false }]
    }))
    expect(meta.controller).toBeUndefined()
  })

  it("keeps only metadata.github.com/* annotations with string values", () => {
    const meta = projected("Deployment", partial({
      ...baseMetadata,
      annotations: {
        "metadata.github.com/runtime-risks": "internet-exposed",
        "metadata.github.com/github-repository": "octo/app",
        "kubectl.kubernetes.io/last-applied-configuration": "{\"huge\":true}",
        "deployment.kubernetes.io/revision": "7",
        "github.com/not-ours": "x",
        "metadata.github.com/not-a-string": 7
      }
    }))
    expect(meta.annotations).toEqual({
      "metadata.github.com/runtime-risks": "internet-exposed",
      "metadata.github.com/github-repository": "octo/app"
    })
  })

  it("has no annotations (undefined) when none of them are ours", () => {
    const meta = projected("Deployment", partial({
      ...baseMetadata,
      annotations: { "deployment.kubernetes.io/revision": "7" }
    }))
    expect(meta.annotations).toBeUndefined()
  })

  describe("rejects unreadable objects with a reason", () => {
    const cases: ReadonlyArray<readonly [label: string, raw: unknown, reason: string]> = [
      ["not an object", "frontend", "not an object"],
      ["null", null, "not an object"],
      ["no metadata", { kind: "PartialObjectMetadata" }, "metadata is missing"],
      ["metadata not an object", { metadata: "x" }, "metadata is missing"],
      ["no namespace (cluster-scoped)", partial({ name: "n", uid: "u" }), "metadata.namespace is missing"],
      ["no name", partial({ namespace: "shop", uid: "u" }), "metadata.name is missing"],
      ["no uid", partial({ namespace: "shop", name: "n" }), "metadata.uid is missing"],
      ["uid not a string", partial({ namespace: "shop", name: "n", uid: 7 }), "metadata.uid is missing"],
      [
        "ownerReferences not an array",
        partial({ ...baseMetadata, ownerReferences: { kind: "Deployment" } }),
        "metadata.ownerReferences is not an array"
      ],
      [
        "an owner reference without a kind",
        partial({ ...baseMetadata, ownerReferences: [{ name: "x", uid: "u", controller: true }] }),
        "metadata.ownerReferences[0].kind is missing"
      ]
    ]
    it.each(cases)("%s", (_label, raw, reason) => {
      expect(projectObjectMeta("Deployment", raw)).toEqual({ ok: false, reason })
    })
  })

  it("keys objects by kind, namespace and name", () => {
    const meta = projected("StatefulSet", partial(baseMetadata))
    expect(metaKey(meta)).toBe(objectKey("StatefulSet", "shop", "frontend"))
    expect(objectKey("StatefulSet", "shop", "frontend")).not.toBe(objectKey("Deployment", "shop", "frontend"))
  })
})

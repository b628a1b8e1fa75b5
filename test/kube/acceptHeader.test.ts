import { describe, expect, it } from "@effect/vitest"
import { acceptHeader, isCollection } from "../../src/kube/KubeApi.ts"

// The metadata API wants PartialObjectMetadataList for a collection and
// PartialObjectMetadata for one object; the wrong one is a 406.
describe("isCollection", () => {
  const rows: ReadonlyArray<readonly [string, boolean]> = [
    ["/api/v1/pods", true],
    ["/api/v1/namespaces", true],
    ["/api/v1/namespaces/shop", false],
    ["/api/v1/namespaces/shop/pods", true],
    ["/api/v1/namespaces/shop/pods/web-1", false],
    ["/apis/apps/v1/deployments", true],
    ["/apis/apps/v1/namespaces/shop/replicasets", true],
    ["/apis/apps/v1/namespaces/shop/replicasets/web-5d8f", false],
    ["/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/canary", false]
  ]
  for (const [path, expected] of rows) it(path, () => expect(isCollection(path)).toBe(expected))

  it("asks for the list form only for collections", () => {
    expect(acceptHeader("metadata", isCollection("/api/v1/namespaces"))).toContain("as=PartialObjectMetadataList")
    expect(acceptHeader("metadata", isCollection("/api/v1/namespaces/shop"))).toContain("as=PartialObjectMetadata;")
  })
})

import { describe, expect, it } from "@effect/vitest"
import { namespaceView, type NamespaceFacts } from "../../src/controller/namespacePolicy.ts"
import type { ObjectMeta } from "../../src/kube/ObjectMeta.ts"
import { environmentOf, isIgnored } from "../../src/metadata/trackerAnnotations.ts"

const DEFAULTS = { logical: "prod", physical: "eu" }

const ns = (annotations?: Record<string, string>): ObjectMeta => ({
  kind: "Namespace",
  namespace: "",
  name: "shop",
  uid: "uid-shop",
  resourceVersion: "1",
  deleting: false,
  controller: undefined,
  annotations
})

const facts = (changes: Partial<NamespaceFacts>): NamespaceFacts => ({
  watched: true,
  selector: false,
  namespace: ns(),
  workloadAnnotations: undefined,
  defaults: DEFAULTS,
  ...changes
})

describe("namespaceView", () => {
  const rows: ReadonlyArray<readonly [string, NamespaceFacts, unknown]> = [
    ["Namespaces not watchable (RBAC): every namespace, the tracker's environments", facts({ watched: false, namespace: undefined }), { _tag: "Reported", environment: DEFAULTS }],
    ["a Namespace without annotations: the tracker's environments", facts({}), { _tag: "Reported", environment: DEFAULTS }],
    ["a Namespace's environments", facts({ namespace: ns({ "deployment-tracker/logical-environment": "staging", "deployment-tracker/physical-environment": "us" }) }), { _tag: "Reported", environment: { logical: "staging", physical: "us" } }],
    ["only the logical one: the physical stays the tracker's", facts({ namespace: ns({ "deployment-tracker/logical-environment": " staging " }) }), { _tag: "Reported", environment: { logical: "staging", physical: "eu" } }],
    ["an empty physical environment is one", facts({ namespace: ns({ "deployment-tracker/physical-environment": "" }) }), { _tag: "Reported", environment: { logical: "prod", physical: "" } }],
    ["not seen yet, no selector: wait", facts({ namespace: undefined }), { _tag: "Unknown" }],
    ["not in the selector's watch: excluded", facts({ selector: true, namespace: undefined }), { _tag: "Excluded", why: "not selected" }],
    ["a Namespace opting out", facts({ namespace: ns({ "deployment-tracker/ignore": "True" }) }), { _tag: "Excluded", why: "opted out" }],
    ["a workload opting out, whatever its Namespace", facts({ watched: false, workloadAnnotations: { "deployment-tracker/ignore": "true" } }), { _tag: "Excluded", why: "opted out" }],
    ["an opt-out that is not \"true\" does not count", facts({ namespace: ns({ "deployment-tracker/ignore": "yes" }) }), { _tag: "Reported", environment: DEFAULTS }]
  ]
  for (const [label, input, expected] of rows) {
    it(label, () => expect(namespaceView(input).view).toEqual(expected))
  }

  it("an environment annotation the record schema would refuse is dropped with the reason; the default stands", () => {
    const { dropped, environment } = environmentOf(
      { "deployment-tracker/logical-environment": "", "deployment-tracker/physical-environment": "é".repeat(129) },
      DEFAULTS
    )
    expect(environment).toEqual(DEFAULTS)
    expect(dropped.map((d) => d.key)).toEqual(["deployment-tracker/logical-environment", "deployment-tracker/physical-environment"])
    expect(dropped[1]?.reason).toContain("129")
    // 128 characters (code points, not UTF-16 units) is within the limit.
    expect(environmentOf({ "deployment-tracker/physical-environment": "é".repeat(128) }, DEFAULTS).dropped).toEqual([])
    expect(isIgnored(undefined)).toBe(false)
  })
})

import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { WorkloadIndex } from "../../src/controller/WorkloadIndex.ts"
import { DeploymentLedger } from "../../src/ledger/DeploymentLedger.ts"
import { type Anchor, makeAttribution } from "../../src/workload/Attribution.ts"
import { recordIdentity } from "../../src/record/recordIdentity.ts"
import { testRecord } from "../support/testRecord.ts"

const anchor = (name: string): Anchor => ({ kind: "Deployment", apiVersion: "apps/v1", namespace: "ns", name, uid: `uid-${name}`, watched: true })
const web = makeAttribution("web", anchor("web"), [])
const api = makeAttribution("api", anchor("api"), [])

describe("WorkloadIndex", () => {
  it.effect("pods by workload key; a pod keeps its attribution until it is released", () =>
    Effect.gen(function*() {
      const index = yield* WorkloadIndex
      expect(index.assign("ns/web-1", "uid-rs", web)).toBeUndefined()
      expect(index.assign("ns/web-2", "uid-rs", web)).toBeUndefined()
      expect([...index.podsOf("ns/web")].sort()).toEqual(["ns/web-1", "ns/web-2"])
      expect(index.attributionOf("ns/web-1")).toBe(web)
      expect(index.release("ns/web-1")).toBe(web)
      expect([...index.podsOf("ns/web")]).toEqual(["ns/web-2"])
      expect(index.release("ns/web-2")).toBe(web)
      expect([...index.keys()]).toEqual([])
      expect(index.release("ns/web-2")).toBeUndefined()
    }).pipe(Effect.provide(WorkloadIndex.Default)))

  it.effect("pods of one owner share one attribution, forgotten with the last of them", () =>
    Effect.gen(function*() {
      const index = yield* WorkloadIndex
      index.assign("ns/a", "uid-rs", web)
      // An equal attribution found again for the same owner is not kept twice.
      index.assign("ns/b", "uid-rs", makeAttribution("web", anchor("web"), []))
      expect(index.attributionOf("ns/b")).toBe(web)
      expect(index.ofOwner("uid-rs")).toBe(web)
      index.release("ns/a")
      expect(index.ofOwner("uid-rs")).toBe(web)
      index.release("ns/b")
      expect(index.ofOwner("uid-rs")).toBeUndefined()
    }).pipe(Effect.provide(WorkloadIndex.Default)))

  it.effect("a pod without an owner uid, or one its owner's pods disagree with, keeps its own attribution and does not hold the owner's", () =>
    Effect.gen(function*() {
      const index = yield* WorkloadIndex
      index.assign("ns/bare", "", api)
      expect(index.ofOwner("")).toBeUndefined()
      index.assign("ns/a", "uid-rs", web)
      index.assign("ns/odd", "uid-rs", api)
      expect(index.attributionOf("ns/odd")).toBe(api)
      expect(index.ofOwner("uid-rs")).toBe(web)
      expect([...index.podsOf("ns/api")].sort()).toEqual(["ns/bare", "ns/odd"])
      // The owner's attribution goes with its last pod, not with the odd one.
      index.release("ns/a")
      expect(index.ofOwner("uid-rs")).toBeUndefined()
      expect(index.release("ns/odd")).toBe(api)
      expect([...index.podsOf("ns/api")]).toEqual(["ns/bare"])
    }).pipe(Effect.provide(WorkloadIndex.Default)))

  it.effect("a pod moved to another workload (adopted) reports the key it left", () =>
    Effect.gen(function*() {
      const index = yield* WorkloadIndex
      index.assign("ns/p", "uid-rs-web", web)
      expect(index.assign("ns/p", "uid-rs-api", api)).toBe("ns/web")
      expect([...index.keys()]).toEqual(["ns/api"])
      expect(index.assign("ns/p", "uid-rs-api", api)).toBeUndefined()
    }).pipe(Effect.provide(WorkloadIndex.Default)))
})

describe("DeploymentLedger", () => {
  const entry = (key: string, name: string) => ({
    key,
    owner: { kind: "Deployment", apiVersion: "apps/v1", namespace: "ns", name: key.split("/")[1]!, uid: "u" },
    record: testRecord({ deployment_name: name }),
    since: 1
  })

  it.effect("names by key; a name moves to the key that last reported it; removal and revision", () =>
    Effect.gen(function*() {
      const ledger = yield* DeploymentLedger
      const start = ledger.revision()
      ledger.put(entry("ns/web", "ns/web/app"))
      ledger.put(entry("ns/web", "ns/web/sidecar"))
      expect([...ledger.entriesOf("ns/web").values()].map((e) => e.record.deployment_name).sort()).toEqual(["ns/web/app", "ns/web/sidecar"])
      // A shared name (a template without {{deploymentName}}) reported by another key now belongs to it.
      ledger.put(entry("ns/api", "ns/web/app"))
      expect([...ledger.entriesOf("ns/web").values()].map((e) => e.record.deployment_name)).toEqual(["ns/web/sidecar"])
      expect(ledger.get(recordIdentity(testRecord({ deployment_name: "ns/web/app" })))?.key).toBe("ns/api")
      ledger.remove(recordIdentity(testRecord({ deployment_name: "ns/web/sidecar" })))
      ledger.remove(recordIdentity(testRecord({ deployment_name: "ns/web/sidecar" })))
      expect([...ledger.keys()]).toEqual(["ns/api"])
      expect(ledger.size()).toBe(1)
      expect(ledger.revision()).toBe(start + 4)
    }).pipe(Effect.provide(DeploymentLedger.Default)))
})

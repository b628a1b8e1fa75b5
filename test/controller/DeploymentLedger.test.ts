import { describe, expect, it } from "@effect/vitest"
import {
  type LedgerEntry,
  makeDeploymentLedger,
  sameOwner,
  SETTLED_LIFETIME_MILLIS,
  type WorkloadRef
} from "../../src/controller/DeploymentLedger.ts"
import type { DeploymentRecord, RecordStatus } from "../../src/record/DeploymentRecord.ts"

const web = (uid: string): WorkloadRef => ({ kind: "Deployment", namespace: "shop", name: "web", uid })

const record = (deploymentName: string, status: RecordStatus = "deployed"): DeploymentRecord => ({
  name: "ghcr.io/octo/app",
  digest: `sha256:${"a".repeat(64)}`,
  status,
  logical_environment: "production",
  physical_environment: "",
  cluster: "east",
  deployment_name: deploymentName
})

const entry = (owner: WorkloadRef, deploymentName: string, status: RecordStatus, seq = 1): LedgerEntry => ({
  owner,
  status,
  seq,
  record: record(deploymentName, status)
})

const MINUTE = 60_000

describe("sameOwner", () => {
  const cases: ReadonlyArray<readonly [label: string, left: WorkloadRef, right: WorkloadRef, same: boolean]> = [
    ["same uid", web("u1"), web("u1"), true],
    ["other uid under the same name (deleted and recreated)", web("u1"), web("u2"), false],
    ["known uids decide even when the names differ", web("u1"), { ...web("u1"), name: "renamed" }, true],
    ["left uid unknown: same kind/namespace/name", web(""), web("u2"), true],
    ["right uid unknown: same kind/namespace/name", web("u1"), web(""), true],
    ["both uids unknown: same kind/namespace/name", web(""), web(""), true],
    ["uid unknown: another kind of the same name", web(""), { ...web("u1"), kind: "StatefulSet" }, false],
    ["uid unknown: the same name in another namespace", web(""), { ...web("u1"), namespace: "other" }, false],
    ["uid unknown: another name", web(""), { ...web("u1"), name: "web-2" }, false]
  ]
  it.each(cases)("%s", (_label, left, right, same) => {
    expect(sameOwner(left, right)).toBe(same)
    expect(sameOwner(right, left)).toBe(same)
  })
})

describe("namesOf", () => {
  it("lists the names a workload object (by uid) deployed, sorted, and not another object's of the same name", () => {
    const ledger = makeDeploymentLedger()
    ledger.set(entry(web("u1"), "shop/web/b", "deployed"), 0)
    ledger.set(entry(web("u1"), "shop/web/a", "deployed"), 0)
    ledger.set(entry(web("u2"), "shop/web/c", "deployed"), 0)
    expect(ledger.namesOf(web("u1"))).toEqual(["shop/web/a", "shop/web/b"])
    expect(ledger.namesOf(web("u2"))).toEqual(["shop/web/c"])
    expect(ledger.namesOf(web("u3"))).toEqual([])
  })

  it("an owner known only by name (uid \"\") finds what every object of that name deployed", () => {
    const ledger = makeDeploymentLedger()
    ledger.set(entry(web("u1"), "shop/web/a", "deployed"), 0)
    ledger.set(entry(web("u2"), "shop/web/c", "deployed"), 0)
    ledger.set(entry({ ...web("u1"), kind: "StatefulSet" }, "shop/web/ss", "deployed"), 0)
    ledger.set(entry({ ...web("u1"), namespace: "other" }, "other/web/a", "deployed"), 0)
    expect(ledger.namesOf(web(""))).toEqual(["shop/web/a", "shop/web/c"])
  })

  it("names recorded for an owner known only by name belong to the object of that name with a known uid", () => {
    const ledger = makeDeploymentLedger()
    ledger.set(entry(web(""), "shop/web/a", "deployed"), 0)
    ledger.set(entry(web("u2"), "shop/web/c", "deployed"), 0)
    expect(ledger.namesOf(web("u1"))).toEqual(["shop/web/a"])
    expect(ledger.namesOf(web("u2"))).toEqual(["shop/web/a", "shop/web/c"])
    expect(ledger.namesOf({ ...web("u1"), name: "api" })).toEqual([])
  })

  it("leaves out decommissioned names", () => {
    const ledger = makeDeploymentLedger()
    ledger.set(entry(web("u1"), "shop/web/a", "deployed"), 0)
    ledger.set(entry(web("u1"), "shop/web/b", "deployed"), 0)
    ledger.set(entry(web("u1"), "shop/web/b", "decommissioned", 2), 0)
    expect(ledger.namesOf(web("u1"))).toEqual(["shop/web/a"])
    expect(ledger.namesOf(web(""))).toEqual(["shop/web/a"])
    expect(ledger.get("shop/web/b")?.status).toBe("decommissioned")
  })
})

describe("set: a name belongs to one workload object at a time", () => {
  it("a `deployed` by a new uid moves the name from the old object to the new one", () => {
    const ledger = makeDeploymentLedger()
    ledger.set(entry(web("u1"), "shop/web/a", "deployed"), 0)
    ledger.set(entry(web("u2"), "shop/web/a", "deployed", 2), MINUTE)
    expect(ledger.get("shop/web/a")?.owner).toEqual(web("u2"))
    expect(ledger.namesOf(web("u1"))).toEqual([])
    expect(ledger.namesOf(web("u2"))).toEqual(["shop/web/a"])
    // Still one entry for the name, found once by name.
    expect(ledger.namesOf(web(""))).toEqual(["shop/web/a"])
    expect(ledger.size()).toBe(1)
  })

  it("a name can move to another workload (another kind or name) entirely", () => {
    const ledger = makeDeploymentLedger()
    const api: WorkloadRef = { kind: "StatefulSet", namespace: "shop", name: "api", uid: "u9" }
    ledger.set(entry(web("u1"), "shop/shared", "deployed"), 0)
    ledger.set(entry(api, "shop/shared", "deployed", 2), 0)
    expect(ledger.namesOf(web(""))).toEqual([])
    expect(ledger.namesOf({ ...api, uid: "" })).toEqual(["shop/shared"])
  })

  it("a name deployed again after its decommission is listed again", () => {
    const ledger = makeDeploymentLedger()
    ledger.set(entry(web("u1"), "shop/web/a", "decommissioned"), 0)
    expect(ledger.namesOf(web("u2"))).toEqual([])
    ledger.set(entry(web("u2"), "shop/web/a", "deployed", 2), MINUTE)
    expect(ledger.namesOf(web("u2"))).toEqual(["shop/web/a"])
  })
})

describe("expiry of settled (decommissioned) names", () => {
  // Expiry runs on `set`, so each check writes an unrelated name at that time.
  const touch = (ledger: ReturnType<typeof makeDeploymentLedger>, now: number) =>
    ledger.set(entry({ ...web("u-other"), name: "other" }, `shop/other/${now}`, "deployed"), now)

  it("a decommissioned name is remembered for SETTLED_LIFETIME_MILLIS, then forgotten", () => {
    const ledger = makeDeploymentLedger()
    ledger.set(entry(web("u1"), "shop/web/a", "decommissioned"), MINUTE)
    touch(ledger, MINUTE + SETTLED_LIFETIME_MILLIS - 1)
    expect(ledger.get("shop/web/a")?.status).toBe("decommissioned")
    touch(ledger, MINUTE + SETTLED_LIFETIME_MILLIS)
    expect(ledger.get("shop/web/a")).toBeUndefined()
  })

  it("deployed names never expire", () => {
    const ledger = makeDeploymentLedger()
    ledger.set(entry(web("u1"), "shop/web/a", "deployed"), 0)
    touch(ledger, 100 * SETTLED_LIFETIME_MILLIS)
    expect(ledger.get("shop/web/a")?.status).toBe("deployed")
    expect(ledger.namesOf(web("u1"))).toEqual(["shop/web/a"])
  })

  it("a name deployed again after its decommission does not expire with the old decommission", () => {
    const ledger = makeDeploymentLedger()
    ledger.set(entry(web("u1"), "shop/web/a", "decommissioned"), 0)
    ledger.set(entry(web("u2"), "shop/web/a", "deployed", 2), MINUTE)
    touch(ledger, 2 * SETTLED_LIFETIME_MILLIS)
    expect(ledger.get("shop/web/a")?.owner).toEqual(web("u2"))
    expect(ledger.namesOf(web("u2"))).toEqual(["shop/web/a"])
  })

  it("a name that settles again lives its full lifetime from the newest settle", () => {
    // Decommissioned (u1), deployed by a recreated workload (u2), then
    // decommissioned again 10 minutes later: the first settle's time must
    // not cut the second one's lifetime short.
    const ledger = makeDeploymentLedger()
    ledger.set(entry(web("u1"), "shop/web/a", "decommissioned"), 0)
    ledger.set(entry(web("u2"), "shop/web/a", "deployed", 2), MINUTE)
    ledger.set(entry(web("u2"), "shop/web/a", "decommissioned", 3), 10 * MINUTE)
    touch(ledger, SETTLED_LIFETIME_MILLIS)
    expect(ledger.get("shop/web/a")?.owner).toEqual(web("u2"))
    touch(ledger, 10 * MINUTE + SETTLED_LIFETIME_MILLIS - 1)
    expect(ledger.get("shop/web/a")?.status).toBe("decommissioned")
    touch(ledger, 10 * MINUTE + SETTLED_LIFETIME_MILLIS)
    expect(ledger.get("shop/web/a")).toBeUndefined()
  })

  it("size counts the names held, expired ones no longer", () => {
    const ledger = makeDeploymentLedger()
    ledger.set(entry(web("u1"), "shop/web/a", "decommissioned"), 0)
    ledger.set(entry(web("u1"), "shop/web/b", "deployed"), 0)
    expect(ledger.size()).toBe(2)
    touch(ledger, SETTLED_LIFETIME_MILLIS)
    // b and the touched name remain.
    expect(ledger.size()).toBe(2)
    expect(ledger.get("shop/web/b")?.status).toBe("deployed")
  })
})

describe("what persistence reads from the ledger", () => {
  it("deployed() lists only deployed entries, each with the time it was set; revision() grows with every set", () => {
    const ledger = makeDeploymentLedger()
    const start = ledger.revision()
    ledger.set(entry(web("u1"), "shop/web/app", "deployed"), 1000)
    ledger.set(entry(web("u1"), "shop/web/sidecar", "deployed"), 2000)
    ledger.set(entry(web("u1"), "shop/web/sidecar", "decommissioned", 2), 3000)
    expect(ledger.revision()).toBe(start + 3)
    expect(ledger.deployed().map(({ at, entry: e }) => [e.record.deployment_name, at])).toStrictEqual([["shop/web/app", 1000]])
  })
})

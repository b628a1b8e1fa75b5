import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import {
  decodeLease,
  formatMicroTime,
  type LeaseRecord,
  leaseToCreate,
  leaseToUpdate,
  sameRecord,
  wholeSeconds
} from "../../src/leader/leaseRecord.ts"

const record: LeaseRecord = {
  holderIdentity: "pod-a",
  leaseDurationSeconds: 15,
  acquireTime: "2025-01-01T00:00:00.000000Z",
  renewTime: "2025-01-01T00:00:10.123456Z",
  leaseTransitions: 3
}

describe("formatMicroTime", () => {
  it("has exactly six fractional digits (the API server rejects toISOString's three)", () => {
    expect(formatMicroTime(Date.parse("2025-03-04T05:06:07.089Z"))).toBe("2025-03-04T05:06:07.089000Z")
    expect(formatMicroTime(0)).toBe("1970-01-01T00:00:00.000000Z")
    for (const millis of [1, 999, 1_700_000_000_001, 1_735_689_599_999]) {
      expect(formatMicroTime(millis)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/)
      expect(Date.parse(formatMicroTime(millis))).toBe(millis)
    }
  })
})

describe("decodeLease", () => {
  it("reads the record, the resourceVersion and keeps the whole object", () => {
    const json = {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: "l", namespace: "ns", resourceVersion: "42", uid: "u" },
      spec: { ...record, strategy: "OldestEmulationVersion" }
    }
    const decoded = decodeLease(json)
    expect(Either.isRight(decoded)).toBe(true)
    if (Either.isLeft(decoded)) return
    expect(decoded.right.resourceVersion).toBe("42")
    expect(decoded.right.record).toEqual(record)
    expect(decoded.right.object).toBe(json)
  })

  it("an empty spec is a free lease nobody ever held", () => {
    const decoded = decodeLease({ metadata: { resourceVersion: "1" }, spec: {} })
    expect(Either.getOrThrow(decoded).record).toEqual({
      holderIdentity: "",
      leaseDurationSeconds: 0,
      acquireTime: undefined,
      renewTime: undefined,
      leaseTransitions: 0
    })
  })

  it("refuses something that is not a Lease", () => {
    expect(Either.isLeft(decodeLease({ kind: "Status", status: "Failure" }))).toBe(true)
    expect(Either.isLeft(decodeLease({ metadata: { resourceVersion: "1" }, spec: { leaseTransitions: "x" } }))).toBe(true)
  })
})

describe("Lease bodies", () => {
  it("create: a Lease with the record's fields and no null times", () => {
    const body = leaseToCreate("l", "ns", { ...record, acquireTime: undefined })
    expect(body).toEqual({
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: "l", namespace: "ns" },
      spec: { holderIdentity: "pod-a", leaseDurationSeconds: 15, renewTime: record.renewTime, leaseTransitions: 3 }
    })
  })

  it("update: sends back the stored object's resourceVersion (optimistic concurrency) and keeps spec fields it does not own", () => {
    const object = {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: "l", namespace: "ns", resourceVersion: "7", labels: { a: "b" } },
      spec: { ...record, preferredHolder: "x", strategy: "s" }
    }
    const stored = Either.getOrThrow(decodeLease(object))
    const next: LeaseRecord = { ...record, holderIdentity: "pod-b", renewTime: "2025-01-01T00:01:00.000000Z", leaseTransitions: 4 }
    const body = leaseToUpdate(stored, next) as { metadata: Record<string, unknown>; spec: Record<string, unknown> }
    expect(body.metadata).toEqual({ name: "l", namespace: "ns", resourceVersion: "7", labels: { a: "b" } })
    expect(body.spec).toEqual({
      holderIdentity: "pod-b",
      leaseDurationSeconds: 15,
      acquireTime: record.acquireTime,
      renewTime: "2025-01-01T00:01:00.000000Z",
      leaseTransitions: 4,
      preferredHolder: "x",
      strategy: "s"
    })
  })
})

describe("sameRecord / wholeSeconds", () => {
  it("any field differing is a new record", () => {
    expect(sameRecord(record, { ...record })).toBe(true)
    expect(sameRecord(record, { ...record, renewTime: "2025-01-01T00:00:10.123457Z" })).toBe(false)
    expect(sameRecord(record, { ...record, leaseTransitions: 4 })).toBe(false)
    expect(sameRecord(record, { ...record, holderIdentity: "" })).toBe(false)
  })

  it("leaseDurationSeconds is whole seconds, rounded down like client-go", () => {
    expect(wholeSeconds("15 seconds")).toBe(15)
    expect(wholeSeconds("6500 millis")).toBe(6)
  })
})

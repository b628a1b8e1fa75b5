import { describe, expect, it } from "@effect/vitest"
import { type BulkSyncCandidate, chunk, selectRecords } from "../../src/bulk/selectRecords.ts"
import type { DeploymentRecord } from "../../src/record/DeploymentRecord.ts"
import { testDigest, testRecord } from "../support/testRecord.ts"

const digest = testDigest

const record = (deploymentName: string, digestHex: string): DeploymentRecord =>
  testRecord({ digest: digest(digestHex), version: "1.0.0", deployment_name: deploymentName })

const candidate = (deploymentName: string, digestHex: string, podStartedAt: number, podRunning = true): BulkSyncCandidate => ({
  record: record(deploymentName, digestHex),
  podStartedAt,
  podRunning
})

describe("selectRecords", () => {
  it("keeps one record per deployment_name, sorted by deployment_name", () => {
    const { records, conflicts } = selectRecords([
      candidate("ns/web/web", "a", 1),
      candidate("ns/api/api", "b", 1),
      candidate("ns/web/web", "a", 2), // another replica, same digest
      candidate("ns/api/sidecar", "c", 1)
    ])
    expect(records.map((r) => r.deployment_name)).toEqual(["ns/api/api", "ns/api/sidecar", "ns/web/web"])
    expect(conflicts).toEqual([])
  })

  it("on a digest conflict (rollout) the newest Running pod wins, whatever the input order", () => {
    const old = candidate("ns/web/web", "a", 1_000)
    const next = candidate("ns/web/web", "b", 2_000)
    for (const input of [[old, next], [next, old]]) {
      const { records, conflicts } = selectRecords(input)
      expect(records.map((r) => r.digest)).toEqual([digest("b")])
      expect(conflicts).toEqual([{ deploymentName: "ns/web/web", chosenDigest: digest("b"), droppedDigests: [digest("a")] }])
    }
  })

  it("a Running pod wins over a newer finished (Job) pod", () => {
    const running = candidate("ns/job/main", "a", 1_000, true)
    const finished = candidate("ns/job/main", "b", 5_000, false)
    expect(selectRecords([finished, running]).records.map((r) => r.digest)).toEqual([digest("a")])
    expect(selectRecords([running, finished]).records.map((r) => r.digest)).toEqual([digest("a")])
  })

  it("equal start times are decided by the digest, so input order does not matter", () => {
    const a = candidate("ns/web/web", "a", 1_000)
    const b = candidate("ns/web/web", "b", 1_000)
    expect(selectRecords([a, b]).records[0]?.digest).toBe(selectRecords([b, a]).records[0]?.digest)
  })

  it("sorts by code units, not by locale", () => {
    const { records } = selectRecords([candidate("b/x/x", "a", 1), candidate("B/x/x", "a", 1), candidate("a/x/x", "a", 1)])
    expect(records.map((r) => r.deployment_name)).toEqual(["B/x/x", "a/x/x", "b/x/x"])
  })
})

describe("chunk", () => {
  it("splits into consecutive slices of at most the given size", () => {
    const items = Array.from({ length: 10_001 }, (_, i) => i)
    const chunks = chunk(items, 5000)
    expect(chunks.map((c) => c.length)).toEqual([5000, 5000, 1])
    expect(chunks.flat()).toEqual(items)
    expect(chunk(items.slice(0, 5000), 5000).map((c) => c.length)).toEqual([5000])
    expect(chunk([], 5000)).toEqual([])
  })

  it("refuses a size that is not a positive integer (a bug, not input)", () => {
    expect(() => chunk([1], 0)).toThrow(RangeError)
  })
})

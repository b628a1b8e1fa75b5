import { describe, expect, it } from "@effect/vitest"
import type { DeploymentRecord } from "../../src/record/DeploymentRecord.ts"
import { codePointLength, validateRecord } from "../../src/record/validateRecord.ts"

const DIGEST = `sha256:${"0123456789abcdef".repeat(4)}`

const valid: DeploymentRecord = {
  name: "ghcr.io/acme/web",
  digest: DIGEST,
  version: "1.2.3",
  status: "deployed",
  logical_environment: "prod",
  physical_environment: "eu-west-1",
  cluster: "prod-eu-1",
  deployment_name: "shop/web/app",
  runtime_risks: ["internet-exposed", "sensitive-data"],
  tags: { team: "payments" },
  github_repository: "web"
}

const recordWith = (patch: Record<string, unknown>): DeploymentRecord => ({ ...valid, ...patch }) as DeploymentRecord

const chars = (count: number): string => "a".repeat(count)

type Expectation = "ok" | "rejected"

describe("validateRecord", () => {
  it("accepts a complete record unchanged, with no adjustments", () => {
    const result = validateRecord(valid)
    expect(result).toEqual({ ok: true, record: valid, adjustments: [] })
    if (result.ok) expect(result.record).toBe(valid)
  })

  it("accepts a minimal record (optional fields absent, empty physical_environment and cluster)", () => {
    const minimal: DeploymentRecord = {
      name: "nginx",
      digest: DIGEST,
      status: "decommissioned",
      logical_environment: "staging",
      physical_environment: "",
      cluster: "",
      deployment_name: "default/nginx/nginx"
    }
    expect(validateRecord(minimal)).toEqual({ ok: true, record: minimal, adjustments: [] })
  })

  // Each row: the field, a patch, whether the API would accept it.
  const boundaries: ReadonlyArray<readonly [field: string, patch: Record<string, unknown>, expected: Expectation]> = [
    ["name", { name: chars(256) }, "ok"],
    ["name", { name: chars(257) }, "rejected"],
    ["name", { name: "" }, "rejected"],
    ["name", { name: "a" }, "ok"],
    ["logical_environment", { logical_environment: chars(128) }, "ok"],
    ["logical_environment", { logical_environment: chars(129) }, "rejected"],
    ["logical_environment", { logical_environment: "" }, "rejected"],
    ["physical_environment", { physical_environment: chars(128) }, "ok"],
    ["physical_environment", { physical_environment: chars(129) }, "rejected"],
    ["physical_environment", { physical_environment: "" }, "ok"],
    ["cluster", { cluster: chars(128) }, "ok"],
    ["cluster", { cluster: chars(129) }, "rejected"],
    ["cluster", { cluster: "" }, "ok"],
    ["deployment_name", { deployment_name: chars(256) }, "ok"],
    ["deployment_name", { deployment_name: chars(257) }, "rejected"],
    ["deployment_name", { deployment_name: "" }, "rejected"],
    ["version", { version: chars(100) }, "ok"],
    ["version", { version: "" }, "rejected"],
    ["status", { status: "running" }, "rejected"],
    ["status", { status: "decommissioned" }, "ok"],
    ["tags", { tags: { a: "1", b: "2", c: "3", d: "4", e: "5" } }, "ok"],
    ["tags", { tags: { a: "1", b: "2", c: "3", d: "4", e: "5", f: "6" } }, "rejected"],
    ["tags", { tags: {} }, "ok"],
    [
      "runtime_risks",
      { runtime_risks: ["critical-resource", "internet-exposed", "lateral-movement", "sensitive-data"] },
      "ok"
    ],
    ["runtime_risks", { runtime_risks: [] }, "ok"],
    ["runtime_risks", { runtime_risks: ["internet-exposed", "internet-exposed"] }, "rejected"],
    ["runtime_risks", { runtime_risks: ["internet-facing"] }, "rejected"],
    [
      "runtime_risks",
      {
        runtime_risks: ["critical-resource", "internet-exposed", "lateral-movement", "sensitive-data", "sensitive-data"]
      },
      "rejected"
    ],
    ["github_repository", { github_repository: chars(100) }, "ok"],
    ["github_repository", { github_repository: chars(101) }, "rejected"],
    ["github_repository", { github_repository: "" }, "rejected"],
    ["github_repository", { github_repository: "My.repo-name_2" }, "ok"],
    ["github_repository", { github_repository: "acme/web" }, "rejected"],
    ["github_repository", { github_repository: "web app" }, "rejected"],
    ["github_repository", { github_repository: "wéb" }, "rejected"]
  ]
  for (const [field, patch, expected] of boundaries) {
    it(`${field} ${JSON.stringify(patch).slice(0, 70)} -> ${expected}`, () => {
      const result = validateRecord(recordWith(patch))
      if (expected === "ok") {
        expect(result).toMatchObject({ ok: true, adjustments: [] })
      } else {
        expect(result).toMatchObject({ ok: false, field })
      }
    })
  }

  describe("digest must be exactly sha256: + 64 lowercase hex", () => {
    const hex = "0123456789abcdef".repeat(4)
    const cases: ReadonlyArray<readonly [label: string, digest: string, expected: Expectation]> = [
      ["lowercase, 64 hex", `sha256:${hex}`, "ok"],
      ["uppercase hex", `sha256:${hex.toUpperCase()}`, "rejected"],
      ["one uppercase digit", `sha256:${hex.slice(0, 63)}F`, "rejected"],
      ["63 hex (short)", `sha256:${hex.slice(0, 63)}`, "rejected"],
      ["65 hex (long)", `sha256:${hex}0`, "rejected"],
      ["short hex", "sha256:abc123", "rejected"],
      ["non-hex letter", `sha256:${hex.slice(0, 63)}g`, "rejected"],
      ["sha512", `sha512:${hex}${hex}`, "rejected"],
      ["no algorithm", hex, "rejected"],
      ["uppercase algorithm", `SHA256:${hex}`, "rejected"],
      ["trailing newline", `sha256:${hex}\n`, "rejected"],
      ["with repository", `nginx@sha256:${hex}`, "rejected"],
      ["empty", "", "rejected"]
    ]
    for (const [label, digest, expected] of cases) {
      it(`${label} -> ${expected}`, () => {
        const result = validateRecord(recordWith({ digest }))
        if (expected === "ok") expect(result.ok).toBe(true)
        else expect(result).toMatchObject({ ok: false, field: "digest" })
      })
    }
  })

  describe("an over-long version is dropped, not fatal", () => {
    it("101 characters: record kept without version, adjustment noted", () => {
      const result = validateRecord(recordWith({ version: chars(101) }))
      expect(result.ok).toBe(true)
      if (!result.ok) return
      expect("version" in result.record).toBe(false)
      expect(result.record).toEqual(dropVersion(valid))
      expect(result.adjustments).toHaveLength(1)
      expect(result.adjustments[0]).toMatch(/^version dropped: must be at most 100 characters, got 101/)
    })

    it("another violation still rejects even when the version is also too long", () => {
      expect(validateRecord(recordWith({ version: chars(101), name: "" }))).toMatchObject({ ok: false, field: "name" })
    })
  })

  describe("lengths are counted in code points, as JSON Schema counts them", () => {
    it("256 emoji (512 UTF-16 units) fit a 256-character name", () => {
      const name = "🚀".repeat(256)
      expect(name.length).toBe(512)
      expect(validateRecord(recordWith({ name })).ok).toBe(true)
    })

    it("257 emoji do not", () => {
      expect(validateRecord(recordWith({ name: "🚀".repeat(257) }))).toEqual({
        ok: false,
        field: "name",
        reason: "must be at most 256 characters, got 257"
      })
    })

    it("100 accented characters fit the version", () => {
      expect(validateRecord(recordWith({ version: "é".repeat(100) }))).toMatchObject({ ok: true, adjustments: [] })
    })

    const counts: ReadonlyArray<readonly [string, number]> = [
      ["", 0],
      ["abc", 3],
      ["🚀", 1],
      ["a🚀b", 3],
      ["\uD800", 1], // a lone surrogate still counts once
      ["\uDC00\uD800", 2]
    ]
    for (const [value, count] of counts) {
      it(`codePointLength(${JSON.stringify(value)}) = ${count}`, () => {
        expect(codePointLength(value)).toBe(count)
      })
    }
  })

  it("names the field and says why", () => {
    expect(validateRecord(recordWith({ digest: "sha256:abc" }))).toEqual({
      ok: false,
      field: "digest",
      reason: 'must be sha256: followed by 64 lowercase hex digits, got "sha256:abc"'
    })
  })
})

function dropVersion(record: DeploymentRecord): DeploymentRecord {
  const { version: _version, ...rest } = record
  return rest
}

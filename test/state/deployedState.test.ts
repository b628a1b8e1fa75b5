import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { randomBytes, randomUUID } from "node:crypto"
import { gunzipSync } from "node:zlib"
import {
  budgetFor,
  COMPRESSED_PREFIX,
  CONFIGMAP_DATA_LIMIT_BYTES,
  decodeState,
  encodeState,
  type RememberedName,
  stateKey
} from "../../src/state/deployedState.ts"

import { remembered, SCOPE } from "./fixtures.ts"

const sinceOrder = (names: ReadonlyArray<RememberedName>) => names.map((n) => n.record.deployment_name)

describe("deployed state document", () => {
  it("round trip: what is encoded decodes to the same names, status deployed", () => {
    const names = [remembered("cart", "app", 2), remembered("cart", "sidecar", 2), remembered("api", "app", 1)]
    const encoded = encodeState(SCOPE, names, Number.MAX_SAFE_INTEGER)
    expect(encoded.dropped).toBe(0)
    const decoded = Either.getOrThrow(decodeState(SCOPE, encoded.text))
    expect([...decoded].sort((a, b) => a.record.deployment_name.localeCompare(b.record.deployment_name))).toStrictEqual(
      [...names].sort((a, b) => a.record.deployment_name.localeCompare(b.record.deployment_name))
    )
  })

  it("the optional workload name (a key whose workload is not its owner's name) round-trips, and is absent where not given", () => {
    const rs: RememberedName = {
      ...remembered("checkout", "app", 3),
      owner: { kind: "ReplicaSet", apiVersion: "apps/v1", namespace: "shop", name: "checkout-6c8d9f", uid: "uid-rs" },
      workload: "checkout"
    }
    const plain = remembered("cart", "app", 2)
    const decoded = Either.getOrThrow(decodeState(SCOPE, encodeState(SCOPE, [rs, plain], 1e9).text))
    expect(decoded.find((n) => n.owner.name === "checkout-6c8d9f")).toStrictEqual(rs)
    const cart = decoded.find((n) => n.owner.name === "cart")
    expect(cart).toStrictEqual(plain)
    expect(cart).not.toHaveProperty("workload")
  })

  it("a document written before the workload field existed still decodes, each name without a workload", () => {
    // As the previous version stored it: plain JSON, no `workload` key.
    const text = JSON.stringify({
      version: 1,
      ...SCOPE,
      names: [{
        owner: { kind: "Deployment", apiVersion: "apps/v1", namespace: "shop", name: "cart", uid: "uid-cart" },
        since: 7,
        record: {
          name: "ghcr.io/octo-org/cart",
          digest: `sha256:${"ab".repeat(32)}`,
          physical_environment: "eu-west-1",
          deployment_name: "shop/cart/app"
        }
      }]
    })
    const decoded = Either.getOrThrow(decodeState(SCOPE, text))
    expect(decoded).toHaveLength(1)
    expect(decoded[0]).not.toHaveProperty("workload")
    expect(decoded[0]?.owner.name).toBe("cart")
    expect(decoded[0]?.record).toMatchObject({ deployment_name: "shop/cart/app", status: "deployed", cluster: SCOPE.cluster })
  })

  it("a workload field that is not a string is refused as unreadable", () => {
    const document = JSON.parse(
      gunzipSync(Buffer.from(encodeState(SCOPE, [remembered("cart", "app", 1)], 1e9).text.slice(COMPRESSED_PREFIX.length), "base64"))
        .toString("utf8")
    ) as { names: Array<Record<string, unknown>> }
    document.names[0]!["workload"] = 42
    const refused = decodeState(SCOPE, JSON.stringify(document))
    expect(Either.isLeft(refused) && refused.left._tag).toBe("Unreadable")
  })

  it("the same names give the same text whatever their order (an unchanged state needs no write)", () => {
    const names = [remembered("a", "x", 1), remembered("b", "y", 2), remembered("c", "z", 3)]
    expect(encodeState(SCOPE, names, 1e9).text).toBe(encodeState(SCOPE, [...names].reverse(), 1e9).text)
  })

  it("names are stored in code-unit order, whatever the process's locale", () => {
    // localeCompare would put "B-api" between "a" and "b" (and differ by locale).
    const names = [remembered("b-web", "x", 1), remembered("B-api", "y", 2), remembered("a-db", "z", 3), remembered("_tool", "w", 4)]
    const decoded = Either.getOrThrow(decodeState(SCOPE, encodeState(SCOPE, names, 1e9).text))
    expect([...decoded].map((n) => n.record.deployment_name)).toStrictEqual(
      names.map((n) => n.record.deployment_name).sort()
    )
  })

  it("another org, cluster or logical environment's document is refused as foreign", () => {
    const text = encodeState(SCOPE, [remembered("cart", "app", 1)], 1e9).text
    for (const other of [{ ...SCOPE, org: "other" }, { ...SCOPE, cluster: "other" }, { ...SCOPE, logicalEnvironment: "prod" }]) {
      const refused = decodeState(other, text)
      expect(Either.isLeft(refused) && refused.left._tag).toBe("Foreign")
    }
  })

  it("text that is not JSON, or JSON of another shape, is refused as unreadable with the reason", () => {
    for (
      const text of [
        "{not json",
        JSON.stringify({ version: 2, ...SCOPE, names: [] }),
        JSON.stringify({ version: 1, ...SCOPE, names: [{ owner: {}, since: 1, record: {} }] }),
        JSON.stringify([1, 2])
      ]
    ) {
      const refused = decodeState(SCOPE, text)
      expect(Either.isLeft(refused) && refused.left._tag).toBe("Unreadable")
      expect(Either.isLeft(refused) && refused.left.reason.length).toBeGreaterThan(3)
    }
  })

  it("beyond the budget the oldest names are left out, and the text stays within it", () => {
    const names = Array.from({ length: 400 }, (_, i) =>
      remembered(`w${String(i).padStart(3, "0")}`, "app", i, randomUUID(), randomBytes(32).toString("hex")))
    const full = encodeState(SCOPE, names, 1e9)
    const budget = Math.floor(Buffer.byteLength(full.text) / 2)
    const capped = encodeState(SCOPE, names, budget)
    expect(Buffer.byteLength(capped.text)).toBeLessThanOrEqual(budget)
    // About half are left out: the estimate lands within a few percent of the most that fit.
    expect(capped.dropped).toBeGreaterThan(190)
    expect(capped.dropped).toBeLessThan(240)
    const kept = sinceOrder(Either.getOrThrow(decodeState(SCOPE, capped.text)))
    // Exactly the newest: w49 down to the first one that did not fit.
    expect(kept).toStrictEqual(names.slice(capped.dropped).map((n) => n.record.deployment_name))
  })

  it("stored compressed: a name with tags, risks, a random uid and digest costs under 150 bytes, so over 7000 fit in one ConfigMap", () => {
    const names = Array.from({ length: 2000 }, (_, i) =>
      remembered(`service-${i}`, "app", 1_700_000_000_000 + i, randomUUID(), randomBytes(32).toString("hex")))
    const encoded = encodeState(SCOPE, names, 1e9)
    expect(encoded.text.startsWith(COMPRESSED_PREFIX)).toBe(true)
    const perName = Buffer.byteLength(encoded.text) / names.length
    expect(perName).toBeLessThan(150)
    expect(Math.floor(CONFIGMAP_DATA_LIMIT_BYTES / perName)).toBeGreaterThan(7000)
  })

  it("a plain JSON document (uncompressed) is read too; a compressed value that does not inflate is unreadable", () => {
    const names = [remembered("cart", "app", 2)]
    const plain = Buffer.from(encodeState(SCOPE, names, 1e9).text.slice(COMPRESSED_PREFIX.length), "base64")
    expect(Either.getOrThrow(decodeState(SCOPE, gunzipSync(plain).toString("utf8")))).toHaveLength(1)
    const refused = decodeState(SCOPE, `${COMPRESSED_PREFIX}bm90IGd6aXA=`)
    expect(Either.isLeft(refused) && refused.left).toMatchObject({ _tag: "Unreadable" })
  })

  it("the budget leaves room for the other keys of the ConfigMap", () => {
    const key = stateKey(SCOPE)
    const alone = budgetFor(key, {})
    expect(alone).toBeLessThan(CONFIGMAP_DATA_LIMIT_BYTES)
    expect(budgetFor(key, { [key]: "x".repeat(5000), other: "y".repeat(1000) })).toBe(alone - 1000 - "other".length)
  })

  it("keys differ per scope and are valid ConfigMap keys", () => {
    const keys = new Set([SCOPE, { ...SCOPE, org: "x" }, { ...SCOPE, cluster: "a b/c" }].map(stateKey))
    expect(keys.size).toBe(3)
    for (const key of keys) expect(key).toMatch(/^[-._a-zA-Z0-9]+$/)
  })
})

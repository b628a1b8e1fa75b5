import { describe, expect, it } from "@effect/vitest"
import type { Delta } from "../../src/kube/Delta.ts"
import { makeObjectStore } from "../../src/kube/ObjectStore.ts"
import { relistDiff } from "../../src/kube/relistDiff.ts"

interface Obj {
  readonly name: string
  readonly rv: string
}

const obj = (name: string, rv: string): Obj => ({ name, rv })
const byName = (objects: ReadonlyArray<Obj>) => new Map(objects.map((o) => [o.name, o]))
// By the delta's key (the stores here key objects by name): a consumer indexes by it.
const describeDelta = (d: Delta<Obj>) =>
  d._tag === "Synced"
    ? "synced"
    : d._tag === "Upsert"
    ? `upsert ${d.key}@${d.current.rv}${d.previous === undefined ? " (new)" : ` (was @${d.previous.rv})`}`
    : `delete ${d.key}@${d.last.rv}${d.finalStateUnknown ? " (final state unknown)" : ""}`

describe("relistDiff: known objects vs a fresh complete list", () => {
  const rows: ReadonlyArray<readonly [string, ReadonlyArray<Obj>, ReadonlyArray<Obj>, ReadonlyArray<string>]> = [
    ["first list: everything is new", [], [obj("a", "1"), obj("b", "2")], ["upsert a@1 (new)", "upsert b@2 (new)", "synced"]],
    ["an empty list of an empty store is just Synced", [], [], ["synced"]],
    ["nothing changed: no upserts, only Synced", [obj("a", "1")], [obj("a", "1")], ["synced"]],
    ["a changed resourceVersion is an upsert with the previous state", [obj("a", "1")], [obj("a", "5")], [
      "upsert a@5 (was @1)",
      "synced"
    ]],
    ["a vanished object is a delete of its last known state", [obj("a", "1"), obj("b", "2")], [obj("a", "1")], [
      "delete b@2 (final state unknown)",
      "synced"
    ]],
    ["everything vanished", [obj("a", "1"), obj("b", "2")], [], [
      "delete a@1 (final state unknown)",
      "delete b@2 (final state unknown)",
      "synced"
    ]],
    ["upserts come before deletes, Synced last", [obj("a", "1"), obj("b", "2")], [obj("c", "9"), obj("a", "3")], [
      "upsert c@9 (new)",
      "upsert a@3 (was @1)",
      "delete b@2 (final state unknown)",
      "synced"
    ]]
  ]
  for (const [label, known, listed, expected] of rows) {
    it(label, () => {
      expect(relistDiff(byName(known), byName(listed), (o) => o.rv).map(describeDelta)).toEqual(expected)
    })
  }

  it("leaves both maps as they were", () => {
    const known = byName([obj("a", "1"), obj("b", "2")])
    const listed = byName([obj("a", "3")])
    relistDiff(known, listed, (o) => o.rv)
    expect([...known.keys()]).toEqual(["a", "b"])
    expect([...listed.keys()]).toEqual(["a"])
  })
})

describe("ObjectStore", () => {
  const store = () => makeObjectStore<Obj>((o) => o.name, (o) => o.rv)

  it("upsert and remove write the store and return their delta", () => {
    const s = store()
    expect(describeDelta(s.upsert(obj("a", "1")))).toBe("upsert a@1 (new)")
    expect(describeDelta(s.upsert(obj("a", "2")))).toBe("upsert a@2 (was @1)")
    expect(s.get("a")).toEqual(obj("a", "2"))
    expect(describeDelta(s.remove(obj("a", "3")))).toBe("delete a@3")
    expect(s.size()).toBe(0)
  })

  it("replace takes the list as its contents and returns the relist diff", () => {
    const s = store()
    s.upsert(obj("a", "1"))
    s.upsert(obj("b", "2"))
    expect(s.replace(byName([obj("a", "1"), obj("c", "3")])).map(describeDelta)).toEqual([
      "upsert c@3 (new)",
      "delete b@2 (final state unknown)",
      "synced"
    ])
    expect([...s.values()].map((o) => o.name).sort()).toEqual(["a", "c"])
  })
})

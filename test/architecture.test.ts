import { readdirSync, readFileSync, statSync } from "node:fs"
import { dirname, join, relative, resolve } from "node:path"
import { describe, expect, it } from "@effect/vitest"

// The folders of src/ in the order data and dependencies run: each may
// import only from folders of lower layers (and from itself), never from
// its own layer's other folders or above. The README's layout section
// shows the same order.
const LAYERS: ReadonlyArray<ReadonlyArray<string>> = [
  ["support", "record", "version.ts"],
  ["metadata"],
  ["config"],
  ["observability"],
  ["kube", "github"],
  ["workload", "ledger", "bulk"],
  ["events", "state"],
  ["controller"],
  ["leader"],
  ["main.ts"]
]

const SRC = resolve(import.meta.dirname, "../src")

const sources = (dir: string): ReadonlyArray<string> =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? sources(path) : path.endsWith(".ts") ? [path] : []
  })

/** The top folder of a src file (or the file itself at the top). */
const unitOf = (file: string): string => relative(SRC, file).split("/")[0]!

const rankOf = (unit: string): number => LAYERS.findIndex((layer) => layer.includes(unit))

/** Relative imports of a file, resolved to files (`import type` included: a type is a dependency too). */
const importsOf = (file: string): ReadonlyArray<string> =>
  [...readFileSync(file, "utf8").matchAll(/(?:import|export)[^"']*?from\s+["'](\.[^"']+)["']/g)].map((m) => resolve(dirname(file), m[1]!))

const FILES = sources(SRC)

describe("the layering of src/", () => {
  it("every top folder (and top file) has a layer", () => {
    expect([...new Set(FILES.map(unitOf))].filter((unit) => rankOf(unit) === -1)).toEqual([])
  })

  it("imports run one way: down the layers, never across a layer or up", () => {
    const wrong: Array<string> = []
    for (const file of FILES) {
      const from = unitOf(file)
      for (const target of importsOf(file)) {
        const to = unitOf(target)
        if (to !== from && rankOf(to) >= rankOf(from)) wrong.push(`${relative(SRC, file)} -> ${relative(SRC, target)}`)
      }
    }
    expect(wrong).toEqual([])
  })

  it("no module imports itself back through others (no cycle)", () => {
    const graph = new Map(FILES.map((file) => [file, importsOf(file).filter((target) => FILES.includes(target))]))
    const cycles: Array<string> = []
    const state = new Map<string, "visiting" | "done">()
    const visit = (file: string, path: ReadonlyArray<string>) => {
      if (state.get(file) === "done") return
      if (state.get(file) === "visiting") {
        cycles.push([...path.slice(path.indexOf(file)), file].map((f) => relative(SRC, f)).join(" -> "))
        return
      }
      state.set(file, "visiting")
      for (const next of graph.get(file) ?? []) visit(next, [...path, file])
      state.set(file, "done")
    }
    for (const file of FILES) visit(file, [])
    expect(cycles).toEqual([])
  })

  it("the check sees imports (a guard against a silently empty scan)", () => {
    expect(FILES.length).toBeGreaterThan(50)
    expect(importsOf(join(SRC, "main.ts")).length).toBeGreaterThan(5)
  })
})

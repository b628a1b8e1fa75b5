import { readFileSync } from "node:fs"
import { describe, expect, it } from "@effect/vitest"
import { USER_AGENT, VERSION } from "../src/version.ts"

describe("version", () => {
  it("matches package.json and names the product in the User-Agent", () => {
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }
    expect(VERSION).toBe(pkg.version)
    expect(USER_AGENT).toBe(`deployment-tracker/${pkg.version}`)
  })
})

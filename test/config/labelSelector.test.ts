import { describe, expect, it } from "@effect/vitest"
import { labelSelectorProblem } from "../../src/config/labelSelector.ts"

describe("labelSelectorProblem", () => {
  const valid = [
    "tracking=on", "tracking==on", "tracking!=off", "tracking", "!legacy", "env in (prod, staging)", "env notin (dev)",
    "team.example.com/owner=payments", "a=b,c!=d,!e,f in (g),h", "env in (prod,staging), tier=1", "empty="
  ]
  for (const selector of valid) it(`takes ${selector}`, () => expect(labelSelectorProblem(selector)).toBeUndefined())

  const invalid: ReadonlyArray<readonly [string, string]> = [
    ["", "empty"],
    ["env in (prod", "parentheses"],
    ["env in prod)", "parentheses"],
    ["a=b,", "empty requirement"],
    [",a=b", "empty requirement"],
    ["a==b==c", "requirement"],
    ["bad key=1", "requirement"],
    ["env in prod", "requirement"],
    ["-leading=dash", "requirement"],
    ["key=value with space", "requirement"]
  ]
  for (const [selector, problem] of invalid) {
    it(`refuses ${JSON.stringify(selector)}`, () => expect(labelSelectorProblem(selector)).toContain(problem))
  }
})

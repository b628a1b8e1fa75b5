import { describe, expect, it } from "@effect/vitest"
import config from "../vitest.config.ts"

// `npm test` in CI: one line per test file, and the failures with their
// logs. The controller logs at INFO in many tests; printed for passing
// tests, those lines (thousands) bury the one failure worth reading.
describe("the test run's output", () => {
  it("keeps the logs of passing tests out and lists no test one by one", () => {
    const test = (config as { test?: { silent?: unknown; slowTestThreshold?: unknown } }).test
    expect(test?.silent).toBe("passed-only")
    expect(Number(test?.slowTestThreshold)).toBeGreaterThanOrEqual(600_000)
  })
})

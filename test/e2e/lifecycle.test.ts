import { describe, expect, it } from "vitest"
import { apply } from "./support/kube.ts"
import { recordsLand, runningDigests, useScenario } from "./support/scenario.ts"
import { deployment } from "./support/workloads.ts"

// Stopping: SIGTERM (what the kubelet sends) ends the process with status 0,
// after finishing what is queued (SHUTDOWN_TIMEOUT_SECONDS=5 in these tests).

describe("shutdown", () => {
  it("SIGTERM when idle: exit status 0", async () => {
    const s = useScenario("sigterm")
    const tracker = await s.startTracker()

    const started = Date.now()
    const exit = await tracker.stop("SIGTERM", 15_000)
    expect(exit).toEqual({ code: 0, signal: null })
    expect(Date.now() - started).toBeLessThan(10_000)
    expect(tracker.logsWith("Shutting down: watch stopped, draining the work queue")).toHaveLength(1)
    await s.expectNoViolations()
  })

  it("SIGTERM while records are in flight to a slow GitHub: queued work finishes, exit status 0", async () => {
    const s = useScenario("sigtermbusy")
    const ns = await s.namespace("sigtermbusy")
    const tracker = await s.startTracker()

    // Every request takes 500 ms: the pods' records are still being posted when SIGTERM comes.
    await s.github.addFaults({ kind: "latency", latencyMs: 500, route: "create-record" })
    await apply(deployment(ns, "web", {
      replicas: 2,
      initContainers: [{ name: "init", image: "ghcr.io/octo-e2e/init:1" }],
      containers: [{ name: "app", image: "ghcr.io/octo-e2e/app:1" }, { name: "side", image: "ghcr.io/octo-e2e/side:1" }]
    }))
    const expected = await runningDigests(ns, "web", "app=web", { count: 2 })
    const exit = await tracker.stop("SIGTERM", 15_000)
    expect(exit).toEqual({ code: 0, signal: null })

    // Drained before exiting: whatever was queued was posted.
    await recordsLand(s, expected, "deployed", 1_000)
    expect(tracker.logsWith("Shutdown deadline reached with work still queued")).toEqual([])
    await s.expectNoViolations()
  })
})

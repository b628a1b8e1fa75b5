import { describe, expect, it } from "vitest"
import { eventually } from "./support/eventually.ts"
import { apply, kube } from "./support/kube.ts"
import { recordsLand, runningDigests, useScenario } from "./support/scenario.ts"
import { daemonSet, job, statefulSet } from "./support/workloads.ts"

// The other workload kinds the tracker reports: their pods are owned
// directly by the workload, so deployment_name uses the workload's name.

describe("other workloads", () => {
  it("StatefulSet: deployed per container and init container; decommissioned when deleted", async () => {
    const s = useScenario("sts")
    const ns = await s.namespace("sts")
    await s.startTracker()

    await apply(statefulSet(ns, "db", {
      replicas: 2,
      initContainers: [{ name: "init-schema", image: "ghcr.io/octo-e2e/schema:3" }],
      containers: [{ name: "postgres", image: "ghcr.io/octo-e2e/postgres:17.2" }]
    }))
    const expected = await runningDigests(ns, "db", "app=db", { count: 2 })
    expect([...expected.keys()].sort()).toEqual([`${ns}/db/init-schema`, `${ns}/db/postgres`])
    await recordsLand(s, expected, "deployed")

    await kube(["delete", "statefulset", "db", "-n", ns, "--wait=false"])
    await recordsLand(s, expected, "decommissioned")
    await s.expectNoViolations()
  })

  it("DaemonSet: one record per container for the pods on every node; decommissioned when deleted", async () => {
    const s = useScenario("ds")
    const ns = await s.namespace("ds")
    await s.startTracker()

    await apply(daemonSet(ns, "agent", {
      containers: [
        { name: "collector", image: "ghcr.io/octo-e2e/collector:0.9" },
        { name: "exporter", image: "ghcr.io/octo-e2e/exporter:1.4" }
      ]
    }))
    // One pod per kwok node.
    const expected = await runningDigests(ns, "agent", "app=agent", { count: 2 })
    expect([...expected.keys()].sort()).toEqual([`${ns}/agent/collector`, `${ns}/agent/exporter`])
    await recordsLand(s, expected, "deployed")

    await kube(["delete", "daemonset", "agent", "-n", ns, "--wait=false"])
    await recordsLand(s, expected, "decommissioned")
    await s.expectNoViolations()
  })

  it("Job: pods that run to completion are reported", async () => {
    const s = useScenario("job")
    const ns = await s.namespace("job")
    await s.startTracker()

    await apply(job(ns, "migrate", {
      completions: 3,
      parallelism: 3,
      initContainers: [{ name: "wait-db", image: "ghcr.io/octo-e2e/wait:1" }],
      containers: [{ name: "migrate", image: "ghcr.io/octo-e2e/migrate:5.0" }]
    }))
    await eventually("the Job to complete", async () => {
      const status = JSON.parse(await kube(["get", "job", "migrate", "-n", ns, "-o", "json"])) as {
        status?: { succeeded?: number }
      }
      expect(status.status?.succeeded).toBe(3)
    })
    const expected = await runningDigests(ns, "migrate", "job-name=migrate", { count: 3, phase: "Succeeded" })
    expect([...expected.keys()].sort()).toEqual([`${ns}/migrate/migrate`, `${ns}/migrate/wait-db`])
    await recordsLand(s, expected, "deployed")
    await s.expectNoViolations()
  })
})

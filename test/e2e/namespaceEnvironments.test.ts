import { describe, expect, it } from "vitest"
import { eventually } from "./support/eventually.ts"
import { apply, kube } from "./support/kube.ts"
import { runningDigests, type Scenario, useScenario } from "./support/scenario.ts"
import { deployment } from "./support/workloads.ts"

// Namespaces on the real control plane, as the manifest's ServiceAccount
// (which may watch Namespaces): their annotations set the environments,
// -namespace-selector picks them, and an opt-out stops reporting.

const LOGICAL = "deployment-tracker/logical-environment"
const IGNORE = "deployment-tracker/ignore"

/** The simulator's records of a deployment_name: `status logical/physical`, one per environment (GitHub keeps one each). */
const recordsOf = async (s: Scenario, name: string): Promise<ReadonlyArray<string>> =>
  (await s.github.records())
    .filter((r) => r.deployment_name === name)
    .map((r) => `${r.status} ${r.logical_environment}/${r.physical_environment}`)
    .sort()

const landed = (s: Scenario, name: string, expected: ReadonlyArray<string>) =>
  eventually(`records of ${name}: ${expected.join(", ")}`, async () => {
    expect(await recordsOf(s, name)).toEqual([...expected].sort())
  }, { deadlineMs: 60_000 })

const one = (name: string) => ({ containers: [{ name: "app", image: `ghcr.io/octo-e2e/${name}:1.0` }], replicas: 1 })

describe("environments, selection and opt-out by namespace", () => {
  it("a Namespace's annotation sets the environment; changing it decommissions the old environment's record and deploys the new one", async () => {
    const s = useScenario("nsenv")
    const ns = await s.namespace("nsenv")
    await kube(["annotate", "namespace", ns, `${LOGICAL}=staging`])
    await s.startTracker()
    await apply(deployment(ns, "web", one("web")))
    await runningDigests(ns, "web", "app=web", { count: 1 })
    const name = `${ns}/web/app`
    await landed(s, name, ["deployed staging/"])
    await kube(["annotate", "namespace", ns, `${LOGICAL}=production`, "--overwrite"])
    await landed(s, name, ["decommissioned staging/", "deployed production/"])
    await s.expectNoViolations()
  })

  it("-namespace-selector: only labelled namespaces are reported; removing the label decommissions, adding it reports again", async () => {
    const s = useScenario("nssel")
    const tracked = await s.namespace("nssel-on")
    const other = await s.namespace("nssel-off")
    await kube(["label", "namespace", tracked, "e2e-tracking=on"])
    await s.startTracker({ args: ["-namespace-selector", "e2e-tracking=on"] })
    await apply(deployment(tracked, "web", one("web")), deployment(other, "web", one("web")))
    await runningDigests(tracked, "web", "app=web", { count: 1 })
    await runningDigests(other, "web", "app=web", { count: 1 })
    await landed(s, `${tracked}/web/app`, [`deployed ${s.logicalEnvironment}/`])
    expect(await recordsOf(s, `${other}/web/app`)).toEqual([])
    await kube(["label", "namespace", tracked, "e2e-tracking-"])
    await landed(s, `${tracked}/web/app`, [`decommissioned ${s.logicalEnvironment}/`])
    await kube(["label", "namespace", other, "e2e-tracking=on"])
    await landed(s, `${other}/web/app`, [`deployed ${s.logicalEnvironment}/`])
    await s.expectNoViolations()
  })

  it("deployment-tracker/ignore=true on a workload: decommissioned and no longer reported; removed: reported again", async () => {
    const s = useScenario("nsopt")
    const ns = await s.namespace("nsopt")
    await s.startTracker()
    await apply(deployment(ns, "web", one("web")))
    await runningDigests(ns, "web", "app=web", { count: 1 })
    const name = `${ns}/web/app`
    await landed(s, name, [`deployed ${s.logicalEnvironment}/`])
    await kube(["annotate", "deployment", "web", "-n", ns, `${IGNORE}=true`])
    await landed(s, name, [`decommissioned ${s.logicalEnvironment}/`])
    await kube(["annotate", "deployment", "web", "-n", ns, `${IGNORE}-`])
    await landed(s, name, [`deployed ${s.logicalEnvironment}/`])
    await s.expectNoViolations()
  })
})

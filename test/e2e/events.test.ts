import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type GitHubSimulator, startGitHubSimulator } from "../../scripts/github-sim/simulator.ts"
import { GITHUB_TOKEN } from "./support/constants.ts"
import { eventually } from "./support/eventually.ts"
import { apply, digestAnnotation, fakeDigest, kube, type KubeObject } from "./support/kube.ts"
import { recordsLand, runningDigests, useScenario } from "./support/scenario.ts"
import { deployment } from "./support/workloads.ts"

// Kubernetes Events (events.k8s.io/v1) on the workload objects, as an
// operator sees them: `kubectl describe deployment`. The tracker runs as
// the manifest's ServiceAccount, so its ClusterRole's events rule is what
// lets it write them.

/** The one digest this file's own simulator has no attestation for. */
const UNATTESTED = fakeDigest("events/unattested")
const HINT = "add the metadata.github.com/github-repository annotation to record images without attestations"

let sim: GitHubSimulator

beforeAll(async () => {
  sim = await startGitHubSimulator({ tokens: [GITHUB_TOKEN], unattestedDigests: [UNATTESTED] })
})

afterAll(async () => {
  await sim?.close()
})

interface EventJson {
  readonly metadata: { readonly name: string }
  readonly reason: string
  readonly type: string
  readonly note: string
  readonly reportingController: string
  readonly regarding: { readonly kind: string; readonly name: string; readonly uid?: string }
  readonly series?: { readonly count: number; readonly lastObservedTime: string }
}

/** The tracker's Events in a namespace (read as the admin). */
const trackerEvents = async (namespace: string): Promise<ReadonlyArray<EventJson>> => {
  const list = JSON.parse(await kube(["get", "events.events.k8s.io", "-n", namespace, "-o", "json"])) as { items: Array<EventJson> }
  return list.items.filter((e) => e.reportingController === "deployment-tracker")
}

const uidOf = async (namespace: string, kind: string, name: string): Promise<string> =>
  (await kube(["get", kind, name, "-n", namespace, "-o", "jsonpath={.metadata.uid}"])).trim()

describe("Kubernetes Events", () => {
  it("kubectl describe shows Deployed with the deployment name and digest, and UnknownArtifact with the github-repository hint", async () => {
    const s = useScenario("events")
    const ns = await s.namespace("events")
    await s.startTracker({ githubUrl: sim.url, args: ["-namespace", ns] })
    const appDigest = fakeDigest(`${ns}/app`)

    await apply(deployment(ns, "web", {
      containers: [
        { name: "app", image: "ghcr.io/octo-e2e/web:1.0", digest: appDigest },
        { name: "sidecar", image: "ghcr.io/octo-e2e/unsigned-sidecar:1.0", digest: UNATTESTED }
      ]
    }))
    await runningDigests(ns, "web", "app=web", { count: 1 })
    await eventually("the app's record at GitHub", async () => {
      const records = sim.records().filter((r) => r.org === s.org && r.deployment_name === `${ns}/web/app`)
      expect(records.map((r) => [r.status, r.digest])).toEqual([["deployed", appDigest]])
    })

    const described = await eventually("both Events in kubectl describe", async () => {
      const text = await kube(["describe", "deployment", "web", "-n", ns])
      expect(text).toMatch(new RegExp(`Normal\\s+Deployed\\s+.*deployment-tracker\\s+Reported "${ns}/web/app" to GitHub as deployed, digest ${appDigest}`))
      expect(text).toMatch(new RegExp(`Warning\\s+UnknownArtifact\\s+.*deployment-tracker\\s+GitHub has no artifact for digest ${UNATTESTED} of "${ns}/web/sidecar"`))
      return text
    }, { deadlineMs: 60_000 })
    expect(described).toContain(HINT)

    // Regarding the Deployment itself (kind, name and uid: what describe selects by).
    const uid = await uidOf(ns, "deployment", "web")
    const events = await trackerEvents(ns)
    expect(events.map((e) => [e.reason, e.type, e.regarding.kind, e.regarding.name, e.regarding.uid]).sort()).toEqual([
      ["Deployed", "Normal", "Deployment", "web", uid],
      ["UnknownArtifact", "Warning", "Deployment", "web", uid]
    ])
  })

  it("1,000 identical outcomes are one Event whose series counts them all, in 2 API writes (the create and one series update)", async () => {
    const s = useScenario("burst")
    const ns = await s.namespace("burst")
    // A deployment_name one character over the API's 256: every build of the
    // record is refused by validation (the same outcome each time), and
    // -resync-period=10ms rebuilds it about a hundred times a second.
    const name = "w".repeat(257 - `${ns}//app`.length)
    const long: KubeObject = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name, namespace: ns },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: "burst" } },
        template: {
          metadata: { labels: { app: "burst" }, annotations: { [digestAnnotation("app")]: fakeDigest(`${ns}/burst`) } },
          spec: { containers: [{ name: "app", image: "ghcr.io/octo-e2e/burst:1.0" }], terminationGracePeriodSeconds: 0 }
        }
      }
    }
    const tracker = await s.startTracker({ args: ["-namespace", ns, "-resync-period=10ms"], env: { LOG_LEVEL: "INFO" } })
    await apply(long)
    await runningDigests(ns, name, "app=burst", { count: 1 })

    await eventually("1,000 outcomes reported", async () => {
      expect(await tracker.metric("deployment_tracker_kube_event_outcomes_total", { reason: "Refused" })).toBeGreaterThanOrEqual(1000)
    }, { deadlineMs: 120_000, intervalMs: 500 })
    // While the burst goes on: one Event, created once, nothing else written yet (series updates wait 5 minutes).
    expect(await tracker.metric("deployment_tracker_kube_events_total")).toBe(1)
    expect(await tracker.metric("deployment_tracker_kube_events_total", { result: "created" })).toBe(1)
    expect(await trackerEvents(ns)).toHaveLength(1)

    // The stop flushes the pending series update: the second and last write.
    expect(await tracker.stop("SIGTERM")).toEqual({ code: 0, signal: null })
    const [stopped] = tracker.logsWith("Kubernetes events stopped")
    expect(stopped?.annotations).toMatchObject({ events_created: 1, api_writes: 2, not_written: 0 })
    const outcomes = Number(stopped?.annotations["outcomes"])
    expect(outcomes).toBeGreaterThanOrEqual(1000)

    const events = await trackerEvents(ns)
    expect(events).toHaveLength(1)
    const [event] = events
    expect(event!.reason).toBe("Refused")
    expect(event!.note).toContain("breaks the API's constraints and is not sent: deployment_name must be at most 256 characters, got 257")
    expect(event!.regarding.uid).toBe(await uidOf(ns, "deployment", name))
    expect(event!.series?.count).toBe(outcomes)
    expect(await kube(["describe", "deployment", name, "-n", ns])).toMatch(/Warning\s+Refused\s/)
  })

  it("-kube-events=false: records land, no Event is written", async () => {
    const s = useScenario("noevents")
    const ns = await s.namespace("noevents")
    const tracker = await s.startTracker({ args: ["-namespace", ns, "-kube-events=false"] })
    await apply(deployment(ns, "web", { containers: [{ name: "app", image: "ghcr.io/octo-e2e/web:2.0" }] }))
    await recordsLand(s, await runningDigests(ns, "web", "app=web", { count: 1 }), "deployed")
    expect(tracker.logsWith("Kubernetes events are off (-kube-events=false)")).toHaveLength(1)
    // After the stop nothing can still be on its way.
    expect(await tracker.stop("SIGTERM")).toEqual({ code: 0, signal: null })
    expect(tracker.logsWith("Kubernetes events stopped")).toEqual([])
    expect(await trackerEvents(ns)).toEqual([])
    await s.expectNoViolations()
  })
})

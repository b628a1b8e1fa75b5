import { afterAll, beforeAll, describe, expect, inject, it, onTestFinished } from "vitest"
import { TRACKER_NAMESPACE, TRACKER_SERVICE_ACCOUNT } from "./support/constants.ts"
import { eventually } from "./support/eventually.ts"
import { GitHubSimulatorClient, type RequestEntry } from "./support/github.ts"
import { apply, fakeDigest, kube } from "./support/kube.ts"
import { recordsLand, runningDigests, type Scenario, useScenario } from "./support/scenario.ts"
import type { TrackerProcess } from "./support/tracker.ts"
import { deployment } from "./support/workloads.ts"

// Two trackers with -leader-elect on one Lease: only the holder watches and
// posts; when it dies the standby takes over within the lease duration and
// catches up; the two never post at the same time.
//
// The trackers are told apart at the simulator by their org: tracker A posts
// under the scenario's org, tracker B under `<org>-b` (the simulator's
// request log keeps only the scheme of Authorization, so distinct tokens
// would not show who sent what).

const LEASE_DURATION_MS = 6_000
const RETRY_PERIOD_MS = 1_000
/** client-go's acquire wait: the retry period plus up to 1.2 × it. */
const MAX_ACQUIRE_WAIT_MS = RETRY_PERIOD_MS * 2.2
/** API round trips, process scheduling and our 200 ms polling on a loaded 2-core machine. */
const LATENCY_MARGIN_MS = 1_600

const electionArgs = (lease: string) => [
  "-leader-elect",
  "-leader-elect-resource-name",
  lease,
  "-leader-elect-lease-duration",
  `${LEASE_DURATION_MS / 1000}s`,
  "-leader-elect-renew-deadline",
  "4s",
  "-leader-elect-retry-period",
  `${RETRY_PERIOD_MS / 1000}s`
]

/**
 * What leader election needs beyond the manifest's ClusterRole: Leases in the
 * Lease's namespace (get, create, update). Granted here for this file only.
 */
const LEASE_ROLE = "deployment-tracker-leader-election"
const leaseRbac = [
  {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "Role",
    metadata: { name: LEASE_ROLE, namespace: TRACKER_NAMESPACE },
    rules: [{ apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "create", "update"] }]
  },
  {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: { name: LEASE_ROLE, namespace: TRACKER_NAMESPACE },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: LEASE_ROLE },
    subjects: [{ kind: "ServiceAccount", name: TRACKER_SERVICE_ACCOUNT, namespace: TRACKER_NAMESPACE }]
  }
]

beforeAll(async () => {
  await apply(...leaseRbac)
})
afterAll(async () => {
  await kube(["delete", "-n", TRACKER_NAMESPACE, `role/${LEASE_ROLE}`, `rolebinding/${LEASE_ROLE}`, "--ignore-not-found"])
})

interface LeaseSpec {
  readonly holderIdentity?: string
  readonly leaseDurationSeconds?: number
  readonly acquireTime?: string
  readonly renewTime?: string
  readonly leaseTransitions?: number
}

const readLease = async (name: string): Promise<LeaseSpec> =>
  (JSON.parse(await kube(["get", "lease", name, "-n", TRACKER_NAMESPACE, "-o", "json"])) as { spec: LeaseSpec }).spec

/** The gauge's sample for this identity, as /metrics shows it (undefined when absent). */
const leaderGauge = async (tracker: TrackerProcess, identity: string): Promise<number | undefined> => {
  const text = await (await fetch(`http://127.0.0.1:${tracker.metricsPort}/metrics`)).text()
  const line = text.split("\n").find((l) => l.startsWith(`deployment_tracker_leader{identity="${identity}"} `))
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1))
}

const leads = (tracker: TrackerProcess, identity: string) => async () => {
  expect(await leaderGauge(tracker, identity)).toBe(1)
}

/**
 * A test's Lease: deleted when the test ends, after its trackers have
 * stopped (a tracker still running would fight a deleted Lease).
 */
const useLease = (s: Scenario) => {
  const name = `dt-e2e-${s.id}`
  const trackers: Array<TrackerProcess> = []
  onTestFinished(async () => {
    await Promise.all(trackers.map((t) => t.stop("SIGTERM").catch(() => undefined)))
    await kube(["delete", "lease", name, "-n", TRACKER_NAMESPACE, "--ignore-not-found"])
  })
  return {
    name,
    /** One leader-elected tracker posting under `org` (the scenario's org when not given). */
    start: async (identity: string, org?: string) => {
      const tracker = await s.startTracker({
        args: electionArgs(name),
        env: { POD_NAME: identity, ...(org === undefined ? {} : { GITHUB_ORG: org }) }
      })
      trackers.push(tracker)
      return tracker
    }
  }
}

const app = (ns: string, name: string, id: string) =>
  deployment(ns, name, { containers: [{ name: "app", image: `ghcr.io/octo-e2e/${name}:1.0`, digest: fakeDigest(`${id}/${name}`) }] })

const seqs = (requests: ReadonlyArray<RequestEntry>) => requests.map((r) => r.seq)

describe("leader election", () => {
  it("one leader posts; after a SIGKILL the standby takes over within the lease duration and posts what changed meanwhile; never both", async () => {
    const s = useScenario("leader")
    const ns = await s.namespace("leader")
    const lease = useLease(s)
    const orgB = `${s.org}-b`
    const githubB = new GitHubSimulatorClient(inject("githubOrigin"), orgB)

    const a = await lease.start("tracker-a")
    await eventually("tracker-a leads", leads(a, "tracker-a"))
    // A standby is ready (startTracker waited for /readyz) and shows its role.
    const b = await lease.start("tracker-b", orgB)
    expect(await leaderGauge(b, "tracker-b")).toBe(0)

    await apply(app(ns, "before", s.id))
    const before = await runningDigests(ns, "before", "app=before")
    await recordsLand(s, before, "deployed")
    expect(await githubB.requests()).toEqual([])
    expect(await leaderGauge(b, "tracker-b")).toBe(0)
    const held = await readLease(lease.name)
    expect(held.holderIdentity).toBe("tracker-a")

    await a.stop("SIGKILL")
    const killedAt = Date.now()
    // Read right after the kill: nobody renews any more, so this is A's last renewal.
    const lastRenewal = Date.parse((await readLease(lease.name)).renewTime ?? "")
    // A change while nobody leads.
    await apply(app(ns, "meanwhile", s.id))

    await eventually("tracker-b leads", leads(b, "tracker-b"), { deadlineMs: 30_000, intervalMs: 100 })
    const tookOverAfterMs = Date.now() - killedAt
    // B saw A's last renewal within one acquire wait of it (and so of the
    // kill), waited a lease duration from then, and tried again within one
    // more acquire wait.
    expect(tookOverAfterMs).toBeLessThanOrEqual(LEASE_DURATION_MS + 2 * MAX_ACQUIRE_WAIT_MS + LATENCY_MARGIN_MS)
    const taken = await readLease(lease.name)
    expect(taken.holderIdentity).toBe("tracker-b")
    expect(taken.leaseTransitions).toBe((held.leaseTransitions ?? 0) + 1)
    // Never before a full lease duration after A's last renewal (B's own observation came later still).
    expect(Date.parse(taken.acquireTime ?? "") - lastRenewal).toBeGreaterThanOrEqual(LEASE_DURATION_MS)

    // The new leader posts everything running, including what changed while nobody led.
    const meanwhile = await runningDigests(ns, "meanwhile", "app=meanwhile")
    await recordsLand({ ...s, github: githubB }, new Map([...before, ...meanwhile]), "deployed")

    // Never both: every request of A came before the first of B, and B posted only once it held the lease.
    const fromA = await s.github.requests()
    const fromB = await githubB.requests()
    expect(fromA.length).toBeGreaterThan(0)
    expect(fromB.length).toBeGreaterThan(0)
    expect(Math.max(...seqs(fromA))).toBeLessThan(Math.min(...seqs(fromB)))
    expect(Math.min(...fromB.map((r) => Date.parse(r.time)))).toBeGreaterThanOrEqual(Date.parse(taken.acquireTime ?? "") - 1)
    await s.expectNoViolations()
    expect(await githubB.violations()).toEqual([])
  })

  it("SIGTERM: the leader finishes, releases the Lease and exits 0; the standby takes over well before the lease would expire", async () => {
    const s = useScenario("release")
    const ns = await s.namespace("release")
    const lease = useLease(s)
    const orgB = `${s.org}-b`
    const githubB = new GitHubSimulatorClient(inject("githubOrigin"), orgB)

    const a = await lease.start("tracker-a")
    await eventually("tracker-a leads", leads(a, "tracker-a"))
    const b = await lease.start("tracker-b", orgB)
    const held = await readLease(lease.name)

    const exit = await a.stop("SIGTERM")
    const exitedAt = Date.now()
    expect(exit).toEqual({ code: 0, signal: null })
    expect(a.logsWith("Released the lease")).toHaveLength(1)
    await eventually("tracker-b leads", leads(b, "tracker-b"), { deadlineMs: 30_000, intervalMs: 100 })
    // A free lease is taken at the next attempt: no waiting for expiry.
    expect(Date.now() - exitedAt).toBeLessThanOrEqual(MAX_ACQUIRE_WAIT_MS + LATENCY_MARGIN_MS)
    expect(Date.now() - exitedAt).toBeLessThan(LEASE_DURATION_MS)
    const taken = await readLease(lease.name)
    expect(taken.holderIdentity).toBe("tracker-b")
    expect(taken.leaseTransitions).toBe((held.leaseTransitions ?? 0) + 1)

    await apply(app(ns, "after", s.id))
    await recordsLand({ ...s, github: githubB }, await runningDigests(ns, "after", "app=after"), "deployed")
    expect(await githubB.violations()).toEqual([])
  })
})

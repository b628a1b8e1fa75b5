import { describe, expect, it } from "@effect/vitest"
import { type PodUnderWorkload, viewWorkload } from "../../src/controller/desiredState.ts"
import { type DesiredRecord, planChanges, presenceNeeded, type ReportedRecord } from "../../src/controller/planChanges.ts"
import type { PodPhase, SlimPod } from "../../src/kube/SlimPod.ts"
import type { DeploymentRecord } from "../../src/record/DeploymentRecord.ts"
import { type Anchor, makeAttribution } from "../../src/workload/Attribution.ts"
import type { WorkloadOwner } from "../../src/kube/ObjectIdentity.ts"
import { recordIdentity } from "../../src/record/recordIdentity.ts"
import { testRecord } from "../support/testRecord.ts"

// The pure rules of the reconcile loop, shape by shape: which record a
// workload's pods call for (viewWorkload), and what must be sent given what
// GitHub was last told (planChanges). Each row is one situation an operator
// creates; the expected changes are what the loop must send for it.

const digest = (c: string) => `sha256:${c.repeat(64)}`

const anchor = (kind: string, name: string, options: { uid?: string; watched?: boolean; apiVersion?: string } = {}): Anchor => ({
  kind,
  apiVersion: options.apiVersion ?? "apps/v1",
  namespace: "ns",
  name,
  uid: options.uid ?? `uid-${name}`,
  watched: options.watched ?? true
})

const DEPLOYMENT = anchor("Deployment", "web")

interface PodSpec {
  readonly name: string
  readonly phase?: PodPhase
  readonly terminating?: boolean
  readonly createdAt?: number
  /** One char per container: the digest's repeated hex char; "" for no digest yet. */
  readonly digests?: ReadonlyArray<string>
  readonly anchor?: Anchor
  readonly jobOwned?: boolean
}

const CONTAINER_NAMES = ["app", "sidecar"]

const pod = (spec: PodSpec): PodUnderWorkload => {
  const workloadAnchor = spec.anchor ?? DEPLOYMENT
  const slim: SlimPod = {
    namespace: "ns",
    name: spec.name,
    uid: `uid-${spec.name}`,
    resourceVersion: "1",
    phase: spec.phase ?? "Running",
    terminating: spec.terminating ?? false,
    createdAt: spec.createdAt ?? 1,
    ownerReferences: spec.jobOwned === true
      ? [{ apiVersion: "batch/v1", kind: "Job", name: "job", uid: "uid-job", controller: true }]
      : [],
    templateHash: undefined,
    annotations: undefined,
    containers: (spec.digests ?? ["a"]).map((c, index) => ({
      name: CONTAINER_NAMES[index]!,
      image: `ghcr.io/octo/${CONTAINER_NAMES[index]}:1`,
      imageID: c === "" ? undefined : `ghcr.io/octo/${CONTAINER_NAMES[index]}@${digest(c)}`
    })),
    initContainers: []
  }
  return { pod: slim, attribution: makeAttribution(workloadAnchor.name, workloadAnchor, []) }
}

const ownerOf = (a: Anchor): WorkloadOwner => ({ kind: a.kind, apiVersion: a.apiVersion, namespace: a.namespace, name: a.name, uid: a.uid })

const recordOf = (name: string, digestHex: string): DeploymentRecord =>
  testRecord({ deployment_name: name, digest: digest(digestHex), status: "deployed" })

/** The desired records as the Reconciler builds them, with a stand-in record builder. */
const desiredOf = (pods: ReadonlyArray<PodUnderWorkload>) => {
  const view = viewWorkload(pods, (container) => `ns/web/${container}`)
  const desired = new Map<string, DesiredRecord>()
  for (const [name, chosen] of view.chosen) {
    const hex = chosen.container.imageID!.slice(-1)
    const record = recordOf(name, hex)
    desired.set(recordIdentity(record), { record, owner: ownerOf(chosen.attribution.anchor), standing: chosen.standing })
  }
  return { view, desired }
}

interface Row {
  readonly shape: string
  readonly pods: ReadonlyArray<PodSpec>
  /** What GitHub was told: deployment_name -> digest char (owner: the Deployment unless given). */
  readonly reported?: Readonly<Record<string, string>>
  readonly reportedOwner?: Anchor
  /** Whether the workload object exists and is not being deleted. */
  readonly present: boolean
  /** `deploy <name> <digest char>`, `decommission <name> <digest char>`, `adopt <name>`. */
  readonly changes: ReadonlyArray<string>
  /** Whether the plan had to ask for the workload's presence. */
  readonly asks?: boolean
}

const describeChanges = (rows: ReturnType<typeof planChanges>) =>
  rows.map((change) => {
    switch (change._tag) {
      case "Deploy":
        return `deploy ${change.record.deployment_name} ${change.record.digest.slice(-1)}`
      case "Decommission":
        return `decommission ${change.record.deployment_name} ${change.record.digest.slice(-1)}`
      case "Adopt":
        return `adopt ${change.identity.split("\n")[2]}`
    }
  })

const run = (row: Row) => {
  const { desired, view } = desiredOf(row.pods.map(pod))
  const reported = new Map<string, ReportedRecord>(
    Object.entries(row.reported ?? {}).map(([name, hex]) => [recordIdentity(recordOf(name, hex)), { record: recordOf(name, hex), owner: ownerOf(row.reportedOwner ?? DEPLOYMENT) }])
  )
  const state = { desired, reported, live: view.live }
  return { asks: presenceNeeded(state), changes: describeChanges(planChanges(state, row.present)) }
}

const A = "ns/web/app"
const S = "ns/web/sidecar"
const OLD_DEPLOYMENT = anchor("Deployment", "web", { uid: "uid-old" })
const ROLLOUT = anchor("Rollout", "web", { apiVersion: "argoproj.io/v1alpha1", watched: false })
const REPLICA_SET_FALLBACK = anchor("ReplicaSet", "web-5f6d7c8b9", { watched: false })
const KRUISE = anchor("StatefulSet", "web", { apiVersion: "apps.kruise.io/v1beta1", watched: false })
const BARE = anchor("ReplicaSet", "web", { watched: false })

const ROWS: ReadonlyArray<Row> = [
  // Start and steady state.
  { shape: "a new workload's first pod runs", pods: [{ name: "p1" }], present: true, changes: [`deploy ${A} a`] },
  { shape: "every container (and its own name) is reported", pods: [{ name: "p1", digests: ["a", "b"] }], present: true, changes: [`deploy ${A} a`, `deploy ${S} b`] },
  { shape: "already reported: nothing to send", pods: [{ name: "p1" }, { name: "p2" }], reported: { [A]: "a" }, present: true, changes: [] },
  { shape: "a container without a digest yet is not reported", pods: [{ name: "p1", digests: ["a", ""] }], present: true, changes: [`deploy ${A} a`] },
  { shape: "a pending pod reports nothing", pods: [{ name: "p1", phase: "Pending", digests: [""] }], present: true, changes: [] },
  // Rollout.
  {
    shape: "rollout: the newest Running pod's digest, while old pods still run",
    pods: [{ name: "old", createdAt: 1, digests: ["a"] }, { name: "new", createdAt: 2, digests: ["b"] }],
    reported: { [A]: "a" },
    present: true,
    changes: [`deploy ${A} b`]
  },
  {
    shape: "rollout: an old pod being deleted never chooses the digest",
    pods: [{ name: "old", createdAt: 5, terminating: true, digests: ["a"] }, { name: "new", createdAt: 2, digests: ["b"] }],
    reported: { [A]: "b" },
    present: true,
    changes: []
  },
  {
    shape: "rollout: the same pod age on two pods is settled by name, whatever the order",
    pods: [{ name: "p-b", createdAt: 2, digests: ["b"] }, { name: "p-a", createdAt: 2, digests: ["a"] }],
    present: true,
    changes: [`deploy ${A} b`]
  },
  // Scale to zero and back.
  { shape: "scaled to zero: the object exists, nothing is sent", pods: [], reported: { [A]: "a" }, present: true, changes: [], asks: true },
  {
    shape: "scaling down: terminating pods, the object exists",
    pods: [{ name: "p1", terminating: true }],
    reported: { [A]: "a" },
    present: true,
    changes: [],
    asks: true
  },
  { shape: "scaled back up with the same image: nothing to send", pods: [{ name: "p9", createdAt: 9 }], reported: { [A]: "a" }, present: true, changes: [] },
  // Deletion: background, foreground, orphan.
  {
    shape: "background deletion: the object is gone, pods not yet terminating still run: nothing yet",
    pods: [{ name: "p1" }],
    reported: { [A]: "a" },
    present: false,
    changes: []
  },
  {
    shape: "background/foreground deletion: object gone or being deleted, pods terminating: decommissioned",
    pods: [{ name: "p1", terminating: true }, { name: "p2", terminating: true }],
    reported: { [A]: "a" },
    present: false,
    changes: [`decommission ${A} a`],
    asks: true
  },
  { shape: "deletion: the last pod gone, the object gone: decommissioned", pods: [], reported: { [A]: "a", [S]: "b" }, present: false, changes: [`decommission ${A} a`, `decommission ${S} b`], asks: true },
  {
    shape: "orphan deletion: the object gone, its orphaned pods still run: nothing",
    pods: [{ name: "p1" }, { name: "p2" }],
    reported: { [A]: "a" },
    present: false,
    changes: []
  },
  {
    shape: "orphan deletion, then the orphans deleted: decommissioned",
    pods: [{ name: "p1", terminating: true }],
    reported: { [A]: "a" },
    present: false,
    changes: [`decommission ${A} a`],
    asks: true
  },
  {
    shape: "orphan deletion and re-apply: adopted pods, same image: nothing",
    pods: [{ name: "p1" }],
    reported: { [A]: "a" },
    reportedOwner: OLD_DEPLOYMENT,
    present: true,
    changes: [`adopt ${A}`]
  },
  {
    shape: "a pending pod of a deleted workload still counts as running (it will start): nothing",
    pods: [{ name: "p1", phase: "Pending", digests: [""] }],
    reported: { [A]: "a" },
    present: false,
    changes: []
  },
  // Delete and recreate under the same name.
  {
    shape: "recreated, new pods up before the old ones went: the new digest, no decommission",
    pods: [{ name: "old", terminating: true, digests: ["a"] }, { name: "new", createdAt: 9, digests: ["b"], anchor: DEPLOYMENT }],
    reported: { [A]: "a" },
    reportedOwner: OLD_DEPLOYMENT,
    present: true,
    changes: [`deploy ${A} b`]
  },
  {
    shape: "recreated, the new object seen before its pods: nothing until they run",
    pods: [{ name: "old", terminating: true, digests: ["a"] }],
    reported: { [A]: "a" },
    reportedOwner: OLD_DEPLOYMENT,
    present: true,
    changes: [],
    asks: true
  },
  {
    shape: "recreated after the old one was decommissioned: deployed with the new digest",
    pods: [{ name: "new", digests: ["b"] }],
    present: true,
    changes: [`deploy ${A} b`]
  },
  // Jobs and CronJobs.
  {
    shape: "a Job pod that finished before it was seen Running: reported while the Job exists",
    pods: [{ name: "j1", phase: "Succeeded", jobOwned: true, anchor: anchor("Job", "web", { apiVersion: "batch/v1" }) }],
    present: true,
    changes: [`deploy ${A} a`],
    asks: true
  },
  {
    shape: "a finished Job pod whose Job is gone runs nothing: decommissioned, not deployed",
    pods: [{ name: "j1", phase: "Succeeded", jobOwned: true, anchor: anchor("Job", "web", { apiVersion: "batch/v1" }) }],
    reported: { [A]: "a" },
    present: false,
    changes: [`decommission ${A} a`],
    asks: true
  },
  {
    shape: "a Running pod beats a newer finished Job pod",
    pods: [
      { name: "run", createdAt: 1, digests: ["a"], anchor: anchor("CronJob", "web", { apiVersion: "batch/v1" }), jobOwned: true },
      { name: "done", createdAt: 9, phase: "Succeeded", digests: ["b"], anchor: anchor("CronJob", "web", { apiVersion: "batch/v1" }), jobOwned: true }
    ],
    present: true,
    changes: [`deploy ${A} a`]
  },
  {
    shape: "a CronJob between runs (its Jobs gone, the CronJob there): nothing",
    pods: [],
    reported: { [A]: "a" },
    reportedOwner: anchor("CronJob", "web", { apiVersion: "batch/v1" }),
    present: true,
    changes: [],
    asks: true
  },
  {
    shape: "a failed pod that is not a Job's reports nothing and does not run",
    pods: [{ name: "p1", phase: "Failed" }],
    reported: { [A]: "a" },
    present: false,
    changes: [`decommission ${A} a`],
    asks: true
  },
  // Owners that are not watched.
  { shape: "Argo Rollout pods: reported under the Rollout", pods: [{ name: "r1", anchor: ROLLOUT }], present: true, changes: [`deploy ${A} a`] },
  { shape: "Argo Rollout deleted, pods gone: decommissioned", pods: [], reported: { [A]: "a" }, reportedOwner: ROLLOUT, present: false, changes: [`decommission ${A} a`], asks: true },
  {
    shape: "unreadable custom owner: named after the ReplicaSet, kept while the ReplicaSet exists",
    pods: [],
    reported: { [A]: "a" },
    reportedOwner: REPLICA_SET_FALLBACK,
    present: true,
    changes: [],
    asks: true
  },
  { shape: "OpenKruise StatefulSet pods: reported", pods: [{ name: "web-0", anchor: KRUISE }], present: true, changes: [`deploy ${A} a`] },
  { shape: "OpenKruise StatefulSet gone (cannot be read: counts as gone), pods gone", pods: [], reported: { [A]: "a" }, reportedOwner: KRUISE, present: false, changes: [`decommission ${A} a`], asks: true },
  { shape: "bare ReplicaSet scaled to zero: kept", pods: [], reported: { [A]: "a" }, reportedOwner: BARE, present: true, changes: [], asks: true },
  // After a restart.
  {
    shape: "deleted while no tracker ran: remembered names, no pods, no object: decommissioned",
    pods: [],
    reported: { [A]: "a", [S]: "b" },
    present: false,
    changes: [`decommission ${A} a`, `decommission ${S} b`],
    asks: true
  },
  {
    shape: "rolled out while no tracker ran: the remembered digest replaced",
    pods: [{ name: "p1", digests: ["c", "b"] }],
    reported: { [A]: "a", [S]: "b" },
    present: true,
    changes: [`deploy ${A} c`]
  },
  {
    shape: "a container removed from the template: its name stays while the workload runs",
    pods: [{ name: "p1", digests: ["a"] }],
    reported: { [A]: "a", [S]: "b" },
    present: true,
    changes: []
  }
]

describe("the reconcile rules, shape by shape", () => {
  for (const row of ROWS) {
    it(row.shape, () => {
      const { asks, changes } = run(row)
      expect(changes).toEqual(row.changes)
      expect(asks).toBe(row.asks ?? false)
    })
  }

  it("a record that differs only in its annotations (tags) is sent again", () => {
    const { desired, view } = desiredOf([pod({ name: "p1" })])
    const reported = new Map<string, ReportedRecord>([[recordIdentity(recordOf(A, "a")), {
      record: { ...recordOf(A, "a"), tags: { team: "old" } },
      owner: ownerOf(DEPLOYMENT)
    }]])
    expect(describeChanges(planChanges({ desired, reported, live: view.live }, true))).toEqual([`deploy ${A} a`])
  })

  it("a view says whether any pod still runs (neither deleted nor finished)", () => {
    expect(viewWorkload([pod({ name: "a", terminating: true })], (c) => c).live).toBe(false)
    expect(viewWorkload([pod({ name: "a", phase: "Succeeded", jobOwned: true })], (c) => c).live).toBe(false)
    expect(viewWorkload([pod({ name: "a", phase: "Pending" })], (c) => c).live).toBe(true)
    expect(viewWorkload([], (c) => c).live).toBe(false)
  })

  it("a template without {{containerName}} puts every container under one name: the first container of the chosen pod", () => {
    const view = viewWorkload([pod({ name: "p1", digests: ["a", "b"] })], () => "ns/web")
    expect([...view.chosen].map(([name, chosen]) => [name, chosen.container.name])).toEqual([["ns/web", "app"]])
  })
})

import { Clock, Effect, Option } from "effect"
import type { KubeApiError } from "../kube/KubeApi.ts"
import type { SlimPod } from "../kube/SlimPod.ts"
import { eventAttributes, SpanAttribute, SpanName, withRecordBuildSpan, workloadLabel } from "../observability/eventTrace.ts"
import type { DeploymentRecord } from "../record/DeploymentRecord.ts"
import { workloadIdentity, WorkloadResolver } from "../workload/Workload.ts"
import type { DeployedNames } from "../state/DeployedStatePersistence.ts"
import { makeDeploymentLedger, sameOwner, type WorkloadRef } from "./DeploymentLedger.ts"
import { makeExpiringSet } from "./ExpiringSet.ts"
import { makeKeyedMutex } from "./KeyedMutex.ts"
import { makePodRecords } from "./podRecords.ts"
import { makeRecordSender, type PostOutcome } from "./RecordSender.ts"
import type { PodEvent, WorkEvent } from "./PodEvent.ts"

/** What became of one event: `retry` hands it back to the work queue. */
export type EventOutcome = "done" | "retry"

/** A deleted workload's uid never comes back; an hour outlives any event still queued for it. */
export const GONE_WORKLOAD_LIFETIME = "1 hour"


/**
 * What an event comes to once its owner chain is read and its records are
 * built: nothing to send, records to deploy, or names to decommission.
 */
type EventPlan =
  | { readonly _tag: "Nothing" }
  | { readonly _tag: "Deploy"; readonly owner: WorkloadRef; readonly records: ReadonlyArray<DeploymentRecord> }
  | {
    readonly _tag: "Decommission"
    readonly owner: WorkloadRef
    readonly names: ReadonlyArray<string>
    /** The pod's own records, for names this process never saw deployed. */
    readonly fallbacks: ReadonlyMap<string, DeploymentRecord>
  }

const NOTHING: EventPlan = { _tag: "Nothing" }

/**
 * Turns events into deployment records and posts them.
 *
 * - CREATED: one `deployed` record per container of the pod's workload,
 *   with runtime risks, tags and repository from the annotations of the pod
 *   and its owners.
 * - DELETED: nothing while the workload exists (scale-down, rollout, a
 *   finished CronJob run); once it is gone, `decommissioned` for every name
 *   it deployed.
 * - WORKLOAD_DELETED (from the workload watches): the same decommission,
 *   for names whose pods went away before their workload did.
 *
 * Records are built by podRecords.ts and sent by RecordSender.ts (with its
 * caches and -dry-run). The ledger decides order between
 * events (see DeploymentLedger.ts); one post per deployment_name is in
 * flight at a time. Only hard failures make an event worth retrying.
 */
export class EventProcessor extends Effect.Service<EventProcessor>()("deployment-tracker/EventProcessor", {
  effect: Effect.gen(function*() {
    const workloads = yield* WorkloadResolver
    const { send, settle } = yield* makeRecordSender
    const podRecords = yield* makePodRecords
    const goneWorkloads = yield* makeExpiringSet(GONE_WORKLOAD_LIFETIME)
    const ledger = makeDeploymentLedger()
    const deploymentNames = yield* makeKeyedMutex

    /** `deployed`, unless a newer event of the same workload already reported the name, or the workload is gone. */
    const deploy = (record: DeploymentRecord, owner: WorkloadRef, seq: number) =>
      Effect.gen(function*() {
        const entry = ledger.get(record.deployment_name)
        if (entry !== undefined && sameOwner(entry.owner, owner)) {
          if (entry.status === "decommissioned") {
            yield* Effect.logDebug("Workload already decommissioned; not deploying it again")
            return "skipped" as const
          }
          if (seq < entry.seq) {
            yield* Effect.logDebug("A newer event already reported this deployment name; skipping")
            return "skipped" as const
          }
        }
        const outcome = yield* send(record)
        if (outcome !== "retry") {
          const now = yield* Clock.currentTimeMillis
          ledger.set({ owner, status: "deployed", seq, record }, now)
        }
        return outcome
      }).pipe(deploymentNames.withKey(record.deployment_name))

    /**
     * `decommissioned` for one name of a gone workload: once, and only while
     * the name still belongs to that workload (not to a newer one of the
     * same name). `fallback` is the pod's own record, for names this process
     * never saw deployed.
     */
    const decommission = (deploymentName: string, owner: WorkloadRef, seq: number, fallback: DeploymentRecord | undefined) =>
      Effect.gen(function*() {
        const entry = ledger.get(deploymentName)
        if (entry !== undefined && !sameOwner(entry.owner, owner)) {
          yield* Effect.logDebug("Deployment name now belongs to another workload; not decommissioning it")
          return "skipped" as const
        }
        if (entry !== undefined && entry.status === "decommissioned") return "skipped" as const
        const basis = entry?.record ?? fallback
        if (basis === undefined) return "skipped" as const
        const record: DeploymentRecord = { ...basis, status: "decommissioned" }
        const outcome = yield* send(record)
        if (outcome !== "retry") {
          const now = yield* Clock.currentTimeMillis
          ledger.set({ owner, status: "decommissioned", seq: Math.max(seq, entry?.seq ?? seq), record }, now)
        }
        return outcome
      }).pipe(deploymentNames.withKey(deploymentName))

    /**
     * Every name the workload deployed (and the pod's own, if given) is to
     * become `decommissioned`; from now on a late start of one of its pods
     * is not reported.
     */
    const decommissionPlan = (owner: WorkloadRef, podRecords: ReadonlyArray<DeploymentRecord>) =>
      Effect.gen(function*() {
        yield* goneWorkloads.add(workloadIdentity(owner))
        const fallbacks = new Map(podRecords.map((record) => [record.deployment_name, record]))
        const names = [...new Set([...ledger.namesOf(owner), ...fallbacks.keys()])].sort()
        return { _tag: "Decommission", owner, names, fallbacks } satisfies EventPlan
      })

    const toOutcome = (outcomes: ReadonlyArray<PostOutcome>): EventOutcome =>
      outcomes.includes("retry") ? "retry" : "done"

    /**
     * A pod event's plan: its workload from the owner chain and its records.
     * A pod deleted while its workload exists (scale-down, rollout, a
     * replaced pod) sends nothing: its names are still deployed. They are
     * remembered (if new to us), so the workload's own deletion later can
     * decommission them.
     */
    const planPod = (event: PodEvent): Effect.Effect<EventPlan, KubeApiError> =>
      Effect.gen(function*() {
        const { pod } = event
        const found = yield* workloads.resolve(pod)
        if (Option.isNone(found)) {
          yield* Effect.logDebug("Pod has no supported owner; ignoring")
          return NOTHING
        }
        const workload = found.value
        yield* Effect.annotateCurrentSpan(SpanAttribute.workload, workloadLabel(workload))
        if (event.type === "CREATED") {
          if (yield* goneWorkloads.has(workloadIdentity(workload))) {
            yield* Effect.logDebug("Workload is gone; a late start of one of its pods is not reported")
            return NOTHING
          }
          return { _tag: "Deploy", owner: workload, records: yield* podRecords(pod, workload, "deployed") } satisfies EventPlan
        }
        if (yield* workloads.isActive(workload)) {
          const records = yield* podRecords(pod, workload, "deployed")
          const now = yield* Clock.currentTimeMillis
          for (const record of records) {
            if (ledger.get(record.deployment_name) === undefined) {
              ledger.set({ owner: workload, status: "deployed", seq: event.seq, record }, now)
            }
          }
          yield* Effect.logDebug("Workload still exists; pod delete is not a decommission")
          return NOTHING
        }
        return yield* decommissionPlan(workload, yield* podRecords(pod, workload, "decommissioned"))
      })

    /** A deleted workload's plan: decommission what it deployed. */
    const planWorkload = (event: Extract<WorkEvent, { readonly type: "WORKLOAD_DELETED" }>): Effect.Effect<EventPlan> => {
      const { workload } = event
      // A CronJob's Jobs come and go with every run; only the CronJob is the workload.
      return workload.kind === "Job" && workload.controller?.kind === "CronJob"
        ? Effect.succeed(NOTHING)
        : decommissionPlan(workload, [])
    }

    const recordCount = (plan: EventPlan): number =>
      plan._tag === "Deploy" ? plan.records.length : plan._tag === "Decommission" ? plan.names.length : 0

    /** The owner-chain lookup and record building of an event, as one span. */
    const plan = (event: WorkEvent): Effect.Effect<EventPlan, KubeApiError> =>
      (event.type === "WORKLOAD_DELETED" ? planWorkload(event) : planPod(event)).pipe(
        Effect.tap((planned) => Effect.annotateCurrentSpan(SpanAttribute.recordCount, recordCount(planned))),
        withRecordBuildSpan
      )

    /** Sends what the plan says, each record under its deployment_name's lock. */
    const carryOut = (planned: EventPlan, seq: number): Effect.Effect<EventOutcome> => {
      switch (planned._tag) {
        case "Nothing":
          return Effect.succeed("done")
        case "Deploy":
          return Effect.forEach(planned.records, (record) => deploy(record, planned.owner, seq)).pipe(Effect.map(toOutcome))
        case "Decommission":
          return Effect.forEach(
            planned.names,
            (name) => decommission(name, planned.owner, seq, planned.fallbacks.get(name))
          ).pipe(Effect.map(toOutcome))
      }
    }

    /**
     * Handles one event, in a span of its own that says which event it is
     * and what came of it. Logs carry the same keys as the span.
     */
    const process = (event: WorkEvent): Effect.Effect<EventOutcome> => {
      const about = eventAttributes(event)
      return plan(event).pipe(
        Effect.flatMap((planned) => carryOut(planned, event.seq)),
        Effect.catchTag("KubeApiError", (e) =>
          Effect.logWarning("Could not read the workload from the API; the event will be retried").pipe(
            Effect.annotateLogs({ status: e.status, error: e.message }),
            Effect.as("retry" as const)
          )),
        Effect.tap((outcome) => Effect.annotateCurrentSpan(SpanAttribute.outcome, outcome)),
        Effect.annotateLogs(about),
        Effect.withSpan(SpanName.processEvent, { attributes: about, captureStackTrace: false })
      )
    }

    /**
     * The `deployed` records a pod found at start-up stands for, for the
     * bulk sync: none when it has no supported owner, its workload cannot be
     * read now (its event goes the per-record way), or nothing is ready.
     */
    const startupRecords = (pod: SlimPod): Effect.Effect<ReadonlyArray<DeploymentRecord>> =>
      workloads.resolve(pod).pipe(
        Effect.flatMap(Option.match({
          onNone: () => Effect.succeed([]),
          onSome: (workload) => podRecords(pod, workload, "deployed")
        })),
        Effect.catchTag("KubeApiError", () => Effect.succeed([])),
        Effect.annotateLogs({ namespace: pod.namespace, pod: pod.name })
      )

    /** What the bulk sync settled: accepted records count as posted, `not_found` digests as unknown. */
    const settleStartup = settle

    /**
     * The ledger as persistence sees it (src/state): what is deployed, put
     * back at start, and the decommission of a remembered workload found
     * gone, through the same locks and rules as a WORKLOAD_DELETED.
     */
    const deployedNames: DeployedNames = {
      revision: () => ledger.revision(),
      deployed: () =>
        ledger.deployed().map(({ at, entry }) => ({
          owner: { ...entry.owner, apiVersion: entry.owner.apiVersion ?? "" },
          record: entry.record,
          since: at
        })),
      // Sequence 0: any event received in this process is newer.
      remember: (names) =>
        Effect.forEach(names, ({ owner, record, since }) =>
          Effect.sync(() => {
            if (ledger.get(record.deployment_name) === undefined) ledger.set({ owner, status: "deployed", seq: 0, record }, since)
          }).pipe(deploymentNames.withKey(record.deployment_name)), { discard: true }),
      decommissionGone: (owner) =>
        decommissionPlan(owner, []).pipe(
          Effect.flatMap((planned) => carryOut(planned, 0)),
          Effect.annotateLogs({ workload: `${owner.kind} ${owner.namespace}/${owner.name}`, reason: "gone while no tracker ran" })
        )
    }

    return { process, startupRecords, settleStartup, deployedNames, ledgerSize: () => ledger.size() } as const
  })
}) {}

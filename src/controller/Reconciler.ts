import { Clock, Effect } from "effect"
import { Config } from "../config/Config.ts"
import type { KubeApiError } from "../kube/KubeApi.ts"
import { MetadataReader } from "../kube/MetadataReader.ts"
import { NamespaceWatch } from "../kube/NamespaceWatch.ts"
import { PodWatch } from "../kube/PodWatch.ts"
import { watchedKind } from "../kube/resources.ts"
import { WorkloadWatches } from "../kube/WorkloadWatches.ts"
import { DeploymentLedger, type LedgerEntry } from "../ledger/DeploymentLedger.ts"
import { IGNORE_KEY, isIgnored, LOGICAL_ENVIRONMENT_KEY } from "../metadata/trackerAnnotations.ts"
import { annotateSpan, SpanAttribute, withRecordBuildSpan } from "../observability/eventTrace.ts"
import { Metrics } from "../observability/Metrics.ts"
import { renderDeploymentName } from "../record/deploymentName.ts"
import { recordIdentity } from "../record/recordIdentity.ts"
import { sameRecord } from "../record/sameRecord.ts"
import { type Anchor, parseWorkloadKey } from "../workload/Attribution.ts"
import type { WorkloadOwner } from "../kube/ObjectIdentity.ts"
import { type PodUnderWorkload, viewWorkload, type WorkloadView } from "./desiredState.ts"
import { makeKeyedMutex } from "./KeyedMutex.ts"
import { namespaceView, type NamespaceView } from "./namespacePolicy.ts"
import { type Change, type DesiredRecord, planChanges, presenceNeeded, type WorkloadState } from "./planChanges.ts"
import { RecordBuilder } from "./RecordBuilder.ts"
import { RecordSender, type SendOutcome } from "./RecordSender.ts"
import { WorkloadIndex } from "./WorkloadIndex.ts"

/**
 * What became of one reconcile: `retry` hands the key back to the work
 * queue (with its backoff); `recheck` asks for the same reconcile later: the
 * workload has no pod left and only a read said it still exists (a kind
 * that is not watched sends no event when it is deleted).
 */
export type ReconcileOutcome = "done" | "retry" | "recheck"

const ownerOf = (anchor: Anchor): WorkloadOwner => ({
  kind: anchor.kind,
  apiVersion: anchor.apiVersion,
  namespace: anchor.namespace,
  name: anchor.name,
  uid: anchor.uid
})

/**
 * One reconcile of a workload key: the desired state of its deployment
 * names, computed from the caches (its pods, its workload object), against
 * what the ledger says GitHub was last told; only the difference is sent.
 * No API call, except to tell whether a workload of a kind that is not
 * watched still exists once none of its pods runs.
 */
export class Reconciler extends Effect.Service<Reconciler>()("deployment-tracker/Reconciler", {
  effect: Effect.gen(function*() {
    const config = yield* Config
    const pods = yield* PodWatch
    const index = yield* WorkloadIndex
    const watches = yield* WorkloadWatches
    const reader = yield* MetadataReader
    const ledger = yield* DeploymentLedger
    const builder = yield* RecordBuilder
    const sender = yield* RecordSender
    const namespaces = yield* NamespaceWatch
    const metrics = yield* Metrics
    const defaults = { logical: config.logicalEnvironment, physical: config.physicalEnvironment }
    // One post per deployment_name in flight: keys own their names, but a
    // template without {{namespace}} or {{deploymentName}} can share one.
    const names = yield* makeKeyedMutex

    const podsUnder = (key: string): ReadonlyArray<PodUnderWorkload> => {
      const found: Array<PodUnderWorkload> = []
      for (const podKey of index.podsOf(key)) {
        const pod = pods.get(podKey)
        const attribution = index.attributionOf(podKey)
        if (pod !== undefined && attribution !== undefined) found.push({ pod, attribution })
      }
      return found
    }

    const viewOf = (key: string): WorkloadView => {
      const { namespace, workloadName } = parseWorkloadKey(key)
      return viewWorkload(
        podsUnder(key),
        (containerName) => renderDeploymentName(config.deploymentNameTemplate, { namespace, workloadName, containerName })
      )
    }

    /** A watched workload object's annotations, live from its cache. */
    const anchorAnnotations = (anchor: Anchor) =>
      anchor.watched ? watches.lookup(anchor.kind, anchor.namespace, anchor.name)?.annotations : undefined

    /**
     * Whether the key's names are reported, and under which environments:
     * its Namespace (selection, environments, opt-out) and its workload
     * object's opt-out (see namespacePolicy.ts).
     */
    const namespaceOf = (key: string, anchors: ReadonlyArray<Anchor>, view: WorkloadView): Effect.Effect<NamespaceView> => {
      const { namespace } = parseWorkloadKey(key)
      const ignored = anchors.some((anchor) => isIgnored(anchorAnnotations(anchor))) ||
        [...view.chosen.values()].some((chosen) => chosen.attribution.ownerAnnotations.some(isIgnored))
      const decided = namespaceView({
        watched: namespaces.mode === "on",
        selector: namespaces.selector,
        namespace: namespaces.lookup(namespace),
        workloadAnnotations: ignored ? { [IGNORE_KEY]: "true" } : undefined,
        defaults
      })
      // The view is decided now, from the caches; only its warnings need an effect.
      if (decided.dropped.length === 0) return Effect.succeed(decided.view)
      return Effect.forEach(decided.dropped, (dropped) => {
        metrics.annotationInvalid(dropped.key === LOGICAL_ENVIRONMENT_KEY ? "logical-environment" : "physical-environment")
        return Effect.logWarning("Invalid Namespace annotation ignored; the tracker's own environment is used").pipe(
          Effect.annotateLogs({ namespace, annotation: dropped.key, reason: dropped.reason })
        )
      }, { discard: true }).pipe(Effect.as(decided.view))
    }

    /** The records the chosen containers call for, by identity (a record that cannot be built is left out). */
    const desiredRecords = (view: WorkloadView, namespace: NamespaceView) =>
      Effect.gen(function*() {
        const desired = new Map<string, DesiredRecord>()
        if (namespace._tag !== "Reported") return desired
        for (const chosen of view.chosen.values()) {
          const record = yield* builder.build(chosen, anchorAnnotations(chosen.attribution.anchor), namespace.environment)
          if (record !== undefined) {
            desired.set(recordIdentity(record), { record, owner: ownerOf(chosen.attribution.anchor), standing: chosen.standing })
          }
        }
        return desired
      }).pipe(withRecordBuildSpan)

    /** Reported records the workload no longer stands for: all when excluded, those of another environment when it moved. */
    const retiredOf = (reported: ReadonlyMap<string, LedgerEntry>, namespace: NamespaceView): ReadonlySet<string> => {
      const retired = new Set<string>()
      for (const [identity, entry] of reported) {
        if (namespace._tag === "Excluded") retired.add(identity)
        else if (
          namespace._tag === "Reported" &&
          (entry.record.logical_environment !== namespace.environment.logical ||
            entry.record.physical_environment !== namespace.environment.physical)
        ) retired.add(identity)
      }
      return retired
    }

    /** The objects that say whether the workload exists: its pods' anchors and the owners its names were reported under. */
    const anchorsOf = (view: WorkloadView, key: string): ReadonlyArray<Anchor> => {
      const found = new Map<string, Anchor>()
      const add = (anchor: Anchor) => found.set(`${anchor.kind}/${anchor.name}`, anchor)
      for (const podKey of index.podsOf(key)) {
        const attribution = index.attributionOf(podKey)
        if (attribution !== undefined) add(attribution.anchor)
      }
      for (const chosen of view.chosen.values()) add(chosen.attribution.anchor)
      for (const entry of ledger.entriesOf(key).values()) {
        add({ ...entry.owner, watched: watchedKind(entry.owner.kind, entry.owner.apiVersion) !== undefined })
      }
      return [...found.values()]
    }

    /** A watched anchor's cache alone: the start-up sync reads nothing from the API. */
    const presentInCache = (anchors: ReadonlyArray<Anchor>): boolean =>
      anchors.some((anchor) => {
        if (!anchor.watched) return false
        const meta = watches.lookup(anchor.kind, anchor.namespace, anchor.name)
        return meta !== undefined && !meta.deleting
      })

    /**
     * Whether the workload object exists and is not being deleted. Watched
     * kinds answer from their caches (any object of that name: a recreated
     * workload is the same one); the others are read now. One that cannot
     * be read (forbidden, unknown kind) counts as gone: with none of its
     * pods running, its images no longer run here.
     */
    const workloadPresent = (anchors: ReadonlyArray<Anchor>): Effect.Effect<"watched" | "read" | "absent", KubeApiError> =>
      Effect.gen(function*() {
        if (presentInCache(anchors)) return "watched" as const
        for (const anchor of anchors) {
          if (anchor.watched) continue
          const read = yield* reader.readFresh(anchor)
          if (read._tag === "Found" && !read.meta.deleting) return "read" as const
        }
        return "absent" as const
      })

    const apply = (key: string, change: Change): Effect.Effect<SendOutcome> => {
      const identity = change._tag === "Adopt" ? change.identity : recordIdentity(change.record)
      return Effect.gen(function*() {
        const current = ledger.get(identity)
        switch (change._tag) {
          case "Adopt":
            if (current !== undefined && current.key === key) ledger.put({ ...current, owner: change.owner })
            return "accepted" as const
          case "Deploy": {
            // Another key may have sent it meanwhile (a shared name).
            if (current !== undefined && sameRecord(current.record, change.record)) {
              ledger.put({ ...current, key, owner: change.owner })
              return "accepted" as const
            }
            const outcome = yield* sender.send(change.record, change.owner)
            if (outcome === "accepted") {
              const entry: LedgerEntry = { key, owner: change.owner, record: change.record, since: yield* Clock.currentTimeMillis }
              ledger.put(entry)
            }
            return outcome
          }
          case "Decommission": {
            if (current === undefined || current.key !== key) return "accepted" as const
            const outcome = yield* sender.send(change.record, current.owner)
            // Declined (no attestation, refused) is final too: there is nothing left to take back.
            if (outcome !== "retry") ledger.remove(identity)
            return outcome
          }
        }
      }).pipe(names.withKey(identity))
    }

    const reconcile = (key: string): Effect.Effect<ReconcileOutcome> =>
      Effect.gen(function*() {
        const view = viewOf(key)
        const anchors = anchorsOf(view, key)
        const namespace = yield* namespaceOf(key, anchors, view)
        const reported = ledger.entriesOf(key)
        const state: WorkloadState = {
          desired: yield* desiredRecords(view, namespace),
          reported,
          live: view.live,
          retired: retiredOf(reported, namespace)
        }
        // Without the question, "present" changes nothing (see presenceNeeded).
        const presence = presenceNeeded(state) ? yield* workloadPresent(anchors) : "watched"
        const changes = planChanges(state, presence !== "absent")
        yield* annotateSpan(SpanAttribute.recordCount, changes.length)
        const outcomes = yield* Effect.forEach(changes, (change) => apply(key, change))
        if (outcomes.includes("retry")) return "retry" as const
        return presence === "read" && !view.live && ledger.entriesOf(key).size > 0 ? "recheck" as const : "done" as const
      }).pipe(
        Effect.catchTag("KubeApiError", (e) =>
          Effect.logWarning("Could not tell whether the workload still exists; it will be retried").pipe(
            Effect.annotateLogs({ status: e.status, error: e.message }),
            Effect.as("retry" as const)
          )),
        Effect.annotateLogs({ workload: key })
      )

    /**
     * The `deployed` records a key calls for, for the start-up bulk sync:
     * the same computation as a reconcile, deciding only from the caches (a
     * finished Job pod counts while its watched workload object exists).
     */
    const startupRecords = (key: string): Effect.Effect<ReadonlyArray<DesiredRecord>> =>
      Effect.gen(function*() {
        const view = viewOf(key)
        if (view.chosen.size === 0) return []
        const anchors = anchorsOf(view, key)
        const desired = yield* desiredRecords(view, yield* namespaceOf(key, anchors, view))
        const chosenPresent = [...desired.values()].some((d) => d.standing === "finished") && presentInCache(anchors)
        return [...desired.values()].filter((d) => d.standing === "running" || chosenPresent)
      }).pipe(Effect.annotateLogs({ workload: key }))

    return { reconcile, startupRecords } as const
  })
}) {}


import { Effect, Option } from "effect"
import { Config } from "../config/Config.ts"
import { DeploymentRecordClient } from "../github/DeploymentRecordClient.ts"
import { Metrics } from "../observability/Metrics.ts"
import type { DeploymentRecord, RecordStatus } from "../record/DeploymentRecord.ts"
import { buildRecords } from "../record/buildRecords.ts"
import { WorkloadResolver } from "../workload/Workload.ts"
import { makeExpiringSet } from "./ExpiringSet.ts"
import { makeKeyedMutex } from "./KeyedMutex.ts"
import type { PodEvent } from "./PodEvent.ts"

/** What became of one event: `retry` hands it back to the work queue. */
export type EventOutcome = "done" | "retry"

/** The original's cache lifetimes. */
export const SEEN_RECORD_LIFETIME = "2 minutes"
export const UNKNOWN_ARTIFACT_LIFETIME = "1 hour"

const seenKey = (status: RecordStatus, record: DeploymentRecord) => `${status}||${record.deployment_name}||${record.digest}`

/**
 * Turns one pod event into deployment records and posts them. Per record:
 * skipped when posted in the last 2 minutes or when its digest had no
 * attestation in the last hour; a record that violates the API's rules is
 * never sent (logged, counted). Client errors and unknown artifacts are
 * final; only hard failures make the event worth retrying.
 */
export class EventProcessor extends Effect.Service<EventProcessor>()("deployment-tracker/EventProcessor", {
  effect: Effect.gen(function*() {
    const config = yield* Config
    const metrics = yield* Metrics
    const workloads = yield* WorkloadResolver
    const client = yield* DeploymentRecordClient
    const seen = yield* makeExpiringSet(SEEN_RECORD_LIFETIME)
    const unknownArtifacts = yield* makeExpiringSet(UNKNOWN_ARTIFACT_LIFETIME)
    // Pods of one workload share deployment_names: only one post per name
    // is in flight, and the next one sees the first in the seen cache.
    const deploymentNames = yield* makeKeyedMutex

    /** Posts one record; true when the event should be retried for it. */
    const postRecord = (record: DeploymentRecord) =>
      Effect.gen(function*() {
        const key = seenKey(record.status, record)
        if (yield* seen.has(key)) {
          yield* Effect.logDebug("Record posted recently; skipping")
          return false
        }
        if (yield* unknownArtifacts.has(record.digest)) {
          metrics.postUnknownArtifactCacheHit.inc()
          yield* Effect.logDebug("Digest had no attestation recently; skipping")
          return false
        }
        return yield* client.post(record).pipe(
          Effect.zipRight(Effect.gen(function*() {
            yield* seen.add(key)
            // A new status for the name makes the opposite one postable again.
            yield* seen.delete(seenKey(record.status === "deployed" ? "decommissioned" : "deployed", record))
            yield* Effect.logInfo("Posted record")
            return false
          })),
          Effect.catchTags({
            NoArtifact: (e) =>
              unknownArtifacts.add(record.digest).pipe(
                Effect.zipRight(Effect.logInfo("No artifact found; digest cached as unknown").pipe(
                  Effect.annotateLogs({ reason: e.message })
                )),
                Effect.as(false)
              ),
            ClientError: (e) =>
              Effect.logWarning("GitHub refused the record; not retrying").pipe(
                Effect.annotateLogs({ http_status: e.status, error: e.message }),
                Effect.as(false)
              ),
            HardFailure: (e) =>
              Effect.logError("Posting the record failed; the event will be retried").pipe(
                Effect.annotateLogs({ error: e.reason }),
                Effect.as(true)
              )
          }),
          Effect.annotateLogs({
            name: record.name,
            deployment_name: record.deployment_name,
            digest: record.digest,
            status: record.status
          })
        )
      }).pipe(deploymentNames.withKey(record.deployment_name))

    const process = (event: PodEvent): Effect.Effect<EventOutcome> =>
      Effect.gen(function*() {
        const { pod } = event
        const found = yield* workloads.resolve(pod)
        if (Option.isNone(found)) {
          yield* Effect.logDebug("Pod has no supported owner; ignoring")
          return "done" as const
        }
        const workload = found.value
        if (event.type === "DELETED" && (yield* workloads.isActive(workload))) {
          // Scale-down, rollout or a replaced pod: the name is still deployed.
          yield* Effect.logDebug("Workload still exists; pod delete is not a decommission")
          return "done" as const
        }
        const outcomes = buildRecords({
          pod,
          status: event.type === "DELETED" ? "decommissioned" : "deployed",
          workloadName: workload.name,
          template: config.deploymentNameTemplate,
          logicalEnvironment: config.logicalEnvironment,
          physicalEnvironment: config.physicalEnvironment,
          cluster: config.cluster
        })
        const ready: Array<DeploymentRecord> = []
        for (const outcome of outcomes) {
          switch (outcome._tag) {
            case "NoDigest":
              yield* Effect.logDebug("Container has no image digest yet; skipping").pipe(
                Effect.annotateLogs({ container: outcome.container.name })
              )
              break
            case "Invalid":
              metrics.recordInvalid(outcome.field)
              yield* Effect.logWarning("Record violates the API's constraints; not sent").pipe(
                Effect.annotateLogs({ container: outcome.container.name, field: outcome.field, reason: outcome.reason })
              )
              break
            case "Ready":
              for (const note of outcome.adjustments) {
                yield* Effect.logInfo("Record adjusted to fit the API").pipe(Effect.annotateLogs({ adjustment: note }))
              }
              ready.push(outcome.record)
          }
        }
        const retries = yield* Effect.forEach(ready, postRecord)
        const retry = retries.some((r) => r)
        return retry ? "retry" as const : "done" as const
      }).pipe(
        Effect.catchTag("KubeApiError", (e) =>
          Effect.logWarning("Could not tell whether the workload still exists; the event will be retried").pipe(
            Effect.annotateLogs({ status: e.status, error: e.message }),
            Effect.as("retry" as const)
          )),
        Effect.annotateLogs({ event_type: event.type, namespace: event.pod.namespace, pod: event.pod.name }),
        Effect.withSpan("controller.processEvent", {
          attributes: { event_type: event.type, namespace: event.pod.namespace, pod: event.pod.name },
          captureStackTrace: false
        })
      )

    return { process } as const
  })
}) {}

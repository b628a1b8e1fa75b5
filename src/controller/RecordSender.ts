import { Clock, Effect } from "effect"
import { Config } from "../config/Config.ts"
import { DeploymentRecordClient } from "../github/DeploymentRecordClient.ts"
import { RateLimitGate } from "../github/RateLimitGate.ts"
import { Metrics } from "../observability/Metrics.ts"
import type { DeploymentRecord } from "../record/DeploymentRecord.ts"
import type { WorkloadOwner } from "../kube/ObjectIdentity.ts"
import { makeExpiringSet } from "./ExpiringSet.ts"
import { type WorkloadOutcome, WorkloadEvents } from "../events/WorkloadEvents.ts"

/** The original's lifetime for a digest GitHub had no attestation for. */
export const UNKNOWN_ARTIFACT_LIFETIME = "1 hour"
/** A record GitHub refused is not sent again for this long (repeating refused requests can get an integration banned). */
export const REFUSED_RECORD_LIFETIME = "1 hour"

/**
 * What became of one record: GitHub took it (`accepted`; also a dry run's),
 * will not take it (`declined`: no attestation for its digest, or refused as
 * invalid: final, nothing to retry), or could not be reached (`retry`).
 */
export type SendOutcome = "accepted" | "declined" | "retry"

/**
 * Sends one record to GitHub, or not: a digest that had no attestation in
 * the last hour, or a record refused in the last hour, is not sent again
 * (counted, logged); with `-dry-run` it is logged and counted instead. What
 * became of it is told to the workload's events (`regarding`).
 */
export class RecordSender extends Effect.Service<RecordSender>()("deployment-tracker/RecordSender", {
  effect: Effect.gen(function*() {
    const config = yield* Config
    const metrics = yield* Metrics
    const client = yield* DeploymentRecordClient
    const gate = yield* RateLimitGate
    const events = yield* WorkloadEvents
    const unknownArtifacts = yield* makeExpiringSet(UNKNOWN_ARTIFACT_LIFETIME)
    const refused = yield* makeExpiringSet(REFUSED_RECORD_LIFETIME)

    const post = (record: DeploymentRecord) =>
      config.dryRun
        ? Effect.sync(() => metrics.recordDryRun(record.status)).pipe(
          Effect.zipRight(Effect.logInfo("Dry run: record built and validated, not sent").pipe(
            Effect.annotateLogs({ record: JSON.stringify(record) })
          ))
        )
        : client.post(record).pipe(Effect.zipRight(Effect.logInfo("Posted record")))

    /** GitHub's rate limit holds every request: the workload says it waits. */
    const reportWait = (record: DeploymentRecord, regarding: WorkloadOwner) =>
      Effect.gen(function*() {
        const wait = (yield* gate.openAt) - (yield* Clock.currentTimeMillis)
        if (wait > 0) {
          yield* events.report(regarding, { _tag: "RateLimited", deploymentName: record.deployment_name, waitSeconds: Math.ceil(wait / 1000) })
        }
      })

    const send = (record: DeploymentRecord, regarding: WorkloadOwner): Effect.Effect<SendOutcome> =>
      Effect.gen(function*() {
        /** A record GitHub will not take: remembered for an hour, logged, told to the workload. */
        const declined = (remember: Effect.Effect<void>, log: Effect.Effect<void>, outcome: WorkloadOutcome) =>
          remember.pipe(Effect.zipRight(log), Effect.zipRight(events.report(regarding, outcome)), Effect.as("declined" as const))

        if (yield* unknownArtifacts.has(record.digest)) {
          metrics.postUnknownArtifactCacheHit.inc()
          yield* Effect.logDebug("Digest had no attestation recently; not sent")
          return "declined" as const
        }
        const fingerprint = JSON.stringify(record)
        if (yield* refused.has(fingerprint)) {
          yield* Effect.logDebug("GitHub refused this record recently; not sent again")
          return "declined" as const
        }
        yield* reportWait(record, regarding)
        return yield* post(record).pipe(
          Effect.zipRight(events.report(regarding, {
            _tag: record.status === "deployed" ? "Deployed" : "Decommissioned",
            deploymentName: record.deployment_name,
            digest: record.digest
          })),
          Effect.as("accepted" as const),
          Effect.catchTags({
            NoArtifact: (e) =>
              declined(
                unknownArtifacts.add(record.digest),
                (e.reason === "no_artifacts_found"
                  ? Effect.logInfo("No artifact found; digest cached as unknown")
                  // Usually a wrong org or a token that cannot see it: worth a look.
                  : Effect.logWarning("GitHub answered 404; the digest is not posted again for an hour")).pipe(
                  Effect.annotateLogs({ reason: e.reason, message: e.message })
                ),
                { _tag: "UnknownArtifact", deploymentName: record.deployment_name, digest: record.digest, message: e.message }
              ),
            ClientError: (e) =>
              declined(
                refused.add(fingerprint),
                Effect.logWarning("GitHub refused the record; not sending it again for an hour").pipe(
                  Effect.annotateLogs({ http_status: e.status, error: e.message })
                ),
                { _tag: "Refused", deploymentName: record.deployment_name, status: e.status, message: e.message }
              ),
            HardFailure: (e) =>
              Effect.logError("Posting the record failed; its workload will be retried").pipe(
                Effect.annotateLogs({ error: e.reason }),
                Effect.as("retry" as const)
              )
          })
        )
      }).pipe(
        Effect.annotateLogs({
          name: record.name,
          deployment_name: record.deployment_name,
          digest: record.digest,
          status: record.status
        })
      )

    /** Digests the start-up bulk sync found no attestation for (`not_found`). */
    const markUnknown = (digests: ReadonlyArray<string>) => Effect.forEach(digests, unknownArtifacts.add, { discard: true })

    return { send, markUnknown } as const
  }),
  dependencies: [DeploymentRecordClient.Default]
}) {}

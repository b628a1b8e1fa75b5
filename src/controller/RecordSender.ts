import { Effect } from "effect"
import { Config } from "../config/Config.ts"
import { DeploymentRecordClient } from "../github/DeploymentRecordClient.ts"
import { Metrics } from "../observability/Metrics.ts"
import type { DeploymentRecord, RecordStatus } from "../record/DeploymentRecord.ts"
import { makeExpiringSet } from "./ExpiringSet.ts"

/** The original's cache lifetimes. */
export const SEEN_RECORD_LIFETIME = "2 minutes"
export const UNKNOWN_ARTIFACT_LIFETIME = "1 hour"

/** What became of one record: `retry` makes its event worth retrying. */
export type PostOutcome = "sent" | "skipped" | "retry"

const seenKey = (status: RecordStatus, record: DeploymentRecord) => `${status}||${record.deployment_name}||${record.digest}`

/**
 * Sends records to GitHub, or not: a record posted in the last 2 minutes,
 * or whose digest had no attestation in the last hour, is skipped; with
 * `-dry-run` it is logged and counted instead. Unknown artifacts and client
 * errors are final ("sent": nothing more to do); only hard failures ask for
 * a retry.
 */
export const makeRecordSender = Effect.gen(function*() {
  const config = yield* Config
  const metrics = yield* Metrics
  const client = yield* DeploymentRecordClient
  const seen = yield* makeExpiringSet(SEEN_RECORD_LIFETIME)
  const unknownArtifacts = yield* makeExpiringSet(UNKNOWN_ARTIFACT_LIFETIME)

  const post = (record: DeploymentRecord) =>
    config.dryRun
      ? Effect.sync(() => metrics.recordDryRun(record.status)).pipe(
        Effect.zipRight(Effect.logInfo("Dry run: record built and validated, not sent").pipe(
          Effect.annotateLogs({ record: JSON.stringify(record) })
        ))
      )
      : client.post(record).pipe(Effect.zipRight(Effect.logInfo("Posted record")))

  const send = (record: DeploymentRecord): Effect.Effect<PostOutcome> =>
    Effect.gen(function*() {
      const key = seenKey(record.status, record)
      if (yield* seen.has(key)) {
        yield* Effect.logDebug("Record posted recently; skipping")
        return "skipped" as const
      }
      if (yield* unknownArtifacts.has(record.digest)) {
        metrics.postUnknownArtifactCacheHit.inc()
        yield* Effect.logDebug("Digest had no attestation recently; skipping")
        return "skipped" as const
      }
      return yield* post(record).pipe(
        Effect.zipRight(Effect.gen(function*() {
          yield* seen.add(key)
          // A new status for the name makes the opposite one postable again.
          yield* seen.delete(seenKey(record.status === "deployed" ? "decommissioned" : "deployed", record))
          return "sent" as const
        })),
        Effect.catchTags({
          NoArtifact: (e) =>
            unknownArtifacts.add(record.digest).pipe(
              Effect.zipRight(Effect.logInfo("No artifact found; digest cached as unknown").pipe(
                Effect.annotateLogs({ reason: e.message })
              )),
              Effect.as("sent" as const)
            ),
          ClientError: (e) =>
            Effect.logWarning("GitHub refused the record; not retrying").pipe(
              Effect.annotateLogs({ http_status: e.status, error: e.message }),
              Effect.as("sent" as const)
            ),
          HardFailure: (e) =>
            Effect.logError("Posting the record failed; the event will be retried").pipe(
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

  /** What the start-up bulk sync settled: accepted records count as posted, `not_found` digests as unknown. */
  const settle = (posted: ReadonlyArray<DeploymentRecord>, unknownDigests: ReadonlyArray<string>) =>
    Effect.gen(function*() {
      for (const record of posted) yield* seen.add(seenKey("deployed", record))
      for (const digest of unknownDigests) yield* unknownArtifacts.add(digest)
    })

  return { send, settle } as const
})

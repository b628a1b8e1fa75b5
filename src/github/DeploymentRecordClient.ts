import { Effect } from "effect"
import { Config } from "../config/Config.ts"
import { annotateSpan, EventTracing, SpanAttribute, SpanName, withExportedSpan } from "../observability/eventTrace.ts"
import { Metrics } from "../observability/Metrics.ts"
import type { DeploymentRecord } from "../record/DeploymentRecord.ts"
import { errorMessage, shortMessage } from "./classifyResponse.ts"
import { NoArtifact, type PostError } from "./errors.ts"
import { GitHubAuth } from "./GitHubAuth.ts"
import { GitHubRequester } from "./GitHubRequester.ts"

/**
 * Client of the per-record endpoint
 * (`POST /orgs/{org}/artifacts/metadata/deployment-record`), through
 * GitHubRequester: what its answers mean, how they are counted and traced.
 */
export class DeploymentRecordClient extends Effect.Service<DeploymentRecordClient>()(
  "deployment-tracker/DeploymentRecordClient",
  {
    effect: Effect.gen(function*() {
      const config = yield* Config
      const metrics = yield* Metrics
      const auth = yield* GitHubAuth
      const requester = yield* GitHubRequester
      const path = `/orgs/${encodeURIComponent(config.org)}/artifacts/metadata/deployment-record`

      /**
       * One HTTP request as a span of its own (no headers, no body), when
       * spans are exported (withExportedSpan). The record's span (see post)
       * counts the attempts, so each one knows how many came before it.
       */
      const traced = <A, E extends { readonly _tag: string }>(record: DeploymentRecord, request: Effect.Effect<A, E>) =>
        Effect.flatMap(EventTracing, (on) => on ? tracedAttempt(record, request) : request)

      const tracedAttempt = <A, E extends { readonly _tag: string }>(record: DeploymentRecord, request: Effect.Effect<A, E>) =>
        Effect.currentSpan.pipe(
          Effect.map((recordSpan) => {
            const before = Number(recordSpan.attributes.get(SpanAttribute.attempts) ?? 0)
            recordSpan.attribute(SpanAttribute.attempts, before + 1)
            return before
          }),
          Effect.orElseSucceed(() => 0),
          Effect.flatMap((retries) =>
            request.pipe(
              Effect.tapBoth({
                onSuccess: () => annotateSpan(SpanAttribute.outcome, "ok"),
                onFailure: (e) => annotateSpan(SpanAttribute.outcome, attemptOutcome(e._tag))
              }),
              Effect.withSpan(SpanName.postAttempt, {
                kind: "client",
                attributes: {
                  [SpanAttribute.deploymentName]: record.deployment_name,
                  [SpanAttribute.httpMethod]: "POST",
                  [SpanAttribute.retryCount]: retries
                },
                captureStackTrace: false
              })
            )
          )
        )

      /**
       * Posts one record. Succeeds, or fails with a ClientError, NoArtifact
       * or HardFailure (after retries), each already counted.
       */
      const post = (record: DeploymentRecord): Effect.Effect<void, PostError> =>
        requester.send({
          method: "POST",
          path,
          body: { ...record, return_records: false },
          credential: auth,
          retryMessage: "Posting a record failed; retrying",
          refine: (e, response) => e.status === 404 ? notFound(response.body) : e,
          traceAttempt: (attempt) => traced(record, attempt)
        }).pipe(
          Effect.tap(() => Effect.sync(() => metrics.postOk.inc())),
          Effect.tapError((e) =>
            Effect.sync(() => {
              if (e._tag === "ClientError") metrics.postClientError.inc()
              else if (e._tag === "NoArtifact") {
                metrics.postUnknownArtifact.inc()
                metrics.postNotFound(e.reason)
              } else metrics.postHardFail.inc()
            })
          ),
          Effect.asVoid,
          // The caller (RecordSender) annotates the logs with the record's fields.
          withExportedSpan(SpanName.postRecord, () => ({
            attributes: { deployment_name: record.deployment_name, status: record.status },
            captureStackTrace: false
          }))
        )

      return { post } as const
    })
  }
) {}

/**
 * Every 404 from the record endpoint: the original caches the digest as
 * unknown for an hour whatever the text, so a digest an org or token cannot
 * see is not posted again on every event. The reason keeps GitHub's "no
 * artifacts found" (no attestation) apart from any other 404.
 */
export const notFound = (body: string): NoArtifact => {
  return /no artifacts? found/i.test(errorMessage(body).replace(/\s+/g, " "))
    ? new NoArtifact({ reason: "no_artifacts_found", message: "no artifacts found" })
    : new NoArtifact({ reason: "other", message: `other 404: ${shortMessage(body)}` })
}

/** An attempt's outcome for its span: `SoftFailure` -> `soft_failure`. */
const attemptOutcome = (tag: string): string => tag.replace(/(?<=[a-z])(?=[A-Z])/g, "_").toLowerCase()

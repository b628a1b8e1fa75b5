import { Data, type Duration } from "effect"

/**
 * How a call to GitHub can fail. The tags decide what happens next:
 * - ClientError: a 4xx that is not a rate limit. Resending the same request
 *   cannot help (and repeated invalid requests can get an app suspended), so
 *   it is counted and never retried.
 * - NoArtifact: any 404 from the record endpoint (as the original reads
 *   it). `reason` tells GitHub's "no artifacts found" (the digest has no
 *   attestation) from any other 404 (e.g. an org or endpoint the token
 *   cannot see). Either way the digest is remembered as unknown for an hour.
 * - RateLimited: 403/429 with rate-limit signals. Every worker waits until
 *   `retryAt`, then the request is tried again.
 * - SoftFailure: 5xx, network error or timeout; retried with backoff.
 * - HardFailure: soft failures (or rate limits) that outlasted the retries;
 *   the work queue requeues the whole event with its own backoff.
 */
export class ClientError extends Data.TaggedError("ClientError")<{
  readonly status: number
  readonly message: string
}> {}

/** Why a record post got a 404: the label value of `deployment_tracker_post_record_not_found_total`. */
export type NotFoundReason = "no_artifacts_found" | "other"

export class NoArtifact extends Data.TaggedError("NoArtifact")<{
  readonly reason: NotFoundReason
  /** For the log: "no artifacts found", or "other 404: <GitHub's message>". */
  readonly message: string
}> {}

export class RateLimited extends Data.TaggedError("RateLimited")<{
  readonly status: number
  /** How long GitHub asked us to wait from the moment of the response. */
  readonly wait: Duration.Duration
  readonly message: string
}> {}

export class SoftFailure extends Data.TaggedError("SoftFailure")<{
  readonly reason: string
  readonly status?: number
}> {}

export class HardFailure extends Data.TaggedError("HardFailure")<{
  readonly reason: string
}> {}

/** No credential can be had right now (minting failed and the last token expired): worth another try later. */
export class AuthUnavailable extends Data.TaggedError("AuthUnavailable")<{
  readonly reason: string
}> {}

export type PostError = ClientError | NoArtifact | HardFailure

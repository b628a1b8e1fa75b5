import type { WorkloadOutcome } from "./WorkloadEvents.ts"
import { GITHUB_REPOSITORY_KEY } from "../metadata/annotations.ts"
import type { WorkloadOwner } from "../kube/ObjectIdentity.ts"

/**
 * What an outcome of a deployment name looks like as a Kubernetes Event
 * (events.k8s.io/v1) on its workload object, and the Event's wire format.
 * Pure: the recorder (EventRecorder.ts) decides when to write.
 */

export type EventType = "Normal" | "Warning"
export type EventReason = "Deployed" | "Decommissioned" | "UnknownArtifact" | "Refused" | "RateLimited"

export interface EventContent {
  readonly type: EventType
  readonly reason: EventReason
  /** At most NOTE_LIMIT_BYTES; immutable once the Event exists (the API refuses a changed note). */
  readonly note: string
}

/** The API server's limit on `note` (Go's len: bytes). */
export const NOTE_LIMIT_BYTES = 1024
/** The API server's limit on `reportingInstance`. */
export const REPORTING_INSTANCE_LIMIT = 128
/** An Event's name is a DNS subdomain. */
const NAME_LIMIT = 253

export const UNKNOWN_ARTIFACT_HINT = `add the ${GITHUB_REPOSITORY_KEY} annotation to record images without attestations`

/** A value from outside (GitHub's message, a validation reason) gets this much of a note. */
const QUOTED_LIMIT = 400

const quoted = (text: string): string => text.length > QUOTED_LIMIT ? `${text.slice(0, QUOTED_LIMIT - 3)}...` : text

/**
 * The reason, type and note of an outcome. The note names the deployment
 * name and what identifies the outcome (digest, GitHub's message, the
 * rule broken), and nothing that changes between repeats of the same
 * outcome (a rate limit's remaining wait): repeats must aggregate into one
 * Event's series, and a note cannot change once the Event exists.
 */
export const eventContent = (outcome: WorkloadOutcome): EventContent => {
  const name = JSON.stringify(quoted(outcome.deploymentName))
  switch (outcome._tag) {
    case "Deployed":
      return { type: "Normal", reason: "Deployed", note: limitNote(`Reported ${name} to GitHub as deployed, digest ${outcome.digest}`) }
    case "Decommissioned":
      return {
        type: "Normal",
        reason: "Decommissioned",
        note: limitNote(`Reported ${name} to GitHub as decommissioned, digest ${outcome.digest}`)
      }
    case "UnknownArtifact":
      return {
        type: "Warning",
        reason: "UnknownArtifact",
        note: limitNote(
          `GitHub has no artifact for digest ${outcome.digest} of ${name} (${quoted(outcome.message)}); not reported, not sent again for an hour: ${UNKNOWN_ARTIFACT_HINT}`
        )
      }
    case "Refused":
      return {
        type: "Warning",
        reason: "Refused",
        note: limitNote(`GitHub refused the record of ${name} (HTTP ${outcome.status}: ${quoted(outcome.message)}); not sent again for an hour`)
      }
    case "Invalid":
      return {
        type: "Warning",
        reason: "Refused",
        note: limitNote(`The record of ${name} breaks the API's constraints and is not sent: ${outcome.field} ${quoted(outcome.reason)}`)
      }
    case "RateLimited":
      return {
        type: "Warning",
        reason: "RateLimited",
        note: limitNote(`The record of ${name} waits for GitHub's rate limit to reset`)
      }
  }
}

/** Cuts a note to the API's byte limit without splitting a character. */
export const limitNote = (note: string): string => {
  const bytes = Buffer.from(note, "utf8")
  if (bytes.length <= NOTE_LIMIT_BYTES) return note
  const suffix = "..."
  let end = NOTE_LIMIT_BYTES - suffix.length
  // Back up to the start of a UTF-8 sequence (continuation bytes are 10xxxxxx).
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--
  return bytes.subarray(0, end).toString("utf8") + suffix
}

/** metav1.MicroTime: RFC 3339 with exactly six fractional digits, UTC. */
export const microTime = (epochNanos: bigint): string => {
  const millis = Number(epochNanos / 1_000_000n)
  const micros = (epochNanos / 1_000n) % 1_000_000n
  return `${new Date(millis).toISOString().slice(0, 19)}.${micros.toString().padStart(6, "0")}Z`
}

/**
 * client-go's Event name: the object's name, a dot and a hexadecimal
 * stamp (unique per recorder). The object's name is shortened so the whole
 * stays a DNS subdomain (a 240-character Deployment name is valid, its
 * Event name with the stamp would not be).
 */
export const eventName = (objectName: string, stamp: bigint): string => {
  const suffix = `.${stamp.toString(16)}`
  const base = objectName
    .toLowerCase()
    .replace(/[^a-z0-9.-]/g, "-")
    .slice(0, NAME_LIMIT - suffix.length)
    .replace(/[^a-z0-9]+$/, "")
    .replace(/^[^a-z0-9]+/, "")
  return `${base === "" ? "object" : base}${suffix}`
}

/** Identity of an aggregated Event: the object, type, reason and note (client-go's isomorphic key, plus the note). */
export const aggregationKey = (regarding: WorkloadOwner, content: EventContent): string =>
  [regarding.apiVersion, regarding.kind, regarding.namespace, regarding.name, regarding.uid, content.type, content.reason, content.note]
    .join("\u0000")

/** The object whose new Events share one rate limit (client-go's spam key: the object). */
export const objectKey = (regarding: WorkloadOwner): string =>
  [regarding.apiVersion, regarding.kind, regarding.namespace, regarding.name, regarding.uid].join("\u0000")

export interface EventOrigin {
  readonly reportingController: string
  readonly reportingInstance: string
  readonly action: string
}

export interface EventOccurrences {
  readonly name: string
  readonly firstNanos: bigint
  readonly lastNanos: bigint
  readonly count: number
}

/** The body of the Event's create: a series already when it was seen more than once before it could be written. */
export const eventBody = (
  regarding: WorkloadOwner,
  content: EventContent,
  origin: EventOrigin,
  occurrences: EventOccurrences
): Record<string, unknown> => ({
  apiVersion: "events.k8s.io/v1",
  kind: "Event",
  metadata: { name: occurrences.name, namespace: regarding.namespace },
  eventTime: microTime(occurrences.firstNanos),
  ...(occurrences.count >= 2 ? { series: seriesOf(occurrences) } : {}),
  reportingController: origin.reportingController,
  reportingInstance: origin.reportingInstance,
  action: origin.action,
  reason: content.reason,
  type: content.type,
  note: content.note,
  regarding: {
    apiVersion: regarding.apiVersion,
    kind: regarding.kind,
    namespace: regarding.namespace,
    name: regarding.name,
    ...(regarding.uid === "" ? {} : { uid: regarding.uid })
  }
})

/** A series update (JSON merge patch): only the count and the last time change. */
export const seriesPatch = (occurrences: EventOccurrences): Record<string, unknown> => ({ series: seriesOf(occurrences) })

const seriesOf = (occurrences: EventOccurrences) => ({
  count: occurrences.count,
  lastObservedTime: microTime(occurrences.lastNanos)
})

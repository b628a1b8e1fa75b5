import { Duration, Either, ParseResult, Schema } from "effect"

/**
 * What leader election reads from and writes to a coordination.k8s.io/v1
 * Lease's spec (client-go's LeaderElectionRecord). Times stay the strings
 * the server sent, so a record written back keeps them to the microsecond.
 */
export interface LeaseRecord {
  /** "" when nobody holds the lease (e.g. after a release). */
  readonly holderIdentity: string
  readonly leaseDurationSeconds: number
  readonly acquireTime: string | undefined
  readonly renewTime: string | undefined
  readonly leaseTransitions: number
}

/** A Lease as stored: the whole object (sent back on update), its resourceVersion and its record. */
export interface StoredLease {
  readonly object: Readonly<Record<string, unknown>>
  readonly resourceVersion: string
  readonly record: LeaseRecord
}

const LeaseJson = Schema.Struct({
  metadata: Schema.Struct({ resourceVersion: Schema.String }),
  spec: Schema.optional(Schema.NullishOr(Schema.Struct({
    holderIdentity: Schema.optional(Schema.NullishOr(Schema.String)),
    leaseDurationSeconds: Schema.optional(Schema.NullishOr(Schema.Int)),
    acquireTime: Schema.optional(Schema.NullishOr(Schema.String)),
    renewTime: Schema.optional(Schema.NullishOr(Schema.String)),
    leaseTransitions: Schema.optional(Schema.NullishOr(Schema.Int))
  })))
})

const decodeLeaseJson = Schema.decodeUnknownEither(LeaseJson)

/** Reads a Lease object from the API; Left with a readable reason when it is not one. */
export const decodeLease = (json: unknown): Either.Either<StoredLease, string> =>
  decodeLeaseJson(json).pipe(
    Either.mapLeft((error) => ParseResult.TreeFormatter.formatErrorSync(error)),
    Either.map((lease) => {
      const spec = lease.spec ?? {}
      return {
        object: json as Readonly<Record<string, unknown>>,
        resourceVersion: lease.metadata.resourceVersion,
        record: {
          holderIdentity: spec.holderIdentity ?? "",
          leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
          acquireTime: spec.acquireTime ?? undefined,
          renewTime: spec.renewTime ?? undefined,
          leaseTransitions: spec.leaseTransitions ?? 0
        }
      }
    })
  )

/** The spec fields leader election owns; absent times are left out rather than sent as null. */
const specFields = (record: LeaseRecord): Record<string, unknown> => ({
  holderIdentity: record.holderIdentity,
  leaseDurationSeconds: record.leaseDurationSeconds,
  leaseTransitions: record.leaseTransitions,
  ...(record.acquireTime === undefined ? {} : { acquireTime: record.acquireTime }),
  ...(record.renewTime === undefined ? {} : { renewTime: record.renewTime })
})

/** The body of the POST that creates the Lease. */
export const leaseToCreate = (name: string, namespace: string, record: LeaseRecord): Record<string, unknown> => ({
  apiVersion: "coordination.k8s.io/v1",
  kind: "Lease",
  metadata: { name, namespace },
  spec: specFields(record)
})

/**
 * The body of the PUT that writes `record`: the stored object with its
 * metadata (resourceVersion included, so a writer racing us gets 409
 * Conflict instead of silently overwriting), other spec fields we do not
 * own (strategy, preferredHolder) kept as they were.
 */
export const leaseToUpdate = (stored: StoredLease, record: LeaseRecord): Record<string, unknown> => {
  const { holderIdentity: _h, leaseDurationSeconds: _d, acquireTime: _a, renewTime: _r, leaseTransitions: _t, ...otherSpec } =
    (stored.object["spec"] ?? {}) as Record<string, unknown>
  const metadata = (stored.object["metadata"] ?? {}) as Record<string, unknown>
  return {
    ...stored.object,
    metadata: { ...metadata, resourceVersion: stored.resourceVersion },
    spec: { ...otherSpec, ...specFields(record) }
  }
}

/** Whether two records say the same thing (client-go compares the raw records to decide when to restart its observation). */
export const sameRecord = (a: LeaseRecord, b: LeaseRecord): boolean =>
  a.holderIdentity === b.holderIdentity &&
  a.leaseDurationSeconds === b.leaseDurationSeconds &&
  a.acquireTime === b.acquireTime &&
  a.renewTime === b.renewTime &&
  a.leaseTransitions === b.leaseTransitions

/**
 * A MicroTime: RFC 3339 with exactly six fractional digits. The API server
 * rejects `Date.toISOString()`'s three with 400, so the milliseconds are
 * padded (the clock has no finer resolution to offer).
 */
export const formatMicroTime = (epochMillis: number): string => {
  const iso = new Date(epochMillis).toISOString() // 2024-05-01T12:00:00.123Z
  return `${iso.slice(0, -1)}000Z`
}

/** `leaseDurationSeconds` for a duration: whole seconds, as client-go's `int(LeaseDuration / time.Second)`. */
export const wholeSeconds = (duration: Duration.DurationInput): number =>
  Math.floor(Duration.toMillis(Duration.decode(duration)) / 1000)

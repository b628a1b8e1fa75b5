import { Effect, Either, Option, Ref } from "effect"
import type { KubeApi } from "../kube/KubeApi.ts"
import { LEASES } from "../kube/resources.ts"
import { makeVersionedObject, type StoredObject, VersionedObjectError } from "../kube/VersionedObject.ts"
import { decodeLease, type LeaseRecord, leaseToCreate, leaseToUpdate, type StoredLease } from "./leaseRecord.ts"

export interface LeaseRef {
  readonly name: string
  readonly namespace: string
}

/**
 * One Lease (client-go's LeaseLock), a versioned object: it remembers the
 * Lease as last read or written, and an update sends that object back with
 * its resourceVersion, so it only succeeds when nobody wrote in between.
 */
export interface LeaseLock {
  readonly describe: string
  /** The current record; None when the Lease does not exist. */
  readonly get: Effect.Effect<Option.Option<LeaseRecord>, VersionedObjectError>
  readonly create: (record: LeaseRecord) => Effect.Effect<void, VersionedObjectError>
  /** Fails (without a request) when the Lease has never been read or created here. */
  readonly update: (record: LeaseRecord) => Effect.Effect<void, VersionedObjectError>
}

export const makeLeaseLock = (lease: LeaseRef): Effect.Effect<LeaseLock, never, KubeApi> =>
  Effect.gen(function*() {
    const store = yield* makeVersionedObject(LEASES, lease.namespace, lease.name)
    const last = yield* Ref.make(Option.none<StoredLease>())

    /** Keeps what the server answered: its resourceVersion is the one the next update must carry. */
    const remember = (operation: VersionedObjectError["operation"]) => (stored: StoredObject): Effect.Effect<StoredLease, VersionedObjectError> =>
      Either.match(decodeLease(stored.object), {
        onLeft: (reason) =>
          Effect.fail(new VersionedObjectError({ kind: "Lease", operation, status: 200, message: `the answer is not a Lease: ${reason}` })),
        onRight: (decoded) => Ref.set(last, Option.some(decoded)).pipe(Effect.as(decoded))
      })

    const get = store.get.pipe(
      Effect.flatMap(Option.match({
        onNone: () => Ref.set(last, Option.none()).pipe(Effect.as(Option.none<LeaseRecord>())),
        onSome: (stored) => remember("get")(stored).pipe(Effect.map((decoded) => Option.some(decoded.record)))
      }))
    )

    const create = (record: LeaseRecord) =>
      store.create(leaseToCreate(lease.name, lease.namespace, record)).pipe(Effect.flatMap(remember("create")), Effect.asVoid)

    const update = (record: LeaseRecord) =>
      Ref.get(last).pipe(
        Effect.flatMap(Option.match({
          onNone: () =>
            Effect.fail(new VersionedObjectError({ kind: "Lease", operation: "update", status: 0, message: "the Lease has not been read yet" })),
          onSome: (stored) =>
            store.update(leaseToUpdate(stored, record), stored.resourceVersion).pipe(Effect.flatMap(remember("update")))
        })),
        Effect.asVoid
      )

    return { describe: store.describe, get, create, update }
  })

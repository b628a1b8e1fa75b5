import { Data, Effect, Either, Option, Ref } from "effect"
import { KubeApi, type KubeApiError } from "../kube/KubeApi.ts"
import { decodeLease, type LeaseRecord, leaseToCreate, leaseToUpdate, type StoredLease } from "./leaseRecord.ts"

/** A failed Lease read or write. `status` is the HTTP status (409: someone else wrote first; 0: transport). */
export class LeaseLockError extends Data.TaggedError("LeaseLockError")<{
  readonly operation: "get" | "create" | "update"
  readonly status: number
  readonly message: string
}> {}

export interface LeaseRef {
  readonly name: string
  readonly namespace: string
}

/**
 * One Lease, read and written through the raw API (client-go's LeaseLock).
 * It remembers the Lease as last read or written: an update sends that
 * object back with its resourceVersion, so it only succeeds when nobody
 * wrote in between (optimistic concurrency).
 */
export interface LeaseLock {
  readonly describe: string
  /** The current record; None when the Lease does not exist. */
  readonly get: Effect.Effect<Option.Option<LeaseRecord>, LeaseLockError>
  readonly create: (record: LeaseRecord) => Effect.Effect<void, LeaseLockError>
  /** Fails (without a request) when the Lease has never been read or created here. */
  readonly update: (record: LeaseRecord) => Effect.Effect<void, LeaseLockError>
}

export const makeLeaseLock = (lease: LeaseRef): Effect.Effect<LeaseLock, never, KubeApi> =>
  Effect.gen(function*() {
    const api = yield* KubeApi
    const collection = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(lease.namespace)}/leases`
    const path = `${collection}/${encodeURIComponent(lease.name)}`
    const last = yield* Ref.make(Option.none<StoredLease>())

    const failed = (operation: LeaseLockError["operation"]) => (e: KubeApiError) =>
      new LeaseLockError({ operation, status: e.status, message: e.reason === "" ? e.message : `${e.reason}: ${e.message}` })

    /** Keeps what the server answered: its resourceVersion is the one the next update must carry. */
    const remember = (operation: LeaseLockError["operation"]) => (json: unknown) =>
      Either.match(decodeLease(json), {
        onLeft: (reason) =>
          Effect.fail(new LeaseLockError({ operation, status: 200, message: `the answer is not a Lease: ${reason}` })),
        onRight: (stored) => Ref.set(last, Option.some(stored)).pipe(Effect.as(stored))
      })

    const get = api.getJson(path, {}).pipe(
      Effect.mapError(failed("get")),
      Effect.flatMap(remember("get")),
      Effect.map((stored) => Option.some(stored.record)),
      Effect.catchIf((e) => e.status === 404, () => Ref.set(last, Option.none()).pipe(Effect.as(Option.none())))
    )

    const create = (record: LeaseRecord) =>
      api.send("POST", collection, leaseToCreate(lease.name, lease.namespace, record)).pipe(
        Effect.mapError(failed("create")),
        Effect.flatMap(remember("create")),
        Effect.asVoid
      )

    const update = (record: LeaseRecord) =>
      Ref.get(last).pipe(
        Effect.flatMap(Option.match({
          onNone: () =>
            Effect.fail(new LeaseLockError({ operation: "update", status: 0, message: "the Lease has not been read yet" })),
          onSome: (stored) =>
            api.send("PUT", path, leaseToUpdate(stored, record)).pipe(
              Effect.mapError(failed("update")),
              Effect.flatMap(remember("update"))
            )
        })),
        Effect.asVoid
      )

    return { describe: `${lease.namespace}/${lease.name}`, get, create, update }
  })

import { Data, Effect, Option } from "effect"
import { KubeApi, type KubeApiError } from "./KubeApi.ts"
import { namespacedCollectionPath, type ResourceKind } from "./resources.ts"

/** A failed read or write. `status` is the HTTP status (403: RBAC; 404: absent; 409: someone else wrote first; 0: transport). */
export class VersionedObjectError extends Data.TaggedError("VersionedObjectError")<{
  readonly kind: string
  readonly operation: "get" | "create" | "update"
  readonly status: number
  readonly message: string
}> {}

export const isForbidden = (error: VersionedObjectError): boolean => error.status === 403
export const isConflict = (error: VersionedObjectError): boolean => error.status === 409

/** An object as the server stored it: the whole of it (an update sends back what we do not own) and its resourceVersion. */
export interface StoredObject {
  readonly object: Readonly<Record<string, unknown>>
  readonly resourceVersion: string
}

/**
 * One named object the controller writes (its Lease, its state ConfigMap),
 * with optimistic concurrency: an update carries the resourceVersion it was
 * based on, so it succeeds only when nobody wrote in between (409 then).
 */
export interface VersionedObject {
  readonly describe: string
  /** None when the object does not exist. */
  readonly get: Effect.Effect<Option.Option<StoredObject>, VersionedObjectError>
  readonly create: (object: Readonly<Record<string, unknown>>) => Effect.Effect<StoredObject, VersionedObjectError>
  readonly update: (object: Readonly<Record<string, unknown>>, resourceVersion: string) => Effect.Effect<StoredObject, VersionedObjectError>
}

const storedForm = (json: unknown): StoredObject | undefined => {
  if (typeof json !== "object" || json === null) return undefined
  const metadata = (json as { metadata?: unknown }).metadata
  const resourceVersion = typeof metadata === "object" && metadata !== null ? (metadata as { resourceVersion?: unknown }).resourceVersion : undefined
  return typeof resourceVersion === "string" ? { object: json as Readonly<Record<string, unknown>>, resourceVersion } : undefined
}

export const makeVersionedObject = (
  resource: ResourceKind,
  namespace: string,
  name: string
): Effect.Effect<VersionedObject, never, KubeApi> =>
  Effect.gen(function*() {
    const api = yield* KubeApi
    const collection = namespacedCollectionPath(resource, namespace)
    const path = `${collection}/${encodeURIComponent(name)}`

    const failed = (operation: VersionedObjectError["operation"]) => (e: KubeApiError) =>
      new VersionedObjectError({
        kind: resource.kind,
        operation,
        status: e.status,
        message: e.reason === "" ? e.message : `${e.reason}: ${e.message}`
      })

    const stored = (operation: VersionedObjectError["operation"]) => (json: unknown) => {
      const found = storedForm(json)
      return found === undefined
        ? Effect.fail(new VersionedObjectError({ kind: resource.kind, operation, status: 0, message: `the answer is not a ${resource.kind}` }))
        : Effect.succeed(found)
    }

    const withIdentity = (object: Readonly<Record<string, unknown>>, resourceVersion?: string) => ({
      apiVersion: resource.apiVersion,
      kind: resource.kind,
      ...object,
      metadata: {
        ...((object["metadata"] ?? {}) as Record<string, unknown>),
        name,
        namespace,
        ...(resourceVersion === undefined ? {} : { resourceVersion })
      }
    })

    return {
      describe: `${namespace}/${name}`,
      get: api.getJson(path, {}).pipe(
        Effect.mapError(failed("get")),
        Effect.flatMap(stored("get")),
        Effect.map(Option.some),
        Effect.catchIf((e) => e.status === 404, () => Effect.succeedNone)
      ),
      create: (object) =>
        api.send("POST", collection, withIdentity(object)).pipe(Effect.mapError(failed("create")), Effect.flatMap(stored("create"))),
      update: (object, resourceVersion) =>
        api.send("PUT", path, withIdentity(object, resourceVersion)).pipe(
          Effect.mapError(failed("update")),
          Effect.flatMap(stored("update"))
        )
    } satisfies VersionedObject
  })

import { Data, Effect, Option } from "effect"
import { KubeApi, type KubeApiError } from "../kube/KubeApi.ts"

/**
 * A failed read or write of the state ConfigMap. `status` is the HTTP
 * status (403: RBAC does not allow it; 409: someone else wrote first; 0:
 * transport or an unreadable answer).
 */
export class StateConfigMapError extends Data.TaggedError("StateConfigMapError")<{
  readonly operation: "get" | "create" | "update"
  readonly status: number
  readonly message: string
}> {}

export const isForbidden = (error: StateConfigMapError): boolean => error.status === 403

/** The ConfigMap as read: its data and the resourceVersion a write must carry. */
export interface StoredConfigMap {
  readonly resourceVersion: string
  readonly data: Readonly<Record<string, string>>
}

export interface ConfigMapRef {
  readonly name: string
  readonly namespace: string
}

/** Attempts of one write when other writers keep winning (409) in between. */
export const WRITE_ATTEMPTS = 5

export interface StateConfigMap {
  readonly describe: string
  /** None when the ConfigMap does not exist. */
  readonly read: Effect.Effect<Option.Option<StoredConfigMap>, StateConfigMapError>
  /**
   * Sets one key, leaving the others as they are. `render` gets the data
   * currently stored (the other keys take part of the size budget) and
   * returns the key's new value. Writes carry the resourceVersion they read:
   * on 409 the ConfigMap is read again and the write repeated.
   */
  readonly writeKey: (
    key: string,
    render: (current: Readonly<Record<string, string>>) => string
  ) => Effect.Effect<void, StateConfigMapError>
}

const LABELS = { "app.kubernetes.io/name": "deployment-tracker", "app.kubernetes.io/component": "state" } as const

const decodeConfigMap = (json: unknown): StoredConfigMap | undefined => {
  if (typeof json !== "object" || json === null) return undefined
  const { metadata, data } = json as { metadata?: { resourceVersion?: unknown }; data?: unknown }
  const resourceVersion = metadata?.resourceVersion
  if (typeof resourceVersion !== "string") return undefined
  const strings: Record<string, string> = {}
  if (typeof data === "object" && data !== null) {
    for (const [key, value] of Object.entries(data)) if (typeof value === "string") strings[key] = value
  }
  return { resourceVersion, data: strings }
}

/** The state ConfigMap, read and written through the raw API (like the Lease). */
export const makeStateConfigMap = (ref: ConfigMapRef): Effect.Effect<StateConfigMap, never, KubeApi> =>
  Effect.gen(function*() {
    const api = yield* KubeApi
    const collection = `/api/v1/namespaces/${encodeURIComponent(ref.namespace)}/configmaps`
    const path = `${collection}/${encodeURIComponent(ref.name)}`

    const failed = (operation: StateConfigMapError["operation"]) => (e: KubeApiError) =>
      new StateConfigMapError({ operation, status: e.status, message: e.reason === "" ? e.message : `${e.reason}: ${e.message}` })

    const decoded = (operation: StateConfigMapError["operation"]) => (json: unknown) => {
      const stored = decodeConfigMap(json)
      return stored === undefined
        ? Effect.fail(new StateConfigMapError({ operation, status: 0, message: "the answer is not a ConfigMap" }))
        : Effect.succeed(stored)
    }

    const read = api.getJson(path, {}).pipe(
      Effect.mapError(failed("get")),
      Effect.flatMap(decoded("get")),
      Effect.map(Option.some),
      Effect.catchIf((e) => e.status === 404, () => Effect.succeed(Option.none<StoredConfigMap>()))
    )

    const writeOnce = (key: string, render: (current: Readonly<Record<string, string>>) => string) =>
      Effect.gen(function*() {
        const current = yield* read
        if (Option.isNone(current)) {
          yield* api.send("POST", collection, {
            apiVersion: "v1",
            kind: "ConfigMap",
            metadata: { name: ref.name, namespace: ref.namespace, labels: LABELS },
            data: { [key]: render({}) }
          }).pipe(Effect.mapError(failed("create")))
          return
        }
        const { data, resourceVersion } = current.value
        yield* api.send("PUT", path, {
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: { name: ref.name, namespace: ref.namespace, resourceVersion, labels: LABELS },
          data: { ...data, [key]: render(data) }
        }).pipe(Effect.mapError(failed("update")))
      })

    const writeKey = (key: string, render: (current: Readonly<Record<string, string>>) => string) =>
      writeOnce(key, render).pipe(
        // 409: a newer version was written (or the ConfigMap created) since the read; read again.
        Effect.retry({ while: (e) => e.status === 409, times: WRITE_ATTEMPTS - 1 })
      )

    return { describe: `${ref.namespace}/${ref.name}`, read, writeKey }
  })

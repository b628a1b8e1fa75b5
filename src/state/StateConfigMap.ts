import { Effect, Option } from "effect"
import type { KubeApi } from "../kube/KubeApi.ts"
import { CONFIG_MAPS } from "../kube/resources.ts"
import { isConflict, makeVersionedObject, type StoredObject, type VersionedObjectError } from "../kube/VersionedObject.ts"

export { isForbidden } from "../kube/VersionedObject.ts"

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
  readonly read: Effect.Effect<Option.Option<StoredConfigMap>, VersionedObjectError>
  /**
   * Sets one key, leaving the others as they are. `render` gets the data
   * currently stored (the other keys take part of the size budget) and
   * returns the key's new value. Writes carry the resourceVersion they read:
   * on 409 the ConfigMap is read again and the write repeated.
   */
  readonly writeKey: (
    key: string,
    render: (current: Readonly<Record<string, string>>) => string
  ) => Effect.Effect<void, VersionedObjectError>
}

const LABELS = { "app.kubernetes.io/name": "deployment-tracker", "app.kubernetes.io/component": "state" } as const

const dataOf = (stored: StoredObject): StoredConfigMap => {
  const strings: Record<string, string> = {}
  const data = stored.object["data"]
  if (typeof data === "object" && data !== null) {
    for (const [key, value] of Object.entries(data)) if (typeof value === "string") strings[key] = value
  }
  return { resourceVersion: stored.resourceVersion, data: strings }
}

/** The state ConfigMap: a versioned object whose keys each tracker scope writes on its own. */
export const makeStateConfigMap = (ref: ConfigMapRef): Effect.Effect<StateConfigMap, never, KubeApi> =>
  Effect.gen(function*() {
    const store = yield* makeVersionedObject(CONFIG_MAPS, ref.namespace, ref.name)
    const read = store.get.pipe(Effect.map(Option.map(dataOf)))

    const writeOnce = (key: string, render: (current: Readonly<Record<string, string>>) => string) =>
      Effect.gen(function*() {
        const current = yield* read
        if (Option.isNone(current)) {
          yield* store.create({ metadata: { labels: LABELS }, data: { [key]: render({}) } })
          return
        }
        const { data, resourceVersion } = current.value
        yield* store.update({ metadata: { labels: LABELS }, data: { ...data, [key]: render(data) } }, resourceVersion)
      })

    const writeKey = (key: string, render: (current: Readonly<Record<string, string>>) => string) =>
      writeOnce(key, render).pipe(
        // 409: a newer version was written (or the ConfigMap created) since the read; read again.
        Effect.retry({ while: isConflict, times: WRITE_ATTEMPTS - 1 })
      )

    return { describe: store.describe, read, writeKey }
  })

import { Effect, Stream } from "effect"
import { KubeApi, KubeApiError } from "../../src/kube/KubeApi.ts"

export const STATE = { name: "deployment-tracker-state", namespace: "deployment-tracker" } as const
const COLLECTION = `/api/v1/namespaces/${STATE.namespace}/configmaps`
const OBJECT = `${COLLECTION}/${STATE.name}`

export interface StoredConfigMapJson {
  readonly metadata: { readonly name: string; readonly namespace: string; readonly resourceVersion: string }
  readonly data: Readonly<Record<string, string>>
}

export interface ConfigMapCall {
  readonly method: "GET" | "POST" | "PUT"
  readonly status: number
}

/**
 * An API server holding (at most) one ConfigMap, strict where it matters: a
 * PUT must carry the stored resourceVersion (else 409 Conflict), a POST of
 * an existing ConfigMap is 409 AlreadyExists, a missing one is 404. Tests
 * can forbid verbs (403, as RBAC would), inject a concurrent writer before
 * the next N writes (so they meet 409), or make every call fail (outage).
 */
export const makeFakeConfigMapApi = (initial?: Readonly<Record<string, string>>) => {
  let version = 0
  let stored: StoredConfigMapJson | undefined
  const calls: Array<ConfigMapCall> = []
  const forbidden = new Set<ConfigMapCall["method"]>()
  let racingWrites = 0
  let outage = false
  let hanging = false

  const store = (data: Readonly<Record<string, string>>) => {
    version += 1
    stored = { metadata: { ...STATE, resourceVersion: String(version) }, data: { ...data } }
    return JSON.parse(JSON.stringify(stored)) as unknown
  }
  if (initial !== undefined) store(initial)

  const fail = (method: ConfigMapCall["method"], status: number, reason: string) => {
    calls.push({ method, status })
    return Effect.fail(new KubeApiError({ status, reason, message: `${method} ${reason}` }))
  }

  const api: KubeApi["Type"] = {
    server: "https://fake",
    stream: () => Stream.die("the fake ConfigMap API does not stream"),
    getJson: (path) =>
      Effect.suspend(() => {
        if (path !== OBJECT) return Effect.die(`unexpected GET ${path}`)
        if (outage) return fail("GET", 503, "ServiceUnavailable")
        if (forbidden.has("GET")) return fail("GET", 403, "Forbidden")
        if (stored === undefined) return fail("GET", 404, "NotFound")
        calls.push({ method: "GET", status: 200 })
        return Effect.succeed(JSON.parse(JSON.stringify(stored)) as unknown)
      }),
    send: (method, path, body) =>
      Effect.suspend(() => {
        if (method === "PATCH") return Effect.die(`unexpected PATCH ${path}`)
        if (hanging) return Effect.never
        if (outage) return fail(method, 503, "ServiceUnavailable")
        if (forbidden.has(method)) return fail(method, 403, "Forbidden")
        const object = body as { metadata?: { name?: string; resourceVersion?: string }; data?: Record<string, string> }
        // Another writer got in first: the write meets a newer version.
        if (racingWrites > 0) {
          racingWrites -= 1
          store({ ...stored?.data, "other-tracker.json": `written by someone else ${version}` })
        }
        if (method === "POST") {
          if (path !== COLLECTION || object.metadata?.name !== STATE.name) return Effect.die(`unexpected POST ${path}`)
          if (stored !== undefined) return fail("POST", 409, "AlreadyExists")
        } else {
          if (path !== OBJECT) return Effect.die(`unexpected PUT ${path}`)
          if (stored === undefined) return fail("PUT", 404, "NotFound")
          if (object.metadata?.resourceVersion !== stored.metadata.resourceVersion) return fail("PUT", 409, "Conflict")
        }
        calls.push({ method, status: method === "POST" ? 201 : 200 })
        return Effect.succeed(store(object.data ?? {}))
      })
  }

  return {
    api,
    calls,
    data: (): Readonly<Record<string, string>> | undefined => stored?.data,
    /** Replaces the content as another writer would (a new resourceVersion). */
    put: (data: Readonly<Record<string, string>>) => void store(data),
    forbid: (...methods: ReadonlyArray<ConfigMapCall["method"]>) => methods.forEach((m) => forbidden.add(m)),
    raceNextWrites: (count: number) => void (racingWrites = count),
    setOutage: (on: boolean) => void (outage = on),
    /** Writes never answer (an API server that accepted the connection and went silent). */
    hangWrites: () => void (hanging = true),
    writes: () => calls.filter((c) => c.method !== "GET" && c.status < 300).length
  }
}

export type FakeConfigMapApi = ReturnType<typeof makeFakeConfigMapApi>

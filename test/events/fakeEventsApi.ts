import { Deferred, Effect, FiberId, Stream } from "effect"
import { KubeApi, KubeApiError } from "../../src/kube/KubeApi.ts"

/** An Event as the fake API server stores it. */
export interface StoredEvent {
  readonly metadata: { readonly name: string; readonly namespace: string }
  readonly eventTime: string
  readonly series?: { readonly count: number; readonly lastObservedTime: string }
  readonly reportingController: string
  readonly reportingInstance: string
  readonly action: string
  readonly reason: string
  readonly type: string
  readonly note: string
  readonly regarding: {
    readonly apiVersion: string
    readonly kind: string
    readonly namespace: string
    readonly name: string
    readonly uid?: string
  }
}

export interface EventWrite {
  readonly method: "POST" | "PATCH"
  readonly namespace: string
  readonly name: string
  /** 0 while the write has no answer (a stuck API server). */
  status: number
  readonly body: unknown
}

/** How the fake answers writes. */
export type FakeMode =
  | "ok"
  /** RBAC without the events rule: 403 with the authorizer's message. */
  | "forbidden"
  /** 503 for every write. */
  | "outage"
  /** No answer, ever (until `release`). */
  | "stuck"

const PATH = /^\/apis\/events\.k8s\.io\/v1\/namespaces\/([^/]+)\/events(?:\/([^/]+))?$/
const MICRO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const QUALIFIED_NAME = /^([a-z0-9.-]+\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/

/** What the API server's events.k8s.io/v1 validation says about a create; undefined when it passes. */
const createProblem = (namespace: string, event: StoredEvent): string | undefined => {
  if (event.metadata?.namespace !== namespace) return "metadata.namespace does not match the path"
  if (event.regarding?.namespace !== namespace) return "regarding.namespace does not match event.namespace"
  if (event.metadata.name.length > 253 || !DNS_SUBDOMAIN.test(event.metadata.name)) return "metadata.name: not a DNS subdomain"
  if (!MICRO_TIME.test(event.eventTime ?? "")) return "eventTime: required (MicroTime)"
  if (event.series !== undefined && (event.series.count < 2 || !MICRO_TIME.test(event.series.lastObservedTime))) {
    return "series: count at least 2 and lastObservedTime required"
  }
  if (!QUALIFIED_NAME.test(event.reportingController ?? "")) return "reportingController: not a qualified name"
  if ((event.reportingInstance ?? "") === "" || event.reportingInstance.length > 128) return "reportingInstance: 1..128 characters"
  if ((event.action ?? "") === "" || event.action.length > 128) return "action: 1..128 characters"
  if ((event.reason ?? "") === "" || event.reason.length > 128) return "reason: 1..128 characters"
  if (event.type !== "Normal" && event.type !== "Warning") return "type: Normal or Warning"
  if (Buffer.byteLength(event.note ?? "", "utf8") > 1024) return "note: at most 1024 bytes"
  return undefined
}

/**
 * An API server holding events.k8s.io Events, strict where the recorder
 * could go wrong: creates are validated like the real server's, a create of
 * an existing name is 409, a series PATCH may only change the series (the
 * note and everything else are immutable) and needs the Event to exist
 * (404). Writes are recorded in order with their answers.
 */
export const makeFakeEventsApi = () => {
  const stored = new Map<string, StoredEvent>()
  const writes: Array<EventWrite> = []
  const terminating = new Set<string>()
  let mode: FakeMode = "ok"
  let release = Deferred.unsafeMake<void>(FiberId.none)

  const fail = (write: EventWrite, status: number, reason: string, message: string) => {
    write.status = status
    return Effect.fail(new KubeApiError({ status, reason, message }))
  }

  const answer = (write: EventWrite): Effect.Effect<unknown, KubeApiError> =>
    Effect.suspend(() => {
      const key = `${write.namespace}/${write.name}`
      if (mode === "forbidden") {
        return fail(
          write,
          403,
          "Forbidden",
          `events.events.k8s.io is forbidden: User "system:serviceaccount:deployment-tracker:deployment-tracker" cannot ${write.method === "POST" ? "create" : "patch"} resource "events" in API group "events.k8s.io" in the namespace "${write.namespace}"`
        )
      }
      if (mode === "outage") return fail(write, 503, "ServiceUnavailable", "the server is currently unable to handle the request")
      if (write.method === "POST") {
        if (terminating.has(write.namespace)) {
          return fail(
            write,
            403,
            "Forbidden",
            `events.events.k8s.io "${write.name}" is forbidden: unable to create new content in namespace ${write.namespace} because it is being terminated`
          )
        }
        const event = write.body as StoredEvent
        const problem = createProblem(write.namespace, event)
        if (problem !== undefined) return fail(write, 422, "Invalid", problem)
        if (stored.has(key)) return fail(write, 409, "AlreadyExists", `events.events.k8s.io "${write.name}" already exists`)
        stored.set(key, JSON.parse(JSON.stringify(event)) as StoredEvent)
        write.status = 201
        return Effect.succeed(event as unknown)
      }
      const current = stored.get(key)
      if (current === undefined) return fail(write, 404, "NotFound", `events.events.k8s.io "${write.name}" not found`)
      const patch = write.body as { series?: StoredEvent["series"] }
      if (Object.keys(patch).join() !== "series" || patch.series === undefined) return fail(write, 422, "Invalid", "only the series may change")
      if (patch.series.count < 2 || !MICRO_TIME.test(patch.series.lastObservedTime)) return fail(write, 422, "Invalid", "series: invalid")
      const next = { ...current, series: patch.series }
      stored.set(key, next)
      write.status = 200
      return Effect.succeed(next as unknown)
    })

  const api: KubeApi["Type"] = {
    server: "https://fake",
    getJson: (path) => Effect.die(`the fake events API reads nothing (GET ${path})`),
    stream: () => Stream.die("the fake events API does not stream"),
    send: (method, path, body) =>
      Effect.suspend(() => {
        const match = PATH.exec(path)
        if (match === null || (method !== "POST" && method !== "PATCH")) return Effect.die(`unexpected ${method} ${path}`)
        const namespace = decodeURIComponent(match[1]!)
        const name = method === "POST" ? String((body as StoredEvent).metadata?.name) : decodeURIComponent(match[2] ?? "")
        if (method === "POST" && match[2] !== undefined) return Effect.die(`POST to an object path ${path}`)
        const write: EventWrite = { method, namespace, name, status: 0, body: JSON.parse(JSON.stringify(body)) }
        writes.push(write)
        return mode === "stuck" ? Deferred.await(release).pipe(Effect.zipRight(answer(write))) : answer(write)
      })
  }

  return {
    api,
    writes,
    /** Stored Events, by `namespace/name`. */
    events: (): ReadonlyArray<StoredEvent> => [...stored.values()],
    setMode: (next: FakeMode) => {
      if (mode === "stuck" && next !== "stuck") Deferred.unsafeDone(release, Effect.void)
      if (next === "stuck") release = Deferred.unsafeMake<void>(FiberId.none)
      mode = next
    },
    /** New content in this namespace is refused (403, not RBAC's). */
    terminate: (namespace: string) => void terminating.add(namespace),
    /** Deletes an Event (as the API server's TTL does). */
    expire: (namespace: string, name: string) => void stored.delete(`${namespace}/${name}`),
    /** Writes that were answered 2xx. */
    succeeded: () => writes.filter((w) => w.status >= 200 && w.status < 300)
  }
}

export type FakeEventsApi = ReturnType<typeof makeFakeEventsApi>

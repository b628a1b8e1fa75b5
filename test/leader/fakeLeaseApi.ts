import { Duration, Effect, Option, Ref, Stream } from "effect"
import { KubeApi, KubeApiError } from "../../src/kube/KubeApi.ts"

export const LEASE = { name: "deployment-tracker", namespace: "deployment-tracker" } as const
const COLLECTION = `/apis/coordination.k8s.io/v1/namespaces/${LEASE.namespace}/leases`
const OBJECT = `${COLLECTION}/${LEASE.name}`

/** What the API server accepts as MicroTime: RFC 3339 with exactly six fractional digits. */
const MICRO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/

export interface LeaseSpecJson {
  readonly holderIdentity?: string
  readonly leaseDurationSeconds?: number
  readonly acquireTime?: string
  readonly renewTime?: string
  readonly leaseTransitions?: number
}

export interface LeaseJson {
  readonly metadata: { readonly name: string; readonly namespace: string; readonly resourceVersion: string }
  readonly spec: LeaseSpecJson
}

export interface ApiCall {
  readonly method: "GET" | "POST" | "PUT"
  /** The holder the write asked for (writes only). */
  readonly holder?: string
  readonly status: number
}

/**
 * An API server holding one Lease, as strict as the real one where it
 * matters here: a PUT must carry the stored resourceVersion (stale: 409
 * Conflict), a POST of an existing Lease is 409 AlreadyExists, a missing
 * Lease is 404, a MicroTime without six fractional digits is 400.
 * `setOutage` makes every call fail (an outage); `readDelay` delays every
 * GET's answer (so two candidates can read the same version and race).
 */
export const makeFakeLeaseApi = Effect.gen(function*() {
  const stored = yield* Ref.make(Option.none<LeaseJson>())
  const version = yield* Ref.make(0)
  const outage = yield* Ref.make(Option.none<number>())
  const readDelay = yield* Ref.make(Duration.zero)
  const calls = yield* Ref.make<ReadonlyArray<ApiCall>>([])

  const log = (call: ApiCall) => Ref.update(calls, (all) => [...all, call])
  const fail = (call: ApiCall, reason: string, message: string) =>
    log(call).pipe(Effect.zipRight(Effect.fail(new KubeApiError({ status: call.status, reason, message }))))

  const store = (spec: LeaseSpecJson) =>
    Effect.gen(function*() {
      const rv = yield* Ref.updateAndGet(version, (n) => n + 1)
      const lease: LeaseJson = { metadata: { ...LEASE, resourceVersion: String(rv) }, spec }
      yield* Ref.set(stored, Option.some(lease))
      // A copy, as if it had travelled as JSON.
      return JSON.parse(JSON.stringify(lease)) as unknown
    })

  const invalidTime = (spec: LeaseSpecJson): string | undefined =>
    [spec.acquireTime, spec.renewTime].find((t) => t !== undefined && !MICRO_TIME.test(t))

  const api: KubeApi["Type"] = {
    server: "https://fake",
    stream: () => Stream.die("the fake lease API does not stream"),
    getJson: (path) =>
      Effect.gen(function*() {
        if (path !== OBJECT) return yield* Effect.die(`unexpected GET ${path}`)
        const down = yield* Ref.get(outage)
        if (Option.isSome(down)) return yield* fail({ method: "GET", status: down.value }, "ServiceUnavailable", "outage")
        // The answer is what was stored when the request arrived, however late it comes back.
        const lease = yield* Ref.get(stored)
        const delay = yield* Ref.get(readDelay)
        if (Duration.toMillis(delay) > 0) yield* Effect.sleep(delay)
        if (Option.isNone(lease)) return yield* fail({ method: "GET", status: 404 }, "NotFound", "leases not found")
        yield* log({ method: "GET", status: 200 })
        return JSON.parse(JSON.stringify(lease.value)) as unknown
      }),
    send: (method, path, body) =>
      Effect.gen(function*() {
        if (method === "PATCH") return yield* Effect.die(`unexpected PATCH ${path}`)
        const object = body as { metadata?: { name?: string; resourceVersion?: string }; spec?: LeaseSpecJson }
        const spec = object.spec ?? {}
        const holder = spec.holderIdentity ?? ""
        const down = yield* Ref.get(outage)
        if (Option.isSome(down)) return yield* fail({ method, holder, status: down.value }, "ServiceUnavailable", "outage")
        const bad = invalidTime(spec)
        if (bad !== undefined) return yield* fail({ method, holder, status: 400 }, "BadRequest", `invalid MicroTime ${bad}`)
        const current = yield* Ref.get(stored)
        if (method === "POST") {
          if (path !== COLLECTION || object.metadata?.name !== LEASE.name) return yield* Effect.die(`unexpected POST ${path}`)
          if (Option.isSome(current)) return yield* fail({ method, holder, status: 409 }, "AlreadyExists", "already exists")
        } else {
          if (path !== OBJECT) return yield* Effect.die(`unexpected PUT ${path}`)
          if (Option.isNone(current)) return yield* fail({ method, holder, status: 404 }, "NotFound", "leases not found")
          const rv = object.metadata?.resourceVersion
          // Every update of ours must be conditional; an unconditional one would hide races.
          if (rv === undefined) return yield* fail({ method, holder, status: 400 }, "BadRequest", "no resourceVersion")
          if (rv !== current.value.metadata.resourceVersion) {
            return yield* fail({ method, holder, status: 409 }, "Conflict", "the object has been modified")
          }
        }
        yield* log({ method, holder, status: 200 })
        return yield* store(spec)
      })
  }

  return {
    api,
    /** The stored Lease, if any. */
    lease: Ref.get(stored),
    spec: Ref.get(stored).pipe(Effect.map(Option.map((l) => l.spec))),
    calls: Ref.get(calls),
    /** Writes a Lease directly (as another process would have). */
    seed: (spec: LeaseSpecJson) => Effect.asVoid(store(spec)),
    setOutage: (status: number | undefined) => Ref.set(outage, Option.fromNullable(status)),
    setReadDelay: (delay: Duration.DurationInput) => Ref.set(readDelay, Duration.decode(delay))
  } as const
})

export type FakeLeaseApi = Effect.Effect.Success<typeof makeFakeLeaseApi>

import { randomBytes, randomUUID } from "node:crypto"
import { describe, expect, it } from "@effect/vitest"
import { Context, Duration, Effect, Either, Exit, Layer, Logger, Option, Scope, TestClock } from "effect"
import { KubeApi, KubeApiError } from "../../src/kube/KubeApi.ts"
import { Metrics } from "../../src/observability/Metrics.ts"
import { DeployedStatePersistence, type DeployedNames } from "../../src/state/DeployedStatePersistence.ts"
import { decodeState, encodeState, type RememberedName, stateKey } from "../../src/state/deployedState.ts"
import { WorkloadResolver } from "../../src/workload/Workload.ts"
import { testConfigLayer } from "../support/testConfig.ts"
import { type FakeConfigMapApi, makeFakeConfigMapApi, STATE } from "./fakeConfigMapApi.ts"
import { remembered, SCOPE } from "./fixtures.ts"

const KEY = stateKey(SCOPE)

/**
 * The ledger side, in memory: what EventProcessor does under its locks,
 * reduced to what persistence can observe (names in, names out, revisions).
 */
const makeFakeLedger = () => {
  const entries = new Map<string, RememberedName>()
  let revision = 0
  const decommissioned: Array<string> = []
  let failingPosts = 0
  const port: DeployedNames = {
    revision: () => revision,
    deployed: () => [...entries.values()],
    remember: (names) =>
      Effect.sync(() => {
        for (const name of names) {
          if (!entries.has(name.record.deployment_name)) entries.set(name.record.deployment_name, name)
        }
        revision += 1
      }),
    decommissionGone: (owner) =>
      Effect.sync(() => {
        if (failingPosts > 0) {
          failingPosts -= 1
          return "retry" as const
        }
        for (const [name, entry] of entries) {
          if (entry.owner.uid === owner.uid) {
            entries.delete(name)
            decommissioned.push(name)
          }
        }
        revision += 1
        return "done" as const
      })
  }
  return {
    port,
    decommissioned,
    names: () => [...entries.keys()].sort(),
    deploy: (name: RememberedName) => {
      entries.set(name.record.deployment_name, name)
      revision += 1
    },
    failPosts: (count: number) => void (failingPosts = count)
  }
}

/** Workloads by uid: running, gone, or the API cannot tell (error). */
const fakeResolver = (states: Map<string, "running" | "gone" | "error">) => {
  const asked: Array<string> = []
  const layer = Layer.succeed(WorkloadResolver, {
    resolve: () => Effect.succeed(Option.none()),
    isActive: (workload) =>
      Effect.suspend(() => {
        asked.push(workload.uid)
        const state = states.get(workload.uid) ?? "gone"
        return state === "error"
          ? Effect.fail(new KubeApiError({ status: 503, reason: "ServiceUnavailable", message: "try later" }))
          : Effect.succeed(state === "running")
      })
  })
  return { layer, asked }
}

interface Harness {
  readonly persistence: DeployedStatePersistence
  readonly metrics: Metrics
  readonly scope: Scope.CloseableScope
  readonly logs: Array<{ readonly level: string; readonly message: string }>
}

/** The service over the fakes, in a scope of its own (closing it is the shutdown). */
const start = (
  fake: FakeConfigMapApi,
  states: Map<string, "running" | "gone" | "error"> = new Map(),
  options: { readonly dryRun?: boolean; readonly off?: boolean } = {}
) =>
  Effect.gen(function*() {
    const logs: Array<{ level: string; message: string }> = []
    const logger = Logger.make(({ logLevel, message }) => {
      logs.push({ level: logLevel.label, message: Array.isArray(message) ? message.join(" ") : String(message) })
    })
    const layer = DeployedStatePersistence.Default.pipe(
      Layer.provideMerge(Layer.mergeAll(
        testConfigLayer({
          dryRun: options.dryRun === true,
          deployedState: options.off === true
            ? Option.none()
            : Option.some({ configMapName: STATE.name, namespace: STATE.namespace })
        }),
        Metrics.Default,
        fakeResolver(states).layer,
        Layer.succeed(KubeApi, fake.api)
      )),
      Layer.provide(Logger.replace(Logger.defaultLogger, logger))
    )
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(layer, scope)
    const persistence = Context.get(context, DeployedStatePersistence)
    const metrics = Context.get(context, Metrics)
    return { persistence, metrics, scope, logs } satisfies Harness
  })

const storedNames = (fake: FakeConfigMapApi) => {
  const text = fake.data()?.[KEY]
  return text === undefined ? undefined : Either.getOrThrow(decodeState(SCOPE, text)).map((n) => n.record.deployment_name).sort()
}

const metric = (harness: Harness, pattern: RegExp) =>
  harness.metrics.render.pipe(Effect.map((text) => Number(pattern.exec(text)?.[1] ?? "0")))

const warnings = (harness: Harness) => harness.logs.filter((l) => l.level === "WARN").map((l) => l.message)

const seconds = (n: number) => TestClock.adjust(Duration.seconds(n))

describe("DeployedStatePersistence", () => {
  it.effect("writes the deployed names soon after a change, then at most every 10 s, and not at all when nothing changed", () =>
    Effect.gen(function*() {
      const fake = makeFakeConfigMapApi()
      const ledger = makeFakeLedger()
      const harness = yield* start(fake)
      yield* harness.persistence.restore(ledger.port)
      yield* seconds(30)
      // An empty ledger after an empty state: one write (the remember), creating the ConfigMap.
      expect(fake.writes()).toBe(1)
      expect(storedNames(fake)).toStrictEqual([])

      ledger.deploy(remembered("cart", "app", 1))
      yield* seconds(1)
      expect(storedNames(fake)).toStrictEqual(["shop/cart/app"])
      expect(fake.writes()).toBe(2)

      ledger.deploy(remembered("api", "app", 2))
      yield* seconds(5)
      expect(fake.writes()).toBe(2)
      yield* seconds(5)
      expect(storedNames(fake)).toStrictEqual(["shop/api/app", "shop/cart/app"])
      expect(fake.writes()).toBe(3)

      yield* seconds(60)
      expect(fake.writes()).toBe(3)
      expect(yield* metric(harness, /deployment_tracker_state_operations_total\{operation="save",outcome="ok"\} (\d+)/)).toBe(3)
    }))

  it.effect("round trip: a new process puts the stored names back in its ledger; running workloads stay deployed", () =>
    Effect.gen(function*() {
      const fake = makeFakeConfigMapApi()
      const first = makeFakeLedger()
      const before = yield* start(fake)
      yield* before.persistence.restore(first.port)
      first.deploy(remembered("cart", "app", 1))
      first.deploy(remembered("cart", "sidecar", 1))
      first.deploy(remembered("api", "app", 2))
      yield* seconds(11)
      yield* Scope.close(before.scope, Exit.void)

      const second = makeFakeLedger()
      const after = yield* start(fake, new Map([["uid-cart", "running"], ["uid-api", "running"]]))
      yield* after.persistence.restore(second.port)
      yield* seconds(1)
      expect(second.names()).toStrictEqual(["shop/api/app", "shop/cart/app", "shop/cart/sidecar"])
      expect(second.decommissioned).toStrictEqual([])
      expect(yield* metric(after, /deployment_tracker_state_operations_total\{operation="load",outcome="ok"\} (\d+)/)).toBe(1)
    }))

  it.effect("a remembered workload that is gone has its names decommissioned once; one still running is kept", () =>
    Effect.gen(function*() {
      const text = encodeState(SCOPE, [remembered("gone", "app", 1), remembered("gone", "init", 1), remembered("kept", "app", 2)], 1e9).text
      const fake = makeFakeConfigMapApi({ [KEY]: text })
      const ledger = makeFakeLedger()
      const harness = yield* start(fake, new Map([["uid-gone", "gone"], ["uid-kept", "running"]]))
      yield* harness.persistence.restore(ledger.port)
      yield* seconds(1)
      expect(ledger.decommissioned.sort()).toStrictEqual(["shop/gone/app", "shop/gone/init"])
      expect(ledger.names()).toStrictEqual(["shop/kept/app"])
      yield* seconds(10)
      // The state follows: the decommissioned names are no longer remembered.
      expect(storedNames(fake)).toStrictEqual(["shop/kept/app"])
      yield* seconds(600)
      expect(ledger.decommissioned).toHaveLength(2)
    }))

  it.effect("when the API cannot tell or the decommission cannot be posted, the check is retried until it settles", () =>
    Effect.gen(function*() {
      const text = encodeState(SCOPE, [remembered("gone", "app", 1)], 1e9).text
      const fake = makeFakeConfigMapApi({ [KEY]: text })
      const ledger = makeFakeLedger()
      const states = new Map<string, "running" | "gone" | "error">([["uid-gone", "error"]])
      const harness = yield* start(fake, states)
      yield* harness.persistence.restore(ledger.port)
      yield* seconds(30)
      expect(ledger.decommissioned).toStrictEqual([])
      expect(ledger.names()).toStrictEqual(["shop/gone/app"])
      states.set("uid-gone", "gone")
      ledger.failPosts(1)
      yield* seconds(300)
      yield* seconds(300)
      expect(ledger.decommissioned).toStrictEqual(["shop/gone/app"])
      expect(warnings(harness).some((w) => w.includes("Could not settle a remembered workload"))).toBe(true)
    }))

  it.effect("another cluster's document under our key, or content that is not a state, is logged, counted, ignored and overwritten", () =>
    Effect.gen(function*() {
      for (
        const [content, outcome] of [
          [encodeState({ ...SCOPE, cluster: "elsewhere" }, [remembered("theirs", "app", 1)], 1e9).text, "foreign"],
          ["{\"names\": 42}", "unreadable"]
        ] as const
      ) {
        const fake = makeFakeConfigMapApi({ [KEY]: content, "someone-else.json": "kept as is" })
        const ledger = makeFakeLedger()
        const harness = yield* start(fake)
        yield* harness.persistence.restore(ledger.port)
        expect(ledger.names()).toStrictEqual([])
        expect(ledger.decommissioned).toStrictEqual([])
        expect(warnings(harness).some((w) => w.includes("cannot be used"))).toBe(true)
        expect(
          yield* metric(harness, new RegExp(`deployment_tracker_state_operations_total\\{operation="load",outcome="${outcome}"\\} (\\d+)`))
        ).toBe(1)
        ledger.deploy(remembered("ours", "app", 5))
        yield* seconds(2)
        expect(storedNames(fake)).toStrictEqual(["shop/ours/app"])
        expect(fake.data()?.["someone-else.json"]).toBe("kept as is")
        yield* Scope.close(harness.scope, Exit.void)
      }
    }))

  it.effect("a 409 (another writer got in first) is met by reading again and writing again, keeping the other keys", () =>
    Effect.gen(function*() {
      const fake = makeFakeConfigMapApi({ "other-tracker.json": "theirs" })
      const ledger = makeFakeLedger()
      const harness = yield* start(fake)
      yield* harness.persistence.restore(ledger.port)
      yield* seconds(11)
      fake.raceNextWrites(2)
      ledger.deploy(remembered("cart", "app", 1))
      yield* seconds(1)
      expect(fake.calls.filter((c) => c.status === 409)).toHaveLength(2)
      expect(storedNames(fake)).toStrictEqual(["shop/cart/app"])
      expect(fake.data()?.["other-tracker.json"]).toMatch(/written by someone else/)
      expect(yield* metric(harness, /operation="save",outcome="failed"\} (\d+)/)).toBe(0)
    }))

  it.effect("forbidden to read (old RBAC): one warning, no write, and the tracker carries on", () =>
    Effect.gen(function*() {
      const fake = makeFakeConfigMapApi()
      fake.forbid("GET", "POST", "PUT")
      const ledger = makeFakeLedger()
      const harness = yield* start(fake)
      yield* harness.persistence.restore(ledger.port)
      ledger.deploy(remembered("cart", "app", 1))
      yield* seconds(60)
      yield* Scope.close(harness.scope, Exit.void)
      expect(fake.calls.map((c) => `${c.method} ${c.status}`)).toStrictEqual(["GET 403"])
      expect(warnings(harness).filter((w) => w.includes("forbidden"))).toHaveLength(1)
      expect(yield* metric(harness, /operation="load",outcome="forbidden"\} (\d+)/)).toBe(1)
    }))

  it.effect("allowed to read but forbidden to write: one warning, then no more attempts", () =>
    Effect.gen(function*() {
      const fake = makeFakeConfigMapApi()
      fake.forbid("POST", "PUT")
      const ledger = makeFakeLedger()
      const harness = yield* start(fake)
      yield* harness.persistence.restore(ledger.port)
      yield* seconds(2)
      ledger.deploy(remembered("cart", "app", 1))
      yield* seconds(60)
      yield* Scope.close(harness.scope, Exit.void)
      expect(fake.calls.filter((c) => c.method !== "GET")).toStrictEqual([{ method: "POST", status: 403 }])
      expect(warnings(harness).filter((w) => w.includes("forbidden"))).toHaveLength(1)
    }))

  it.effect("a write that fails for another reason is counted and tried again at the next interval", () =>
    Effect.gen(function*() {
      const fake = makeFakeConfigMapApi()
      const ledger = makeFakeLedger()
      const harness = yield* start(fake)
      yield* harness.persistence.restore(ledger.port)
      yield* seconds(11)
      fake.setOutage(true)
      ledger.deploy(remembered("cart", "app", 1))
      yield* seconds(1)
      expect(yield* metric(harness, /operation="save",outcome="failed"\} (\d+)/)).toBe(1)
      fake.setOutage(false)
      yield* seconds(10)
      expect(storedNames(fake)).toStrictEqual(["shop/cart/app"])
    }))

  it.effect("shutdown writes once more, after the last change", () =>
    Effect.gen(function*() {
      const fake = makeFakeConfigMapApi()
      const ledger = makeFakeLedger()
      const harness = yield* start(fake)
      yield* harness.persistence.restore(ledger.port)
      yield* seconds(1)
      ledger.deploy(remembered("late", "app", 1))
      yield* Scope.close(harness.scope, Exit.void)
      expect(storedNames(fake)).toStrictEqual(["shop/late/app"])
    }))

  it.effect("beyond the ConfigMap's 1 MiB the oldest names are left out, with one warning and the gauge set", () =>
    Effect.gen(function*() {
      const fake = makeFakeConfigMapApi()
      const ledger = makeFakeLedger()
      const harness = yield* start(fake)
      yield* harness.persistence.restore(ledger.port)
      // Random uids and digests, as in a real cluster: they are what does not compress.
      const total = 14_000
      for (let i = 0; i < total; i++) {
        ledger.deploy(remembered(`w${String(i).padStart(5, "0")}`, "app", i, randomUUID(), randomBytes(32).toString("hex")))
      }
      yield* seconds(1)
      ledger.deploy(remembered("newest", "app", 100_000))
      yield* seconds(11)
      const stored = fake.data()?.[KEY] ?? ""
      expect(Buffer.byteLength(stored)).toBeLessThanOrEqual(1_048_576)
      const names = storedNames(fake) ?? []
      const dropped = total + 1 - names.length
      expect(dropped).toBeGreaterThan(0)
      expect(names).toContain("shop/newest/app")
      expect(names).not.toContain("shop/w00000/app")
      expect(yield* metric(harness, /deployment_tracker_state_names_dropped (\d+)/)).toBe(dropped)
      expect(warnings(harness).filter((w) => w.includes("do not all fit"))).toHaveLength(1)
    }))

  it.effect("with -dry-run the state is read and acted on but never written; with \"\" it is not touched at all", () =>
    Effect.gen(function*() {
      const text = encodeState(SCOPE, [remembered("gone", "app", 1)], 1e9).text
      const fake = makeFakeConfigMapApi({ [KEY]: text })
      const ledger = makeFakeLedger()
      const dry = yield* start(fake, new Map(), { dryRun: true })
      yield* dry.persistence.restore(ledger.port)
      yield* seconds(30)
      yield* Scope.close(dry.scope, Exit.void)
      expect(ledger.decommissioned).toStrictEqual(["shop/gone/app"])
      expect(fake.writes()).toBe(0)

      const off = makeFakeConfigMapApi({ [KEY]: text })
      const other = makeFakeLedger()
      const harness = yield* start(off, new Map(), { off: true })
      yield* harness.persistence.restore(other.port)
      yield* seconds(30)
      yield* Scope.close(harness.scope, Exit.void)
      expect(off.calls).toStrictEqual([])
      expect(other.decommissioned).toStrictEqual([])
    }))
})

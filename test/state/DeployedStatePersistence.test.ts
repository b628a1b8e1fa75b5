import { randomBytes, randomUUID } from "node:crypto"
import { describe, expect, it } from "@effect/vitest"
import { Context, Duration, Effect, Either, Exit, Fiber, Layer, Logger, Option, Scope, TestClock } from "effect"
import { KubeApi } from "../../src/kube/KubeApi.ts"
import { DeploymentLedger, type LedgerEntry } from "../../src/ledger/DeploymentLedger.ts"
import { recordIdentity } from "../../src/record/recordIdentity.ts"
import { Metrics } from "../../src/observability/Metrics.ts"
import { DeployedStatePersistence, FINAL_SAVE_TIMEOUT } from "../../src/state/DeployedStatePersistence.ts"
import { decodeState, encodeState, type RememberedName, stateKey } from "../../src/state/deployedState.ts"
import { testConfigLayer } from "../support/testConfig.ts"
import { type FakeConfigMapApi, makeFakeConfigMapApi, STATE } from "./fakeConfigMapApi.ts"
import { remembered, SCOPE } from "./fixtures.ts"

const KEY = stateKey(SCOPE)

/** The ledger's key of a name in the fixtures' environments. */
const id = (deploymentName: string) =>
  recordIdentity({ logical_environment: SCOPE.logicalEnvironment, physical_environment: "eu-west-1", deployment_name: deploymentName })

/** A ledger entry as a reconcile puts it: the remembered name under its Deployment's key. */
const entry = (name: RememberedName): LedgerEntry => ({
  key: `${name.owner.namespace}/${name.owner.name}`,
  owner: name.owner,
  record: name.record,
  since: name.since
})

const deployed = (workload: string, container: string, since: number, uid?: string, digestHex?: string) =>
  entry(remembered(workload, container, since, uid, digestHex))

/**
 * A name of a ReplicaSet whose owner could not be read: named after the
 * ReplicaSet minus its hash, so its key's workload (`checkout`) is not its
 * owner's name (`checkout-6c8d9f`).
 */
const namedAfterReplicaSet = (since: number): LedgerEntry => {
  const base = remembered("checkout", "app", since)
  return {
    key: "shop/checkout",
    owner: { kind: "ReplicaSet", apiVersion: "apps/v1", namespace: "shop", name: "checkout-6c8d9f", uid: "uid-rs" },
    record: base.record,
    since
  }
}

interface Harness {
  readonly persistence: DeployedStatePersistence
  readonly ledger: DeploymentLedger
  readonly metrics: Metrics
  readonly scope: Scope.CloseableScope
  readonly logs: Array<{ readonly level: string; readonly message: string }>
}

/** The service over the fake ConfigMap API and a real ledger, in a scope of its own (closing it is the shutdown). */
const start = (fake: FakeConfigMapApi, options: { readonly dryRun?: boolean; readonly off?: boolean } = {}) =>
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
        DeploymentLedger.Default,
        Layer.succeed(KubeApi, fake.api)
      )),
      Layer.provide(Logger.replace(Logger.defaultLogger, logger))
    )
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(layer, scope)
    return {
      persistence: Context.get(context, DeployedStatePersistence),
      ledger: Context.get(context, DeploymentLedger),
      metrics: Context.get(context, Metrics),
      scope,
      logs
    } satisfies Harness
  })

const stored = (fake: FakeConfigMapApi): ReadonlyArray<RememberedName> | undefined => {
  const text = fake.data()?.[KEY]
  return text === undefined ? undefined : Either.getOrThrow(decodeState(SCOPE, text))
}

const storedNames = (fake: FakeConfigMapApi) => stored(fake)?.map((n) => n.record.deployment_name).sort()

const ledgerNames = (harness: Harness) => [...harness.ledger.entries()].map((e) => e.record.deployment_name).sort()

const metric = (harness: Harness, pattern: RegExp) =>
  harness.metrics.render.pipe(Effect.map((text) => Number(pattern.exec(text)?.[1] ?? "0")))

const logged = (harness: Harness, level: string) => harness.logs.filter((l) => l.level === level).map((l) => l.message)

const seconds = (n: number) => TestClock.adjust(Duration.seconds(n))

describe("DeployedStatePersistence: writing the ledger", () => {
  it.effect("writes the ledger soon after a change, then at most every 10 s, and not at all when nothing changed", () =>
    Effect.gen(function*() {
      const fake = makeFakeConfigMapApi()
      const harness = yield* start(fake)
      yield* harness.persistence.restore
      yield* seconds(30)
      // An empty ledger after an empty state: one write, creating the ConfigMap.
      expect(fake.writes()).toBe(1)
      expect(storedNames(fake)).toStrictEqual([])

      harness.ledger.put(deployed("cart", "app", 1))
      yield* seconds(1)
      expect(storedNames(fake)).toStrictEqual(["shop/cart/app"])
      expect(fake.writes()).toBe(2)

      harness.ledger.put(deployed("api", "app", 2))
      yield* seconds(5)
      expect(fake.writes()).toBe(2)
      yield* seconds(5)
      expect(storedNames(fake)).toStrictEqual(["shop/api/app", "shop/cart/app"])
      expect(fake.writes()).toBe(3)

      yield* seconds(60)
      expect(fake.writes()).toBe(3)
      expect(yield* metric(harness, /deployment_tracker_state_operations_total\{operation="save",outcome="ok"\} (\d+)/)).toBe(3)
    }))

  it.effect("a decommissioned name (removed from the ledger) is no longer remembered", () =>
    Effect.gen(function*() {
      const fake = makeFakeConfigMapApi()
      const harness = yield* start(fake)
      yield* harness.persistence.restore
      harness.ledger.put(deployed("cart", "app", 1))
      harness.ledger.put(deployed("api", "app", 2))
      yield* seconds(11)
      expect(storedNames(fake)).toStrictEqual(["shop/api/app", "shop/cart/app"])
      harness.ledger.remove(id("shop/cart/app"))
      yield* seconds(11)
      expect(storedNames(fake)).toStrictEqual(["shop/api/app"])
    }))

  it.effect("a change that leaves the same names and records (the ledger's revision moved, its content did not) is not written", () =>
    Effect.gen(function*() {
      const fake = makeFakeConfigMapApi()
      const harness = yield* start(fake)
      yield* harness.persistence.restore
      harness.ledger.put(deployed("cart", "app", 1))
      yield* seconds(11)
      const writes = fake.writes()
      // An adoption by the same owner: the ledger counts a change, the document is the same.
      harness.ledger.put(deployed("cart", "app", 1))
      yield* seconds(30)
      expect(fake.writes()).toBe(writes)
    }))

  it.effect("shutdown writes once more, after the last change", () =>
    Effect.gen(function*() {
      const fake = makeFakeConfigMapApi()
      const harness = yield* start(fake)
      yield* harness.persistence.restore
      yield* seconds(1)
      harness.ledger.put(deployed("late", "app", 1))
      yield* Scope.close(harness.scope, Exit.void)
      expect(storedNames(fake)).toStrictEqual(["shop/late/app"])
    }))

  it.effect("a final write that hangs is cut off at its deadline: shutdown is not held up", () =>
    Effect.gen(function*() {
      const fake = makeFakeConfigMapApi()
      const harness = yield* start(fake)
      yield* harness.persistence.restore
      harness.ledger.put(deployed("late", "app", 1))
      fake.hangWrites()
      const closing = yield* Effect.fork(Scope.close(harness.scope, Exit.void))
      yield* TestClock.adjust(FINAL_SAVE_TIMEOUT)
      yield* Fiber.join(closing)
      expect(harness.logs.some((l) => l.message === "The final write of the state ConfigMap timed out")).toBe(true)
    }))

  it.effect("a 409 (another writer got in first) is met by reading again and writing again, keeping the other keys", () =>
    Effect.gen(function*() {
      const fake = makeFakeConfigMapApi({ "other-tracker.json": "theirs" })
      const harness = yield* start(fake)
      yield* harness.persistence.restore
      yield* seconds(11)
      fake.raceNextWrites(2)
      harness.ledger.put(deployed("cart", "app", 1))
      yield* seconds(1)
      expect(fake.calls.filter((c) => c.status === 409)).toHaveLength(2)
      expect(storedNames(fake)).toStrictEqual(["shop/cart/app"])
      expect(fake.data()?.["other-tracker.json"]).toMatch(/written by someone else/)
      expect(yield* metric(harness, /operation="save",outcome="failed"\} (\d+)/)).toBe(0)
    }))

  it.effect("a write that fails for another reason is counted and tried again at the next interval", () =>
    Effect.gen(function*() {
      const fake = makeFakeConfigMapApi()
      const harness = yield* start(fake)
      yield* harness.persistence.restore
      yield* seconds(11)
      fake.setOutage(true)
      harness.ledger.put(deployed("cart", "app", 1))
      yield* seconds(1)
      expect(yield* metric(harness, /operation="save",outcome="failed"\} (\d+)/)).toBe(1)
      expect(logged(harness, "WARN").some((w) => w.includes("will try again"))).toBe(true)
      fake.setOutage(false)
      yield* seconds(10)
      expect(storedNames(fake)).toStrictEqual(["shop/cart/app"])
    }))

  it.effect("beyond the ConfigMap's 1 MiB the oldest names are left out, with one warning and the gauge set", () =>
    Effect.gen(function*() {
      const fake = makeFakeConfigMapApi()
      const harness = yield* start(fake)
      yield* harness.persistence.restore
      // Random uids and digests, as in a real cluster: they are what does not compress.
      const total = 14_000
      for (let i = 0; i < total; i++) {
        harness.ledger.put(deployed(`w${String(i).padStart(5, "0")}`, "app", i, randomUUID(), randomBytes(32).toString("hex")))
      }
      yield* seconds(1)
      harness.ledger.put(deployed("newest", "app", 100_000))
      yield* seconds(11)
      const text = fake.data()?.[KEY] ?? ""
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(1_048_576)
      const names = storedNames(fake) ?? []
      const dropped = total + 1 - names.length
      expect(dropped).toBeGreaterThan(0)
      expect(names).toContain("shop/newest/app")
      expect(names).not.toContain("shop/w00000/app")
      expect(yield* metric(harness, /deployment_tracker_state_names_dropped (\d+)/)).toBe(dropped)
      expect(logged(harness, "WARN").filter((w) => w.includes("do not all fit"))).toHaveLength(1)
    }))
})

describe("DeployedStatePersistence: restoring into the ledger", () => {
  it.effect("round trip: a new process finds the stored names in its ledger, each under its key, owner, record and time", () =>
    Effect.gen(function*() {
      const fake = makeFakeConfigMapApi()
      const before = yield* start(fake)
      yield* before.persistence.restore
      const entries = [deployed("cart", "app", 1), deployed("cart", "sidecar", 1), deployed("api", "app", 2)]
      for (const e of entries) before.ledger.put(e)
      yield* seconds(11)
      yield* Scope.close(before.scope, Exit.void)

      const after = yield* start(fake)
      expect(after.ledger.size()).toBe(0)
      yield* after.persistence.restore
      expect(ledgerNames(after)).toStrictEqual(["shop/api/app", "shop/cart/app", "shop/cart/sidecar"])
      for (const e of entries) expect(after.ledger.get(recordIdentity(e.record))).toStrictEqual(e)
      expect([...after.ledger.entriesOf("shop/cart").keys()].sort()).toStrictEqual([id("shop/cart/app"), id("shop/cart/sidecar")])
      expect(yield* metric(after, /deployment_tracker_state_operations_total\{operation="load",outcome="ok"\} (\d+)/)).toBe(1)
    }))

  it.effect("a name whose workload is not its owner's name (a ReplicaSet named after its unreadable owner) comes back under its workload's key", () =>
    Effect.gen(function*() {
      const fake = makeFakeConfigMapApi()
      const before = yield* start(fake)
      yield* before.persistence.restore
      before.ledger.put(namedAfterReplicaSet(5))
      before.ledger.put(deployed("cart", "app", 1))
      yield* seconds(11)
      yield* Scope.close(before.scope, Exit.void)

      // Stored with the workload name only where it differs from the owner's.
      const document = stored(fake) ?? []
      expect(document.find((n) => n.owner.name === "checkout-6c8d9f")?.workload).toBe("checkout")
      expect(document.find((n) => n.owner.name === "cart")).not.toHaveProperty("workload")

      const after = yield* start(fake)
      yield* after.persistence.restore
      expect(after.ledger.get(id("shop/checkout/app"))).toStrictEqual(namedAfterReplicaSet(5))
      expect([...after.ledger.entriesOf("shop/checkout").keys()]).toStrictEqual([id("shop/checkout/app")])
      expect(after.ledger.entriesOf("shop/checkout-6c8d9f").size).toBe(0)
      expect(after.ledger.get(id("shop/cart/app"))?.key).toBe("shop/cart")
    }))

  it.effect("a name already in the ledger is newer than the remembered one: it is kept, not overwritten", () =>
    Effect.gen(function*() {
      const text = encodeState(SCOPE, [remembered("cart", "app", 1, "uid-old", "0a".repeat(32)), remembered("api", "app", 1)], 1e9).text
      const fake = makeFakeConfigMapApi({ [KEY]: text })
      const harness = yield* start(fake)
      const newer = deployed("cart", "app", 50, "uid-new", "0b".repeat(32))
      harness.ledger.put(newer)
      yield* harness.persistence.restore
      expect(harness.ledger.get(id("shop/cart/app"))).toStrictEqual(newer)
      expect(ledgerNames(harness)).toStrictEqual(["shop/api/app", "shop/cart/app"])
    }))

  it.effect("restore returns once the state is read: a read that fails for a moment is tried again, then the names are there", () =>
    Effect.gen(function*() {
      const fake = makeFakeConfigMapApi({ [KEY]: encodeState(SCOPE, [remembered("cart", "app", 1)], 1e9).text })
      fake.setOutage(true)
      const harness = yield* start(fake)
      const restoring = yield* Effect.fork(harness.persistence.restore)
      yield* seconds(0)
      // The controller waits here: the workers must not start before the names are back.
      expect(Option.isNone(yield* Fiber.poll(restoring))).toBe(true)
      expect(harness.ledger.size()).toBe(0)
      fake.setOutage(false)
      yield* seconds(30)
      yield* Fiber.join(restoring)
      expect(ledgerNames(harness)).toStrictEqual(["shop/cart/app"])
      expect(fake.calls.filter((c) => c.method === "GET").map((c) => c.status)).toContain(503)
    }))

  it.effect("a state that cannot be read at all (the API keeps failing) is logged, counted, and never overwritten with a partial one", () =>
    Effect.gen(function*() {
      const fake = makeFakeConfigMapApi({ [KEY]: encodeState(SCOPE, [remembered("cart", "app", 1)], 1e9).text })
      fake.setOutage(true)
      const harness = yield* start(fake)
      const restoring = yield* Effect.fork(harness.persistence.restore)
      yield* seconds(60)
      yield* Fiber.join(restoring)
      fake.setOutage(false)
      harness.ledger.put(deployed("api", "app", 2))
      yield* seconds(60)
      yield* Scope.close(harness.scope, Exit.void)
      expect(fake.writes()).toBe(0)
      expect(storedNames(fake)).toStrictEqual(["shop/cart/app"])
      expect(yield* metric(harness, /operation="load",outcome="failed"\} (\d+)/)).toBe(1)
      expect(logged(harness, "ERROR").some((e) => e.includes("Could not read the state ConfigMap"))).toBe(true)
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
        const harness = yield* start(fake)
        yield* harness.persistence.restore
        expect(harness.ledger.size()).toBe(0)
        expect(logged(harness, "WARN").some((w) => w.includes("cannot be used"))).toBe(true)
        expect(
          yield* metric(harness, new RegExp(`deployment_tracker_state_operations_total\\{operation="load",outcome="${outcome}"\\} (\\d+)`))
        ).toBe(1)
        harness.ledger.put(deployed("ours", "app", 5))
        yield* seconds(2)
        expect(storedNames(fake)).toStrictEqual(["shop/ours/app"])
        expect(fake.data()?.["someone-else.json"]).toBe("kept as is")
        yield* Scope.close(harness.scope, Exit.void)
      }
    }))
})

describe("DeployedStatePersistence: when it must not write", () => {
  it.effect("forbidden to read (old RBAC): one warning, no write, and the tracker carries on", () =>
    Effect.gen(function*() {
      const fake = makeFakeConfigMapApi()
      fake.forbid("GET", "POST", "PUT")
      const harness = yield* start(fake)
      yield* harness.persistence.restore
      harness.ledger.put(deployed("cart", "app", 1))
      yield* seconds(60)
      yield* Scope.close(harness.scope, Exit.void)
      // Not retried either: a refusal is an answer.
      expect(fake.calls.map((c) => `${c.method} ${c.status}`)).toStrictEqual(["GET 403"])
      expect(logged(harness, "WARN").filter((w) => w.includes("forbidden"))).toHaveLength(1)
      expect(yield* metric(harness, /operation="load",outcome="forbidden"\} (\d+)/)).toBe(1)
      expect(ledgerNames(harness)).toStrictEqual(["shop/cart/app"])
    }))

  it.effect("allowed to read but forbidden to write: one warning, then no more attempts (not even at shutdown)", () =>
    Effect.gen(function*() {
      const fake = makeFakeConfigMapApi()
      fake.forbid("POST", "PUT")
      const harness = yield* start(fake)
      yield* harness.persistence.restore
      yield* seconds(2)
      harness.ledger.put(deployed("cart", "app", 1))
      yield* seconds(60)
      yield* Scope.close(harness.scope, Exit.void)
      expect(fake.calls.filter((c) => c.method !== "GET")).toStrictEqual([{ method: "POST", status: 403 }])
      expect(logged(harness, "WARN").filter((w) => w.includes("forbidden"))).toHaveLength(1)
      expect(yield* metric(harness, /operation="save",outcome="forbidden"\} (\d+)/)).toBe(1)
    }))

  it.effect("with -dry-run the state is read into the ledger but never written, not even at shutdown", () =>
    Effect.gen(function*() {
      const text = encodeState(SCOPE, [remembered("gone", "app", 1)], 1e9).text
      const fake = makeFakeConfigMapApi({ [KEY]: text })
      const harness = yield* start(fake, { dryRun: true })
      yield* harness.persistence.restore
      expect(ledgerNames(harness)).toStrictEqual(["shop/gone/app"])
      // The reconcile decommissions it (in a dry run, only logged) and adds another.
      harness.ledger.remove(id("shop/gone/app"))
      harness.ledger.put(deployed("cart", "app", 2))
      yield* seconds(30)
      yield* Scope.close(harness.scope, Exit.void)
      expect(fake.writes()).toBe(0)
      expect(fake.data()?.[KEY]).toBe(text)
    }))

  it.effect("with -state-configmap \"\" the ConfigMap is not touched at all, and the ledger starts empty", () =>
    Effect.gen(function*() {
      const fake = makeFakeConfigMapApi({ [KEY]: encodeState(SCOPE, [remembered("gone", "app", 1)], 1e9).text })
      const harness = yield* start(fake, { off: true })
      yield* harness.persistence.restore
      harness.ledger.put(deployed("cart", "app", 2))
      yield* seconds(30)
      yield* Scope.close(harness.scope, Exit.void)
      expect(fake.calls).toStrictEqual([])
      expect(ledgerNames(harness)).toStrictEqual(["shop/cart/app"])
      expect(logged(harness, "INFO").some((i) => i.includes("State persistence is off"))).toBe(true)
    }))
})

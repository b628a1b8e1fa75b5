import { describe, expect, it } from "@effect/vitest"
import { Context, Duration, Effect, Exit, Fiber, Layer, Logger, Option, Scope, TestClock, TestServices } from "effect"
import { WorkloadEventsLive } from "../../src/controller/ControllerApp.ts"
import { type WorkloadOutcome, WorkloadEvents } from "../../src/events/WorkloadEvents.ts"
import { EVENT_RECORDER_LIMITS, type EventRecorderLimits, makeEventRecorder } from "../../src/events/EventRecorder.ts"
import { UNKNOWN_ARTIFACT_HINT } from "../../src/events/eventContent.ts"
import { KubeApi } from "../../src/kube/KubeApi.ts"
import { Metrics } from "../../src/observability/Metrics.ts"
import type { WorkloadOwner } from "../../src/kube/ObjectIdentity.ts"
import { testConfigLayer } from "../support/testConfig.ts"
import { type FakeEventsApi, makeFakeEventsApi } from "./fakeEventsApi.ts"

const DIGEST_A = `sha256:${"a".repeat(64)}`
const DIGEST_B = `sha256:${"b".repeat(64)}`

const owner = (name = "web", uid = `uid-${name}`, namespace = "shop"): WorkloadOwner => ({
  kind: "Deployment",
  apiVersion: "apps/v1",
  namespace,
  name,
  uid
})

const deployed = (container = "app", digest = DIGEST_A, workload = "web"): WorkloadOutcome => ({
  _tag: "Deployed",
  deploymentName: `shop/${workload}/${container}`,
  digest
})

interface Harness {
  readonly report: (regarding: WorkloadOwner, outcome: WorkloadOutcome) => Effect.Effect<void>
  readonly metrics: Metrics
  readonly scope: Scope.CloseableScope
  readonly logs: Array<{ readonly level: string; readonly message: string }>
}

/** The recorder over the fake API server, in a scope of its own (closing it is the shutdown). */
const start = (fake: FakeEventsApi, limits: EventRecorderLimits = EVENT_RECORDER_LIMITS) =>
  Effect.gen(function*() {
    const logs: Array<{ level: string; message: string }> = []
    const logger = Logger.make(({ logLevel, message }) => {
      logs.push({ level: logLevel.label, message: Array.isArray(message) ? message.join(" ") : String(message) })
    })
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(
      Layer.mergeAll(
        testConfigLayer({ kubeEvents: true, podName: Option.some("tracker-7f9c") }),
        Metrics.Default,
        Layer.succeed(KubeApi, fake.api)
      ),
      scope
    )
    const recorder = yield* makeEventRecorder(limits).pipe(
      Effect.provide(context),
      Scope.extend(scope),
      Effect.provide(Logger.replace(Logger.defaultLogger, logger))
    )
    return { report: recorder.report, metrics: Context.get(context, Metrics), scope, logs } satisfies Harness
  })

/** Lets the writer fiber run what is due now. */
const settle = TestClock.adjust(Duration.zero)
const minutes = (n: number) => TestClock.adjust(Duration.minutes(n))
const seconds = (n: number) => TestClock.adjust(Duration.seconds(n))

const metric = (harness: Harness, name: string, labels: string) =>
  harness.metrics.render.pipe(
    Effect.map((text) => {
      const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}}`))
      return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1))
    })
  )

const warnings = (harness: Harness) => harness.logs.filter((l) => l.level === "WARN").map((l) => l.message)

/** Closes the harness' scope (shutdown), letting the flush deadline pass on the TestClock. */
const shutdown = (harness: Harness) =>
  Effect.gen(function*() {
    const closing = yield* Effect.fork(Scope.close(harness.scope, Exit.void))
    for (let i = 0; i < 50; i++) yield* TestClock.adjust(Duration.millis(100))
    yield* Fiber.join(closing)
  })

describe("EventRecorder: what is written", () => {
  it.effect("the first occurrence creates an events.k8s.io/v1 Event on the workload object, as client-go's recorder fills it", () =>
    Effect.gen(function*() {
      const fake = makeFakeEventsApi()
      const harness = yield* start(fake)
      yield* TestClock.setTime(Date.parse("2026-12-03T16:02:31.123Z"))
      yield* harness.report(owner(), deployed())
      yield* settle

      expect(fake.writes.map((w) => [w.method, w.namespace, w.status])).toStrictEqual([["POST", "shop", 201]])
      const [event] = fake.events()
      expect(event).toStrictEqual({
        apiVersion: "events.k8s.io/v1",
        kind: "Event",
        metadata: { name: expect.stringMatching(/^web\.[0-9a-f]+$/), namespace: "shop" },
        eventTime: "2026-12-03T16:02:31.123000Z",
        reportingController: "deployment-tracker",
        reportingInstance: "tracker-7f9c",
        action: "Report",
        reason: "Deployed",
        type: "Normal",
        note: `Reported "shop/web/app" to GitHub as deployed, digest ${DIGEST_A}`,
        regarding: { apiVersion: "apps/v1", kind: "Deployment", namespace: "shop", name: "web", uid: "uid-web" }
      })
      expect(yield* metric(harness, "deployment_tracker_kube_events_total", 'result="created"')).toBe(1)
      expect(yield* metric(harness, "deployment_tracker_kube_event_outcomes_total", 'reason="Deployed"')).toBe(1)
    }))

  it.effect("each outcome has its reason, type and note: unknown artifacts carry the github-repository hint, refusals GitHub's message or the rule broken", () =>
    Effect.gen(function*() {
      const fake = makeFakeEventsApi()
      const harness = yield* start(fake)
      const outcomes: ReadonlyArray<WorkloadOutcome> = [
        { _tag: "Decommissioned", deploymentName: "shop/web/app", digest: DIGEST_A },
        { _tag: "UnknownArtifact", deploymentName: "shop/web/app", digest: DIGEST_B, message: "no artifacts found" },
        { _tag: "Refused", deploymentName: "shop/web/app", status: 422, message: "Invalid request: tags too long" },
        { _tag: "Invalid", deploymentName: "shop/web/app", field: "deployment_name", reason: "must be at most 256 characters, got 300" },
        { _tag: "RateLimited", deploymentName: "shop/web/app", waitSeconds: 42 }
      ]
      for (const outcome of outcomes) yield* harness.report(owner(), outcome)
      yield* settle
      expect(fake.events().map((e) => [e.reason, e.type, e.note])).toStrictEqual([
        ["Decommissioned", "Normal", `Reported "shop/web/app" to GitHub as decommissioned, digest ${DIGEST_A}`],
        [
          "UnknownArtifact",
          "Warning",
          `GitHub has no artifact for digest ${DIGEST_B} of "shop/web/app" (no artifacts found); not reported, not sent again for an hour: add the metadata.github.com/github-repository annotation to record images without attestations`
        ],
        ["Refused", "Warning", `GitHub refused the record of "shop/web/app" (HTTP 422: Invalid request: tags too long); not sent again for an hour`],
        [
          "Refused",
          "Warning",
          `The record of "shop/web/app" breaks the API's constraints and is not sent: deployment_name must be at most 256 characters, got 300`
        ],
        ["RateLimited", "Warning", `The record of "shop/web/app" waits for GitHub's rate limit to reset`]
      ])
      expect(UNKNOWN_ARTIFACT_HINT).toBe("add the metadata.github.com/github-repository annotation to record images without attestations")
    }))

  it.effect("repeats increment the series: one PATCH of count and last time per 5 minutes, none while nothing repeats", () =>
    Effect.gen(function*() {
      const fake = makeFakeEventsApi()
      const harness = yield* start(fake)
      yield* harness.report(owner(), deployed())
      yield* settle
      for (let i = 0; i < 9; i++) {
        yield* seconds(10)
        yield* harness.report(owner(), deployed())
      }
      // 90 s in: ten occurrences, still only the create.
      yield* settle
      expect(fake.writes.map((w) => w.method)).toStrictEqual(["POST"])

      yield* seconds(5 * 60 - 90)
      expect(fake.writes.map((w) => [w.method, w.status])).toStrictEqual([["POST", 201], ["PATCH", 200]])
      expect(fake.writes[1]!.body).toStrictEqual({ series: { count: 10, lastObservedTime: "1970-01-01T00:01:30.000000Z" } })
      expect(fake.events()).toHaveLength(1)
      expect(fake.events()[0]!.series).toStrictEqual({ count: 10, lastObservedTime: "1970-01-01T00:01:30.000000Z" })

      // Nothing new: nothing written, however long.
      yield* minutes(60)
      expect(fake.writes).toHaveLength(2)
      expect(yield* metric(harness, "deployment_tracker_kube_events_total", 'result="series_updated"')).toBe(1)
    }))

  it.effect("a burst of 1,000 identical outcomes within 5 minutes costs 2 writes: the create and one series update with count 1000", () =>
    Effect.gen(function*() {
      const fake = makeFakeEventsApi()
      const harness = yield* start(fake)
      // Ten every 2.4 seconds: 4 minutes.
      for (let i = 0; i < 100; i++) {
        for (let j = 0; j < 10; j++) yield* harness.report(owner(), deployed())
        yield* TestClock.adjust(Duration.millis(2400))
      }
      yield* minutes(30)
      expect(fake.writes.map((w) => [w.method, w.status])).toStrictEqual([["POST", 201], ["PATCH", 200]])
      expect(fake.events()).toHaveLength(1)
      expect(fake.events()[0]!.series?.count).toBe(1000)
      expect(yield* metric(harness, "deployment_tracker_kube_event_outcomes_total", 'reason="Deployed"')).toBe(1000)
    }))

  it.effect("1,000 identical outcomes spread over 30 minutes: at most 1 + 30/5 = 7 writes, and the series ends with count 1000", () =>
    Effect.gen(function*() {
      const fake = makeFakeEventsApi()
      const harness = yield* start(fake)
      // Ten every 18 seconds.
      for (let i = 0; i < 100; i++) {
        for (let j = 0; j < 10; j++) yield* harness.report(owner(), deployed())
        yield* seconds(18)
      }
      yield* minutes(10)
      expect(fake.writes.filter((w) => w.method === "POST")).toHaveLength(1)
      expect(fake.writes.length).toBeLessThanOrEqual(7)
      expect(fake.writes.every((w) => w.status >= 200 && w.status < 300)).toBe(true)
      expect(fake.events().map((e) => e.series?.count)).toStrictEqual([1000])
    }))

  it.effect("distinct outcomes are distinct Events: another container, digest, reason, workload, or the same workload recreated (new uid)", () =>
    Effect.gen(function*() {
      const fake = makeFakeEventsApi()
      const harness = yield* start(fake)
      yield* harness.report(owner(), deployed("app", DIGEST_A))
      yield* harness.report(owner(), deployed("sidecar", DIGEST_A))
      yield* harness.report(owner(), deployed("app", DIGEST_B))
      yield* harness.report(owner(), { _tag: "Decommissioned", deploymentName: "shop/web/app", digest: DIGEST_A })
      yield* harness.report(owner("api"), deployed("app", DIGEST_A, "api"))
      yield* harness.report(owner("web", "uid-web-2"), deployed("app", DIGEST_A))
      // And one repeat of the first: no new Event.
      yield* harness.report(owner(), deployed("app", DIGEST_A))
      yield* settle
      expect(fake.writes.filter((w) => w.method === "POST")).toHaveLength(6)
      expect(new Set(fake.events().map((e) => e.metadata.name)).size).toBe(6)
      // Written least recently seen first: the repeated one went last.
      expect(fake.events().map((e) => [e.regarding.name, e.regarding.uid, e.reason, e.note.includes(DIGEST_B)])).toStrictEqual([
        ["web", "uid-web", "Deployed", false],
        ["web", "uid-web", "Deployed", true],
        ["web", "uid-web", "Decommissioned", false],
        ["api", "uid-api", "Deployed", false],
        ["web", "uid-web-2", "Deployed", false],
        ["web", "uid-web", "Deployed", false]
      ])
      expect(fake.events().map((e) => e.note.includes("shop/web/sidecar"))).toStrictEqual([true, false, false, false, false, false])
    }))

  it.effect("an outcome not seen again for 6 minutes ends its series: the next occurrence is a new Event", () =>
    Effect.gen(function*() {
      const fake = makeFakeEventsApi()
      const harness = yield* start(fake)
      yield* harness.report(owner(), deployed())
      yield* settle
      yield* minutes(7)
      yield* harness.report(owner(), deployed())
      yield* settle
      expect(fake.writes.map((w) => w.method)).toStrictEqual(["POST", "POST"])
      expect(fake.events().map((e) => e.series)).toStrictEqual([undefined, undefined])
    }))

  it.effect("an Event gone from the API server (its TTL) is created again when its series is updated, with the series", () =>
    Effect.gen(function*() {
      const fake = makeFakeEventsApi()
      const harness = yield* start(fake)
      yield* harness.report(owner(), deployed())
      yield* settle
      const first = fake.events()[0]!.metadata.name
      fake.expire("shop", first)
      yield* seconds(30)
      yield* harness.report(owner(), deployed())
      yield* minutes(5)
      expect(fake.writes.map((w) => [w.method, w.status])).toStrictEqual([["POST", 201], ["PATCH", 404], ["POST", 201]])
      const [again] = fake.events()
      expect(again!.metadata.name).not.toBe(first)
      expect(again!.eventTime).toBe("1970-01-01T00:00:00.000000Z")
      expect(again!.series).toStrictEqual({ count: 2, lastObservedTime: "1970-01-01T00:00:30.000000Z" })
    }))

  it.effect("an Event name is a DNS subdomain even for a 250-character workload name, and the note stays within 1 KiB", () =>
    Effect.gen(function*() {
      const fake = makeFakeEventsApi()
      const harness = yield* start(fake)
      const long = "w".repeat(250)
      yield* harness.report(owner(long), {
        _tag: "Refused",
        deploymentName: `shop/${long}/app`,
        status: 422,
        message: "é".repeat(2000)
      })
      yield* settle
      // The fake validates like the API server: 201, not 422.
      expect(fake.writes.map((w) => w.status)).toStrictEqual([201])
      const [event] = fake.events()
      expect(event!.metadata.name.length).toBeLessThanOrEqual(253)
      expect(Buffer.byteLength(event!.note, "utf8")).toBeLessThanOrEqual(1024)
    }))
})

describe("EventRecorder: limits", () => {
  it.effect("a workload object gets 25 new Events at once, then one per 5 minutes (client-go's spam filter)", () =>
    Effect.gen(function*() {
      const fake = makeFakeEventsApi()
      const harness = yield* start(fake)
      for (let i = 0; i < 30; i++) yield* harness.report(owner(), deployed(`c${i}`))
      // Another workload is not held up by this one's budget.
      yield* harness.report(owner("api"), deployed("app", DIGEST_A, "api"))
      yield* settle
      expect(fake.writes).toHaveLength(26)
      expect(fake.events().some((e) => e.regarding.name === "api")).toBe(true)
      yield* minutes(5)
      expect(fake.writes).toHaveLength(27)
      yield* minutes(20)
      expect(fake.writes).toHaveLength(31)
      expect(fake.writes.every((w) => w.method === "POST" && w.status === 201)).toBe(true)
    }))

  it.effect("all writes together: 50 at once, then 5 a second", () =>
    Effect.gen(function*() {
      const fake = makeFakeEventsApi()
      const harness = yield* start(fake)
      for (let i = 0; i < 70; i++) yield* harness.report(owner(`w${i}`), deployed("app", DIGEST_A, `w${i}`))
      yield* settle
      expect(fake.writes).toHaveLength(50)
      yield* seconds(1)
      expect(fake.writes).toHaveLength(55)
      yield* seconds(3)
      expect(fake.writes).toHaveLength(70)
    }))

  it.effect("at most maxEvents are remembered: the least recently seen goes first, counted as dropped when it was never written", () =>
    Effect.gen(function*() {
      const fake = makeFakeEventsApi()
      fake.setMode("stuck")
      const harness = yield* start(fake, { ...EVENT_RECORDER_LIMITS, maxEvents: 3 })
      yield* harness.report(owner(), deployed("c0"))
      yield* settle
      // c0 is being written (the API server does not answer); c1..c4 wait, three fit.
      for (let i = 1; i <= 4; i++) yield* harness.report(owner(), deployed(`c${i}`))
      yield* harness.report(owner(), deployed("c3"))
      expect(yield* metric(harness, "deployment_tracker_kube_events_dropped_total", 'cause="evicted"')).toBe(2)
      fake.setMode("ok")
      yield* seconds(1)
      // c1 and c2 were the least recently seen while c0 was in flight.
      expect(fake.events().map((e) => e.note.match(/shop\/web\/(c\d)/)?.[1])).toStrictEqual(["c0", "c4", "c3"])
      expect(fake.events().find((e) => e.note.includes("shop/web/c3"))?.series?.count).toBe(2)
    }))
})

describe("EventRecorder: failures", () => {
  it.effect("a 403 from RBAC is one warning, then Events are off: nothing more is written", () =>
    Effect.gen(function*() {
      const fake = makeFakeEventsApi()
      fake.setMode("forbidden")
      const harness = yield* start(fake)
      yield* harness.report(owner(), deployed("app"))
      yield* harness.report(owner(), deployed("sidecar"))
      yield* settle
      yield* harness.report(owner("api"), deployed("app", DIGEST_A, "api"))
      yield* minutes(30)
      expect(fake.writes.map((w) => w.status)).toStrictEqual([403])
      expect(warnings(harness)).toStrictEqual([
        "Kubernetes events are off: this service account may not write events.k8s.io Events; grant create and patch on them (see the README's Permissions) or set -kube-events=false"
      ])
      expect(yield* metric(harness, "deployment_tracker_kube_events_total", 'result="forbidden"')).toBe(1)
      // Outcomes after that are not even counted: the recorder is off.
      expect(yield* metric(harness, "deployment_tracker_kube_event_outcomes_total", 'reason="Deployed"')).toBe(2)
    }))

  it.effect("a 403 for a namespace being deleted drops that Event only; other namespaces keep theirs", () =>
    Effect.gen(function*() {
      const fake = makeFakeEventsApi()
      fake.terminate("old")
      const harness = yield* start(fake)
      yield* harness.report(owner("web", "uid-old", "old"), deployed())
      yield* settle
      yield* harness.report(owner(), deployed())
      yield* settle
      expect(fake.writes.map((w) => [w.namespace, w.status])).toStrictEqual([["old", 403], ["shop", 201]])
      expect(yield* metric(harness, "deployment_tracker_kube_events_total", 'result="rejected"')).toBe(1)
      expect(warnings(harness)).toHaveLength(1)
      expect(warnings(harness)[0]).toContain("The API server refused a Kubernetes Event; not tried again")
    }))

  it.effect("an API server failing is retried with backoff and logged once; after 12 attempts the Event is dropped", () =>
    Effect.gen(function*() {
      const fake = makeFakeEventsApi()
      fake.setMode("outage")
      const harness = yield* start(fake)
      yield* harness.report(owner(), deployed())
      yield* settle
      yield* minutes(1)
      const early = fake.writes.length
      // 1 s doubling, jittered: a handful of attempts in the first minute, not hundreds.
      expect(early).toBeGreaterThanOrEqual(4)
      expect(early).toBeLessThanOrEqual(8)
      yield* minutes(15)
      expect(fake.writes).toHaveLength(12)
      expect(fake.writes.every((w) => w.status === 503)).toBe(true)
      expect(warnings(harness)).toHaveLength(1)
      expect(yield* metric(harness, "deployment_tracker_kube_events_dropped_total", 'cause="retries"')).toBe(1)
      // The API server is back: the next outcome is written.
      fake.setMode("ok")
      yield* harness.report(owner(), deployed())
      yield* settle
      expect(fake.succeeded().map((w) => w.method)).toStrictEqual(["POST"])
    }))

  it.effect("a stuck API server never slows report: 1,000 reports return at once; the Event written after it recovers carries all of them", () =>
    Effect.gen(function*() {
      const fake = makeFakeEventsApi()
      fake.setMode("stuck")
      const harness = yield* start(fake)
      yield* harness.report(owner(), deployed())
      yield* settle
      expect(fake.writes.map((w) => w.status)).toStrictEqual([0])

      const reports = yield* Effect.fork(Effect.forEach(Array.from({ length: 999 }), () => harness.report(owner(), deployed()), { discard: true }))
      // Real time, not the TestClock: the reports must not wait for anything.
      yield* TestServices.provideLive(Fiber.join(reports).pipe(Effect.timeoutFail({
        duration: Duration.seconds(2),
        onTimeout: () => new Error("report waited for the API server")
      })))
      expect(fake.writes).toHaveLength(1)

      // The write times out after 10 s and is tried again; the API server answers by then.
      yield* seconds(10)
      fake.setMode("ok")
      yield* seconds(5)
      expect(fake.events()).toHaveLength(1)
      expect(fake.events()[0]!.series?.count).toBe(1000)
    }))
})

describe("EventRecorder: shutdown", () => {
  it.effect("pending series updates are written at shutdown, and the totals logged", () =>
    Effect.gen(function*() {
      const fake = makeFakeEventsApi()
      const harness = yield* start(fake)
      yield* harness.report(owner(), deployed())
      yield* settle
      for (let i = 0; i < 4; i++) yield* harness.report(owner(), deployed())
      yield* seconds(20)
      expect(fake.writes.map((w) => w.method)).toStrictEqual(["POST"])
      yield* shutdown(harness)
      expect(fake.writes.map((w) => [w.method, w.status])).toStrictEqual([["POST", 201], ["PATCH", 200]])
      expect(fake.events()[0]!.series?.count).toBe(5)
      const stopped = harness.logs.find((l) => l.message === "Kubernetes events stopped")
      expect(stopped).toBeDefined()
    }))

  it.effect("a stuck API server holds shutdown up for the flush deadline only; what was not written is counted", () =>
    Effect.gen(function*() {
      const fake = makeFakeEventsApi()
      const harness = yield* start(fake)
      yield* harness.report(owner(), deployed())
      yield* settle
      fake.setMode("stuck")
      yield* harness.report(owner(), deployed())
      yield* harness.report(owner("api"), deployed("app", DIGEST_A, "api"))
      yield* settle
      const closing = yield* Effect.fork(Scope.close(harness.scope, Exit.void))
      // In steps, so the flush's deadline is set before the clock passes it.
      for (let i = 0; i < 29; i++) yield* TestClock.adjust(Duration.millis(100))
      expect(Option.isNone(yield* Fiber.poll(closing))).toBe(true)
      for (let i = 0; i < 2; i++) yield* TestClock.adjust(Duration.millis(100))
      expect(Option.isSome(yield* Fiber.poll(closing))).toBe(true)
      expect(yield* metric(harness, "deployment_tracker_kube_events_dropped_total", 'cause="shutdown"')).toBe(2)
    }))
})

describe("EventRecorder: wiring (ControllerApp)", () => {
  const wired = (config: { readonly kubeEvents: boolean; readonly dryRun: boolean }) =>
    Effect.gen(function*() {
      const fake = makeFakeEventsApi()
      const logs: Array<string> = []
      const logger = Logger.make(({ message }) => void logs.push(Array.isArray(message) ? message.join(" ") : String(message)))
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        WorkloadEventsLive.pipe(
          Layer.provide(Layer.mergeAll(testConfigLayer(config), Metrics.Default, Layer.succeed(KubeApi, fake.api))),
          Layer.provide(Logger.replace(Logger.defaultLogger, logger))
        ),
        scope
      )
      yield* Context.get(context, WorkloadEvents).report(owner(), deployed())
      yield* settle
      return { writes: fake.writes.length, logs }
    })

  it.effect("-kube-events on: the recorder writes", () =>
    Effect.gen(function*() {
      expect((yield* wired({ kubeEvents: true, dryRun: false })).writes).toBe(1)
    }))

  it.effect("-kube-events=false: nothing is written, and the log says why", () =>
    Effect.gen(function*() {
      const { writes, logs } = yield* wired({ kubeEvents: false, dryRun: false })
      expect(writes).toBe(0)
      expect(logs).toContain("Kubernetes events are off (-kube-events=false)")
    }))

  it.effect("-dry-run: nothing is written to the cluster (nothing was reported to GitHub either)", () =>
    Effect.gen(function*() {
      const { writes, logs } = yield* wired({ kubeEvents: true, dryRun: true })
      expect(writes).toBe(0)
      expect(logs).toContain("Kubernetes events are off in a dry run")
    }))
})

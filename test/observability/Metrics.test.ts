import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Metrics } from "../../src/observability/Metrics.ts"

// The Go original's metric names, types and labels: dashboards and alerts
// depend on them, so a rename must fail here.
const ORIGINAL_METRICS: ReadonlyArray<readonly [name: string, type: string, labels: ReadonlyArray<string>]> = [
  ["deptracker_events_processed_ok", "counter", ["event_type"]],
  ["deptracker_events_processed_failed", "counter", ["event_type"]],
  ["deptracker_events_processed_timer", "histogram", ["status"]],
  ["deptracker_post_deployment_record_timer", "histogram", []],
  ["deptracker_post_record_ok", "counter", []],
  ["deptracker_post_record_rate_limited", "counter", []],
  ["deptracker_post_record_unknown_artifact", "counter", []],
  ["deptracker_post_record_unknown_artifact_cache_hit", "counter", []],
  ["deptracker_post_record_soft_fail", "counter", []],
  ["deptracker_post_record_hard_fail", "counter", []],
  ["deptracker_post_record_client_error", "counter", []]
]

describe("Metrics", () => {
  it.effect("exposes the original's metric names, types and labels", () =>
    Effect.gen(function*() {
      const metrics = yield* Metrics
      metrics.eventsProcessed("CREATED", true, 1)
      metrics.eventsProcessed("DELETED", false, 2)
      metrics.reconciled(true, 0.01)
      metrics.reconciled(false, 0.02)
      metrics.postAttemptSeconds(0.1)
      const text = yield* metrics.render
      for (const [name, type] of ORIGINAL_METRICS) {
        expect(text).toContain(`# TYPE ${name} ${type}`)
      }
      const json = yield* Effect.promise(() => metrics.registry.getMetricsAsJSON())
      for (const [name, , labels] of ORIGINAL_METRICS) {
        const metric = json.find((m) => m.name === name)
        const seen = new Set(metric?.values.flatMap((v) => Object.keys(v.labels).filter((l) => l !== "le")))
        for (const label of seen) expect(labels).toContain(label)
      }
      expect(text).toContain('deptracker_events_processed_ok{event_type="CREATED"} 1')
      expect(text).toContain('deptracker_events_processed_failed{event_type="DELETED"} 2')
      expect(text).toContain('deptracker_events_processed_timer_count{status="ok"} 1')
      expect(text).toContain('deptracker_events_processed_timer_count{status="failed"} 1')
    }).pipe(Effect.provide(Metrics.Default)))

  it.effect("includes the default process metrics", () =>
    Effect.gen(function*() {
      const text = yield* (yield* Metrics).render
      expect(text).toContain("process_resident_memory_bytes")
      expect(text).toContain("nodejs_heap_size_used_bytes")
    }).pipe(Effect.provide(Metrics.Default)))

  it.effect("each instance has its own registry (no global state shared between tests or processes)", () =>
    Effect.gen(function*() {
      const a = yield* Metrics.pipe(Effect.provide(Metrics.Default))
      const b = yield* Metrics.pipe(Effect.provide(Metrics.Default))
      a.postOk.inc()
      expect(yield* b.render).toContain("deptracker_post_record_ok 0")
    }))
})

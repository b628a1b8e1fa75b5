import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer, TestClock } from "effect"
import { RateLimitGate } from "../../src/github/RateLimitGate.ts"
import { HealthGaugesLive } from "../../src/observability/HealthGauges.ts"
import { Liveness } from "../../src/observability/Liveness.ts"
import { Metrics } from "../../src/observability/Metrics.ts"
import { Readiness } from "../../src/observability/Readiness.ts"

const services = Layer.mergeAll(Metrics.Default, Readiness.Default, Liveness.Default, RateLimitGate.Default)

const value = (text: string, name: string) => {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `))
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1))
}

describe("HealthGauges", () => {
  it.scoped("ready, live, a watch's silence and the rate-limit wait are metrics, as of the scrape", () =>
    Effect.gen(function*() {
      const metrics = yield* Metrics
      const readiness = yield* Readiness
      const liveness = yield* Liveness
      const gate = yield* RateLimitGate
      yield* Layer.build(HealthGaugesLive)
      // As the controller does: waiting out the rate limit is declared a hold-up.
      yield* liveness.holdUp(gate.openAt)
      let text = yield* metrics.render
      expect(value(text, "deployment_tracker_ready")).toBe(0)
      expect(value(text, "deployment_tracker_live")).toBe(1)
      expect(value(text, "deployment_tracker_rate_limit_wait_seconds")).toBe(0)

      yield* readiness.markSynced
      yield* liveness.watch("pods")
      yield* TestClock.adjust(Duration.minutes(6))
      yield* gate.closeFor(Duration.seconds(90))
      text = yield* metrics.render
      expect(value(text, "deployment_tracker_ready")).toBe(1)
      // Six minutes without a word from the API server: stalled, not live
      // (a rate limit excuses waiting work, not a silent server).
      expect(value(text, "deployment_tracker_live")).toBe(0)
      expect(value(text, 'deployment_tracker_watch_silence_seconds{watch="pods"}')).toBe(360)
      expect(value(text, "deployment_tracker_rate_limit_wait_seconds")).toBe(90)
    }).pipe(Effect.provide(services)))
})

import { Clock, Effect, Layer } from "effect"
import { Liveness } from "./Liveness.ts"
import { Metrics } from "./Metrics.ts"
import { Readiness } from "./Readiness.ts"

/**
 * What `/readyz` and `/healthz` say, and how long GitHub's rate limit still
 * holds (the hold-up the controller declares to Liveness), as gauges set at every scrape: alerts (the chart's PrometheusRule)
 * need them as metrics, not probe answers.
 */
export const HealthGaugesLive = Layer.scopedDiscard(Effect.gen(function*() {
  const metrics = yield* Metrics
  const readiness = yield* Readiness
  const liveness = yield* Liveness
  yield* metrics.onScrape(Effect.gen(function*() {
    metrics.ready.set((yield* readiness.isReady) ? 1 : 0)
    const report = yield* liveness.check
    metrics.live.set(report.live ? 1 : 0)
    metrics.watchSilence.reset()
    for (const watch of report.watches) {
      metrics.watchSilence.set({ watch: watch.name }, watch.state === "waiting-for-server" ? watch.silentSeconds : 0)
    }
    const now = yield* Clock.currentTimeMillis
    // The only hold-up the controller declares is GitHub's rate limit (its gate's reset).
    metrics.rateLimitWait.set(Math.max(0, ((yield* liveness.heldUpUntil) - now) / 1000))
  }))
}))

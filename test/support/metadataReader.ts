import { type Duration, Effect, Layer } from "effect"
import type { ControllerConfig } from "../../src/config/Config.ts"
import { KubeApi } from "../../src/kube/KubeApi.ts"
import { MetadataReader } from "../../src/kube/MetadataReader.ts"
import { Metrics } from "../../src/observability/Metrics.ts"
import { testConfigLayer } from "./testConfig.ts"

/**
 * A KubeApi whose GETs each take `latency` (on the TestClock) before
 * reaching `kube`: reads can then be caught in flight, e.g. to see that
 * concurrent readers share one request.
 */
export const withGetLatency = (latency: Duration.DurationInput) => <E, R>(kube: Layer.Layer<KubeApi, E, R>) =>
  Layer.effect(
    KubeApi,
    Effect.map(KubeApi, (inner) => ({
      ...inner,
      getJson: (...args: Parameters<typeof inner.getJson>) => Effect.sleep(latency).pipe(Effect.zipRight(inner.getJson(...args)))
    }))
  ).pipe(Layer.provide(kube))

/**
 * The real MetadataReader over `kube`, with the test configuration (and
 * `config` overrides) and a Metrics of its own; what `kube` provides
 * besides KubeApi (e.g. WorkloadWatches) stays available, as do Config and
 * Metrics.
 */
export const metadataReaderOver = <ROut, E>(
  kube: Layer.Layer<ROut | KubeApi, E>,
  config: Partial<ControllerConfig> = {}
) => MetadataReader.Default.pipe(Layer.provideMerge(Layer.mergeAll(kube, testConfigLayer(config), Metrics.Default)))

import type { SpanExporter } from "@opentelemetry/sdk-trace-base"
import { Data, Duration, Effect, FiberSet, Layer, Option, Redacted } from "effect"
import type { TracingSettings } from "../config/Config.ts"
import { describeProxy, type EgressSettings, proxyFor, trustedCertificates } from "../config/egress.ts"
import { VERSION } from "../version.ts"
import { EventTracing } from "./eventTrace.ts"

// Tracing is off unless an OTLP endpoint is configured. The OpenTelemetry
// SDK is then loaded with dynamic imports: the default path never loads it
// (it costs several MiB of heap, and the process runs with a 192 MiB cap).
// Only types are imported statically; they vanish at compile time.

export class TracingSetupError extends Data.TaggedError("TracingSetupError")<{
  readonly reason: string
}> {}

/** How long shutdown waits for the last spans to reach the collector. */
export const TRACE_FLUSH_TIMEOUT = Duration.seconds(3)

/** `ExportResultCode.SUCCESS` of @opentelemetry/core (not a direct dependency). */
const EXPORT_SUCCESS = 0

type ExportResult = Parameters<Parameters<SpanExporter["export"]>[1]>[0]

const loadModules = <A>(what: string, importModules: () => Promise<A>) =>
  Effect.tryPromise({
    try: importModules,
    catch: (cause) => new TracingSetupError({ reason: `loading ${what} failed: ${String(cause)}` })
  })

/**
 * What a failed export may say, without secrets: the message only (never
 * the collector's response body), with any configured header value masked
 * in case an error echoes one, and bounded in length.
 */
export const describeExportError = (error: unknown, secrets: ReadonlyArray<string>): string => {
  let text = error instanceof Error ? error.message : String(error)
  for (const secret of secrets) {
    if (secret.length > 0) text = text.split(secret).join("***")
  }
  return text.length > 200 ? `${text.slice(0, 200)}...` : text
}

/**
 * Wraps an exporter so its failures are logged, once per burst: a warning at
 * the first failure, an info line when an export works again. The SDK
 * itself drops spans it cannot send and never throws into the controller.
 */
const reportFailures = (exporter: SpanExporter, secrets: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    // Export callbacks come from the SDK's timers: log through fibers owned by this scope.
    const run = yield* FiberSet.makeRuntime<never>()
    let failing = false
    const observe = (result: ExportResult) => {
      if (result.code !== EXPORT_SUCCESS && !failing) {
        failing = true
        run(
          Effect.logWarning("Exporting traces failed; spans are dropped until the collector accepts them").pipe(
            Effect.annotateLogs({ reason: describeExportError(result.error, secrets) })
          )
        )
      } else if (result.code === EXPORT_SUCCESS && failing) {
        failing = false
        run(Effect.logInfo("Exporting traces works again"))
      }
    }
    const reporting: SpanExporter = {
      export: (spans, done) =>
        exporter.export(spans, (result) => {
          observe(result)
          done(result)
        }),
      shutdown: () => exporter.shutdown(),
      forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve()
    }
    return reporting
  })

export interface ExportingTracerOptions {
  readonly serviceName: string
  /** Built once the SDK is loaded; the tests pass an in-memory exporter. */
  readonly exporter: Effect.Effect<SpanExporter, TracingSetupError>
  /** Values never to appear in logs (the collector headers). */
  readonly secrets?: ReadonlyArray<string>
}

/**
 * Installs @effect/opentelemetry's tracer for everything built on top of
 * this layer: spans are batched (BatchSpanProcessor) and sent through the
 * exporter; the remaining ones are flushed when the layer is released,
 * within TRACE_FLUSH_TIMEOUT.
 */
export const exportingTracerLayer = (options: ExportingTracerOptions): Layer.Layer<EventTracing, TracingSetupError> =>
  Layer.unwrapScoped(Effect.gen(function*() {
    const [OtelTracer, OtelResource, Resources, SdkTrace] = yield* loadModules("the OpenTelemetry SDK", () =>
      Promise.all([
        import("@effect/opentelemetry/Tracer"),
        import("@effect/opentelemetry/Resource"),
        import("@opentelemetry/resources"),
        import("@opentelemetry/sdk-trace-base")
      ]))
    const exporter = yield* reportFailures(yield* options.exporter, options.secrets ?? [])
    const resource = Resources.resourceFromAttributes(
      OtelResource.configToAttributes({ serviceName: options.serviceName, serviceVersion: VERSION })
    )
    const provider = yield* Effect.acquireRelease(
      Effect.sync(() =>
        new SdkTrace.BasicTracerProvider({ resource, spanProcessors: [new SdkTrace.BatchSpanProcessor(exporter)] })
      ),
      (provider) =>
        // shutdown() flushes the batch first. Bounded, and never a failure:
        // a collector that is down must not hold up or fail the exit.
        Effect.tryPromise(() => provider.shutdown()).pipe(
          Effect.ignore,
          Effect.interruptible,
          Effect.timeoutOption(TRACE_FLUSH_TIMEOUT)
        )
    )
    return OtelTracer.layer.pipe(
      Layer.provide(Layer.succeed(OtelTracer.OtelTracerProvider, provider)),
      Layer.provide(Layer.succeed(OtelResource.Resource, resource)),
      Layer.discard,
      // The controller keeps per-event traces only when they can be exported.
      Layer.merge(Layer.succeed(EventTracing, true))
    )
  }))

/**
 * The Node agent the OTLP exporter sends through. The exporter speaks
 * node:http(s) and takes only an http.Agent, so undici's EnvHttpProxyAgent
 * (GitHub's) cannot serve it; Node's own agent does the proxying instead
 * (its `proxyEnv`, Node >= 24.5: CONNECT for https, absolute URLs for http).
 * Whether to use the proxy is decided here with the same rules as for
 * GitHub (proxyFor), so Node is given the chosen proxy and no NO_PROXY of
 * its own (its matching differs). CAs: Node's plus SSL_CERT_FILE/DIR.
 */
export const collectorAgentOptions = (tracesUrl: string, egress: EgressSettings | undefined) => {
  const url = new URL(tracesUrl)
  const proxy = proxyFor(tracesUrl, egress)
  const ca = url.protocol === "https:" ? trustedCertificates(egress) : undefined
  return {
    keepAlive: true,
    ...(ca === undefined ? {} : { ca: [...ca] }),
    ...Option.match(proxy, {
      onNone: () => ({}),
      onSome: (value) => ({ proxyEnv: { [url.protocol === "https:" ? "HTTPS_PROXY" : "HTTP_PROXY"]: Redacted.value(value) } })
    })
  }
}

/** The OTLP/HTTP (JSON) exporter to the configured collector. */
const otlpExporter = (settings: TracingSettings) =>
  loadModules("the OTLP trace exporter", () => import("@opentelemetry/exporter-trace-otlp-http")).pipe(
    Effect.map(({ OTLPTraceExporter }) =>
      new OTLPTraceExporter({
        url: settings.tracesUrl,
        headers: { ...Redacted.value(settings.headers) },
        // A factory (not options) so the agent is made for the URL's protocol
        // with the proxy decided above; loaded lazily, as the exporter advises.
        httpAgentOptions: async (protocol) => {
          const options = collectorAgentOptions(settings.tracesUrl, settings.egress)
          return protocol === "http:" ? new (await import("node:http")).Agent(options) : new (await import("node:https")).Agent(options)
        }
      })
    )
  )

/** Where traces go, for the start-up log line: no credentials in the URL, no query. */
const describeUrl = (url: string): string => {
  try {
    const parsed = new URL(url)
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`
  } catch {
    return "(unparsable URL)"
  }
}

/**
 * The tracing of the process: nothing at all when no OTLP endpoint is set
 * (Effect keeps its built-in tracer, nothing is loaded or exported);
 * otherwise spans go to the collector. Provide it outermost, so every span
 * of the app is exported and the flush runs after the app has stopped. A
 * tracer that cannot be set up is logged and tracing stays off: it is never
 * a reason not to run.
 */
export const TracingLive = (settings: Option.Option<TracingSettings>): Layer.Layer<EventTracing> =>
  Option.match(settings, {
    onNone: () => Layer.succeed(EventTracing, false),
    onSome: (tracing) =>
      exportingTracerLayer({
        serviceName: tracing.serviceName,
        exporter: otlpExporter(tracing),
        secrets: Object.values(Redacted.value(tracing.headers))
      }).pipe(
        Layer.tap(() =>
          Effect.logInfo("Tracing on").pipe(
            Effect.annotateLogs({
              traces_url: describeUrl(tracing.tracesUrl),
              service_name: tracing.serviceName,
              proxy: Option.match(proxyFor(tracing.tracesUrl, tracing.egress), { onNone: () => "none", onSome: describeProxy })
            })
          )
        ),
        orTracingOff
      )
  })

/** A tracer that cannot be set up is logged, and the app runs untraced. */
export const orTracingOff = (layer: Layer.Layer<EventTracing, TracingSetupError>): Layer.Layer<EventTracing> =>
  Layer.catchAll(layer, (error) =>
    Layer.effect(
      EventTracing,
      Effect.logWarning("Tracing is off: it could not be set up").pipe(
        Effect.annotateLogs({ reason: error.reason }),
        Effect.as(false)
      )
    ))

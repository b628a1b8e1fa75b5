import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace-base"
import { Effect, Logger } from "effect"
import { lineLogger } from "../../src/observability/Logging.ts"
import { exportingTracerLayer } from "../../src/observability/Tracing.ts"

/**
 * An in-memory exporter that keeps its spans after shutdown (the SDK's own
 * forgets them then), so a test can read what the tracing layer flushed
 * when it was released.
 */
class KeptSpans extends InMemorySpanExporter {
  override shutdown(): Promise<void> {
    return Promise.resolve()
  }
}

export const TEST_SERVICE = "deployment-tracker-test"

/** The real tracing layer (batching, flush on release) over an in-memory exporter. */
export const inMemoryTracing = () => {
  const exporter = new KeptSpans()
  const layer = exportingTracerLayer({ serviceName: TEST_SERVICE, exporter: Effect.succeed(exporter) })
  return { layer, spans: (): ReadonlyArray<ReadableSpan> => exporter.getFinishedSpans() }
}

/** The app's JSON log lines, parsed, instead of stdout. */
export const captureLogs = () => {
  const lines: Array<Record<string, unknown>> = []
  const layer = Logger.replace(
    Logger.defaultLogger,
    lineLogger((line) => lines.push(JSON.parse(line) as Record<string, unknown>))
  )
  return { lines, layer }
}

export const spanNamed = (spans: ReadonlyArray<ReadableSpan>, name: string): ReadableSpan => {
  const found = spans.filter((s) => s.name === name)
  if (found.length !== 1) throw new Error(`expected one span ${name}, found ${found.length}`)
  return found[0]!
}

export const parentOf = (span: ReadableSpan): string | undefined => span.parentSpanContext?.spanId

import { describe, expect, it } from "@effect/vitest"
import { Effect, Logger } from "effect"
import { lineLogger } from "../../src/observability/Logging.ts"

const capture = () => {
  const lines: Array<string> = []
  const layer = Logger.replace(Logger.defaultLogger, lineLogger((line) => lines.push(line)))
  return { lines, layer }
}

describe("lineLogger", () => {
  it.effect("writes one JSON object per line: time, level, msg and the annotations as fields", () =>
    Effect.gen(function*() {
      const { layer, lines } = capture()
      yield* Effect.logWarning("Posted record").pipe(
        Effect.annotateLogs({ deployment_name: "ns/app/c", http_status: 503 }),
        Effect.provide(layer)
      )
      expect(lines).toHaveLength(1)
      expect(lines[0]!.endsWith("\n")).toBe(true)
      const parsed = JSON.parse(lines[0]!) as Record<string, unknown>
      expect(parsed).toMatchObject({ level: "WARN", msg: "Posted record", deployment_name: "ns/app/c", http_status: 503 })
      expect(new Date(parsed["time"] as string).getTime()).not.toBeNaN()
    }))

  it.effect("includes the cause of a failure as error", () =>
    Effect.gen(function*() {
      const { layer, lines } = capture()
      yield* Effect.logError("Unexpected failure", new Error("boom")).pipe(Effect.provide(layer))
      const parsed = JSON.parse(lines[0]!) as Record<string, unknown>
      expect(parsed["level"]).toBe("ERROR")
      expect(String(parsed["msg"])).toContain("Unexpected failure")
    }))

  it.effect("an annotation cannot overwrite the fixed fields", () =>
    Effect.gen(function*() {
      const { layer, lines } = capture()
      yield* Effect.logInfo("real").pipe(Effect.annotateLogs({ msg: "spoofed", level: "ERROR" }), Effect.provide(layer))
      expect(JSON.parse(lines[0]!)).toMatchObject({ msg: "real", level: "INFO" })
    }))
})

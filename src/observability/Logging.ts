import { Cause, HashMap, Layer, Logger, LogLevel } from "effect"
import type { LogLevelName } from "../config/Config.ts"

const LEVELS: Readonly<Record<LogLevelName, LogLevel.LogLevel>> = {
  DEBUG: LogLevel.Debug,
  INFO: LogLevel.Info,
  WARN: LogLevel.Warning,
  ERROR: LogLevel.Error
}

const LEVEL_NAMES: Readonly<Record<string, string>> = {
  Trace: "DEBUG",
  Debug: "DEBUG",
  Info: "INFO",
  Warning: "WARN",
  Error: "ERROR",
  Fatal: "ERROR"
}

const messageText = (message: unknown): string => {
  const parts = Array.isArray(message) ? message : [message]
  return parts.map((part) => (typeof part === "string" ? part : safeJson(part))).join(" ")
}

const safeJson = (value: unknown): string => {
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

/**
 * One JSON object per line, in the shape of the Go original's slog JSON
 * handler: `time`, `level`, `msg`, then the annotations as flat fields, and
 * `error` with the cause when there is one. Written straight to stdout: it
 * runs for every posted record, and Effect's generic JSON logger costs
 * several times more.
 */
export const lineLogger = (write: (line: string) => void) =>
  Logger.make<unknown, void>(({ annotations, cause, date, logLevel, message }) => {
    const line: Record<string, unknown> = {
      time: date.toISOString(),
      level: LEVEL_NAMES[logLevel._tag] ?? logLevel.label,
      msg: messageText(message)
    }
    for (const [key, value] of HashMap.toEntries(annotations)) {
      if (!(key in line)) line[key] = value
    }
    if (!Cause.isEmpty(cause)) line["error"] = Cause.pretty(cause, { renderErrorCause: true })
    let text: string
    try {
      text = JSON.stringify(line)
    } catch {
      text = JSON.stringify({ time: line["time"], level: line["level"], msg: line["msg"] })
    }
    write(`${text}\n`)
  })

/** JSON log lines on stdout at the configured level. */
export const loggingLayer = (level: LogLevelName) =>
  Layer.merge(
    Logger.replace(Logger.defaultLogger, lineLogger((line) => process.stdout.write(line))),
    Logger.minimumLogLevel(LEVELS[level])
  )

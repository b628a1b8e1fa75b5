import { Layer, Logger, LogLevel } from "effect"
import type { LogLevelName } from "../config/Config.ts"

const LEVELS: Readonly<Record<LogLevelName, LogLevel.LogLevel>> = {
  DEBUG: LogLevel.Debug,
  INFO: LogLevel.Info,
  WARN: LogLevel.Warning,
  ERROR: LogLevel.Error
}

/** JSON log lines on stdout at the configured level (the original's format choice). */
export const loggingLayer = (level: LogLevelName) =>
  Layer.merge(Logger.json, Logger.minimumLogLevel(LEVELS[level]))

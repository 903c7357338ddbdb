/**
 * Logging: one root pino logger per process, writing JSON lines to stderr;
 * components take a child logger once, at construction. A runner process's
 * lines reach the driver's stderr prefixed with the runner id.
 */
import { pino, type Logger, type Level } from "pino";

export type LogLevel = Level | "silent";

let root: Logger | undefined;

/** The process's root logger; the first call fixes its level (default: TUBULAR_LOG_LEVEL or "warn"). */
export function rootLogger(level?: LogLevel, bindings: Record<string, unknown> = {}): Logger {
  if (!root) {
    root = pino(
      { level: level ?? (process.env.TUBULAR_LOG_LEVEL as LogLevel | undefined) ?? "warn", base: { pid: process.pid, ...bindings } },
      pino.destination({ fd: 2, sync: true }),
    );
  } else if (level) root.level = level;
  return root;
}

export type { Logger };

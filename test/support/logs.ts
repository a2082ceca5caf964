import type { LogLevel } from "../../src/config.ts";
import { createLogger, type Logger } from "../../src/telemetry/logger.ts";

/**
 * Pulse's logger as `npm start` builds it (createLogger: pino, JSON lines), writing into memory instead of stdout,
 * so a test reads what was logged and nothing is printed.
 */

/** A JSON line as pino writes it. */
export type LogRecord = Record<string, unknown> & { level: string; msg: string; time: string };

/** The logger and what it wrote: `raw` chunks, and `lines()` parsed (a line that is not JSON fails the test). */
export function capturedLogger(level: LogLevel = "info"): { logger: Logger; raw: string[]; lines: () => LogRecord[] } {
  const raw: string[] = [];
  const logger = createLogger({ level, destination: { write: (chunk: string) => void raw.push(chunk) } });
  return {
    logger,
    raw,
    lines: () =>
      raw
        .join("")
        .split("\n")
        .filter((line) => line !== "")
        .map((line) => JSON.parse(line) as LogRecord),
  };
}

export interface LogLine {
  readonly level: string;
  readonly message: string;
  readonly fields: Record<string, unknown>;
}

/** A logger (level info) that is itself the record: `lines` holds each line as level, message and other fields. */
export function recordingLogger(): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = createLogger({
    level: "info",
    destination: {
      write(line: string) {
        const { level, msg, ...fields } = JSON.parse(line) as { level: string; msg: string };
        lines.push({ level, message: msg, fields });
      },
    },
  });
  return Object.assign(logger, { lines });
}

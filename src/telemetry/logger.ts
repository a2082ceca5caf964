import { pino, type DestinationStream, type Logger } from "pino";
import pretty from "pino-pretty";
import type { LogLevel } from "../config.ts";

export type { Logger };

/**
 * Never written, whatever the level: keys travel in `authorization` headers and in WebSocket `connectionParams`.
 * Pulse's own lines never carry headers, connection params or event properties in the first place; this is the
 * second lock, for a field someone adds later.
 */
const REDACTED_PATHS = [
  "authorization",
  "*.authorization",
  "headers.authorization",
  "*.headers.authorization",
  "connectionParams",
  "*.connectionParams",
  "properties",
  "*.properties",
];

export interface LoggerOptions {
  /** Default `info`. */
  readonly level?: LogLevel;
  /** Human-readable colored lines (pino-pretty) instead of JSON; default false. */
  readonly pretty?: boolean;
  /** Where JSON lines go; default stdout, written synchronously so nothing is lost at exit. */
  readonly destination?: DestinationStream;
}

/** Pulse's logger: pino, JSON lines with an ISO `time`, keys and properties redacted. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const { level = "info" } = options;
  const settings = {
    level,
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
  };
  if (options.pretty) {
    return pino(settings, pretty({ colorize: true, sync: true, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname" }));
  }
  // Level names ("info") rather than pino's numbers: what people grep for and log shippers map without a table.
  const json = { ...settings, formatters: { level: (label: string) => ({ level: label }) } };
  return pino(json, options.destination ?? pino.destination({ dest: 1, sync: true }));
}

/** The default of `createPulseServer`: writes nothing, so embedding Pulse or testing it stays quiet. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}

/** Pretty output is for a person at a terminal (`npm start` in development), never for production or a pipe. */
export function wantsPrettyLogs(stdout: { isTTY?: boolean } = process.stdout, env: NodeJS.ProcessEnv = process.env): boolean {
  return stdout.isTTY === true && env.NODE_ENV !== "production";
}

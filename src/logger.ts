/**
 * Where Pulse writes its operational messages (start-up, snapshots, database trouble). The default writes to the
 * console: `info` to stdout, `warn` and `error` to stderr. Any logger with these three methods fits (pino's does).
 */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export const consoleLogger: Logger = {
  info: (message) => console.log(message),
  warn: (message) => console.warn(message),
  error: (message) => console.error(message),
};

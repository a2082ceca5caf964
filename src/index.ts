export { createPulseServer, type PulseServer, type PulseServerOptions } from "./server.ts";
export { loadConfig, resolveConfig, ConfigError, type PulseConfig } from "./config.ts";
export { ManualClock, systemClock, type Clock } from "./domain/clock.ts";
export { PulseError, type ErrorCode } from "./domain/errors.ts";
export { StoreUnusableError } from "./store/snapshot-store.ts";
export type { Logger } from "./logger.ts";

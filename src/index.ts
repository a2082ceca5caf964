export { createPulseServer, type PulseServer, type PulseServerOptions } from "./server.ts";
export { loadConfig, resolveConfig, ConfigError, type PulseConfig } from "./config.ts";
export { ManualClock, systemClock, type Clock } from "./domain/clock.ts";
export { PulseError, type ErrorCode } from "./domain/errors.ts";
export { SETTINGS, type Setting, type LogLevel } from "./config.ts";
export { createLogger, type Logger, type LoggerOptions } from "./telemetry/logger.ts";
export { PulseMetrics } from "./telemetry/metrics.ts";
export { Readiness, type CheckState, type ReadinessCheck, type ReadinessReport } from "./telemetry/readiness.ts";
export type { ReadAccessCheck } from "./transport/ops-routes.ts";

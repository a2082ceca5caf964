export { createPulseServer, type PulseServer, type PulseServerOptions } from "./server.ts";
export { loadConfig, resolveConfig, ConfigError, type PulseConfig } from "./config.ts";
export { ManualClock, systemClock, type Clock } from "./domain/clock.ts";
export { PulseError, type ErrorCode } from "./domain/errors.ts";
export { authorizeCapture, KeyRing, OPEN_PRINCIPAL, type CaptureGrant, type Principal, type Role } from "./auth/keys.ts";
export { CaptureRateLimiter } from "./limits/capture-rate.ts";
export { resolveTrustConfig, type TrustConfig, type TrustConfigInput } from "./limits/settings.ts";
export { readBody, BodyError, type ReadBodyOptions } from "./transport/body.ts";
export type { Trust, TrustStats } from "./trust.ts";

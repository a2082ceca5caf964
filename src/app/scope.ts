import type { Principal } from "../auth/keys.ts";
import { PulseError } from "../domain/errors.ts";

/**
 * The one rule for environment-scoped keys: a key scoped to one environment sees and captures only that
 * environment.
 * - Reading (recentEvents, liveUsers, liveDashboard, the events subscription) without an environment means the
 *   key's environment; naming another one is FORBIDDEN (src/app/reads.ts; the GraphQL auth plugin refuses such an
 *   operation before any resolver runs, with this same rule).
 * - Capturing without an environment stores into the key's environment; naming another one is FORBIDDEN and stores
 *   nothing of the batch (src/app/ingest.ts). PostHog's endpoints put a scoped key's events in its environment
 *   whatever `$environment` says (SDKs set it from configuration the key's owner may not control).
 * Persons are kept per distinctId across environments, and realtimeMetrics are server-wide counts: both stay
 * visible to scoped read keys.
 * Returns the refusal, or null when `requested` (an environment, or null/undefined for none) is allowed.
 */
export function forbiddenEnvironment(principal: Principal, requested: unknown, field: string): PulseError | null {
  if (principal.environment === null || requested == null || requested === principal.environment) return null;
  return new PulseError(
    "FORBIDDEN",
    `${field}: this key is scoped to environment "${principal.environment}", not ${JSON.stringify(requested)}`,
    { field, environment: principal.environment },
  );
}

import { PulseError } from "../domain/errors.ts";
import type { EventFilter } from "../domain/filter.ts";
import type { Hub, SubscribeOptions } from "../domain/hub.ts";
import type { CaptureRateLimiter } from "../limits/capture-rate.ts";
import type { Principal } from "./keys.ts";

/**
 * A key scoped to one environment sees and captures only that environment:
 * - reading (recentEvents, liveUsers, liveDashboard, the events subscription) without an environment means the
 *   key's environment; naming another one is FORBIDDEN (checked when the operation starts, see auth-plugin.ts);
 * - capturing without an environment stores into the key's environment; naming another one is FORBIDDEN and stores
 *   nothing of the batch.
 * Persons are kept per distinctId across environments, and realtimeMetrics are server-wide counts: both stay
 * visible to scoped read keys.
 */
export function forbiddenEnvironment(principal: Principal, requested: unknown, field: string): PulseError | null {
  if (principal.environment === null || requested == null || requested === principal.environment) return null;
  return new PulseError(
    "FORBIDDEN",
    `${field}: this key is scoped to environment "${principal.environment}", not ${JSON.stringify(requested)}`,
    { field, environment: principal.environment },
  );
}

/** Hub members any principal may use: no event data flows through them. */
const NEUTRAL = new Set<PropertyKey>(["clock", "options", "bufferSize", "lastPosition", "metrics", "person", "tick"]);
/** Hub members that read events or users, and take an environment. */
const READS = new Set<PropertyKey>(["recent", "subscribe", "liveUserCount", "liveUserList", "eventCounts", "topPages"]);

export interface HubViewOptions {
  readonly principal: Principal;
  /** Whom to charge captures to: the key, or the client's address on an open server. */
  readonly rateKey: string;
  readonly rateLimiter: CaptureRateLimiter;
}

/**
 * The hub as one request's principal may use it; resolvers get this as `context.hub` and need no auth code.
 * Captures are charged to the rate limit first (RATE_LIMITED stores nothing) and kept in the key's environment;
 * reads are limited to the key's environment; a capture key cannot read at all. For an unscoped read key, members
 * not listed here pass through; for capture and scoped keys they are refused, so a hub method added later cannot
 * leak another environment's data before someone decides how it is scoped.
 */
export function hubFor(hub: Hub, { principal, rateKey, rateLimiter }: HubViewOptions): Hub {
  const scope = principal.environment;
  const environmentOf = (requested: string | null | undefined, field: string): string | null => {
    const refusal = forbiddenEnvironment(principal, requested, field);
    if (refusal) throw refusal;
    return scope ?? requested ?? null;
  };
  const scopedFilter = (filter: EventFilter | null | undefined): EventFilter | null | undefined => {
    if (scope === null) return filter;
    // The filter's own shape is validated by compileFilter; only a well-formed environment matters here.
    const given = filter && typeof filter === "object" ? filter : {};
    return { ...given, environment: environmentOf((given as EventFilter).environment, "filter.environment") };
  };
  const scopedInputs = (inputs: readonly unknown[], batch: boolean): unknown[] =>
    inputs.map((input, index) => {
      if (scope === null || input === null || typeof input !== "object") return input;
      const field = batch ? `inputs[${index}].environment` : "input.environment";
      return { ...input, environment: environmentOf((input as { environment?: string | null }).environment, field) };
    });

  const view: Partial<Hub> = {
    capture: async (inputs, options = { batch: true }) => {
      const scoped = scopedInputs(inputs, options.batch);
      await rateLimiter.consume(rateKey, inputs.length);
      return hub.capture(scoped, options);
    },
    recent: (limit, filter) => hub.recent(limit, scopedFilter(filter)),
    subscribe: (options: SubscribeOptions) => hub.subscribe({ ...options, filter: scopedFilter(options.filter) }),
    liveUserCount: (environment) => hub.liveUserCount(environmentOf(environment, "environment")),
    liveUserList: (limit, environment) => hub.liveUserList(limit, environmentOf(environment, "environment")),
    eventCounts: (limit, environment) => hub.eventCounts(limit, environmentOf(environment, "environment")),
    topPages: (limit, environment) => hub.topPages(limit, environmentOf(environment, "environment")),
  };

  return new Proxy(hub, {
    get(target, property) {
      if (principal.role === "capture" && READS.has(property)) {
        return () => {
          throw new PulseError("FORBIDDEN", "This key may only capture events; reading needs a read key (PULSE_READ_KEYS)");
        };
      }
      if (property in view) return view[property as keyof Hub];
      const unrestricted = principal.role === "read" && scope === null;
      if (!unrestricted && !NEUTRAL.has(property)) {
        return () => {
          throw new PulseError("FORBIDDEN", `hub.${String(property)} is not available to this key`);
        };
      }
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

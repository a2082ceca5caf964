import { z } from "zod";

/**
 * Keys and limits: what Pulse accepts from the open internet. Each is read from the environment variable named in
 * its comment (see the README's "Security" section), with the default given there.
 */
export interface TrustConfig {
  /** PULSE_CAPTURE_KEYS, comma-separated `key` or `key:environment`; may only capture. Default none. */
  readonly captureKeys: readonly string[];
  /** PULSE_READ_KEYS, same syntax; may query, subscribe and capture. Default none. No keys at all = open server. */
  readonly readKeys: readonly string[];
  /** PULSE_MAX_BODY_BYTES, default 1 MiB: an HTTP or SSE request body, measured after gzip decompression. */
  readonly maxBodyBytes: number;
  /** PULSE_MAX_WS_PAYLOAD_BYTES, default 1 MiB: one WebSocket message (larger closes the socket with 1009). */
  readonly maxWsPayloadBytes: number;
  /** PULSE_MAX_EVENT_BYTES, default 64 KiB: one capture input serialized as JSON. */
  readonly maxEventBytes: number;
  /** PULSE_MAX_PROPERTY_KEY_LENGTH, default 256 characters, at any depth of `properties`. */
  readonly maxPropertyKeyLength: number;
  /** PULSE_MAX_PROPERTY_DEPTH, default 10: nesting of objects and arrays in `properties` (a flat object is 1). */
  readonly maxPropertyDepth: number;
  /** PULSE_MAX_PROPERTY_COUNT, default 1000: keys and array items in `properties`, all levels together. */
  readonly maxPropertyCount: number;
  /** PULSE_MAX_EVENT_AGE_SECONDS, default 7 days: older timestamps are refused (BAD_USER_INPUT). */
  readonly maxEventAgeSeconds: number;
  /** PULSE_MAX_QUERY_DEPTH, default 10 (introspection is exempt). */
  readonly maxQueryDepth: number;
  /** PULSE_MAX_QUERY_ALIASES, default 15. */
  readonly maxQueryAliases: number;
  /** PULSE_MAX_QUERY_TOKENS, default 2000 (send large batches as variables: they are not tokens). */
  readonly maxQueryTokens: number;
  /** PULSE_MAX_QUERY_DIRECTIVES, default 50. */
  readonly maxQueryDirectives: number;
  /** Hide "Did you mean ...?" suggestions; default on when NODE_ENV=production. */
  readonly hideFieldSuggestions: boolean;
  /** PULSE_MAX_SUBSCRIPTIONS_PER_CONNECTION, default 100: operations open at once on one WebSocket. */
  readonly maxSubscriptionsPerConnection: number;
  /** PULSE_MAX_CONNECTIONS_PER_ADDRESS, default 256: WebSockets and SSE streams open at once from one IP; 0 = no limit. */
  readonly maxConnectionsPerAddress: number;
  /** PULSE_CONNECTION_INIT_TIMEOUT_MS, default 3000: a WebSocket without `connection_init` by then closes with 4408. */
  readonly connectionInitTimeoutMs: number;
  /** PULSE_CAPTURE_RATE, default 1000: events per second each key (or address, on an open server) may capture. */
  readonly captureRatePerSecond: number;
  /** PULSE_CAPTURE_BURST, default 10000: extra events a key may capture in a burst, refilled over 10 seconds. */
  readonly captureBurst: number;
  /** PULSE_WS_SLOW_CONSUMER_BYTES, default 0: unsent bytes a WebSocket may hold without counting as stalled. */
  readonly slowConsumerBytes: number;
  /** PULSE_WS_SLOW_CONSUMER_MS, default 10000: a WebSocket stalled that long is closed with 1013. */
  readonly slowConsumerMs: number;
}

export type TrustConfigInput = Partial<TrustConfig>;

export const MiB = 1024 * 1024;

/** Fills defaults for a partial trust config (the programmatic API) and freezes it. */
export function resolveTrustConfig(partial: TrustConfigInput = {}): TrustConfig {
  return Object.freeze({
    captureKeys: Object.freeze([...(partial.captureKeys ?? [])]),
    readKeys: Object.freeze([...(partial.readKeys ?? [])]),
    maxBodyBytes: partial.maxBodyBytes ?? MiB,
    maxWsPayloadBytes: partial.maxWsPayloadBytes ?? MiB,
    maxEventBytes: partial.maxEventBytes ?? 64 * 1024,
    maxPropertyKeyLength: partial.maxPropertyKeyLength ?? 256,
    maxPropertyDepth: partial.maxPropertyDepth ?? 10,
    maxPropertyCount: partial.maxPropertyCount ?? 1000,
    maxEventAgeSeconds: partial.maxEventAgeSeconds ?? 7 * 24 * 60 * 60,
    maxQueryDepth: partial.maxQueryDepth ?? 10,
    maxQueryAliases: partial.maxQueryAliases ?? 15,
    maxQueryTokens: partial.maxQueryTokens ?? 2000,
    maxQueryDirectives: partial.maxQueryDirectives ?? 50,
    hideFieldSuggestions: partial.hideFieldSuggestions ?? process.env.NODE_ENV === "production",
    maxSubscriptionsPerConnection: partial.maxSubscriptionsPerConnection ?? 100,
    maxConnectionsPerAddress: partial.maxConnectionsPerAddress ?? 256,
    connectionInitTimeoutMs: partial.connectionInitTimeoutMs ?? 3000,
    captureRatePerSecond: partial.captureRatePerSecond ?? 1000,
    captureBurst: partial.captureBurst ?? 10_000,
    slowConsumerBytes: partial.slowConsumerBytes ?? 0,
    slowConsumerMs: partial.slowConsumerMs ?? 10_000,
  });
}

const integer = (name: string, min: number) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === "") return undefined;
      const n = Number(raw);
      if (!Number.isSafeInteger(n) || n < min) {
        ctx.addIssue({ code: "custom", message: `${name} must be an integer of at least ${min}, got "${raw}"` });
        return z.NEVER;
      }
      return n;
    });

const keyList = (name: string) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const entries = (raw ?? "")
        .split(",")
        .map((entry) => entry.trim())
        .filter((entry) => entry.length > 0);
      for (const entry of entries) {
        const problem = keyEntryProblem(entry);
        // The message names the position, never the key: settings errors end up in logs.
        if (problem) ctx.addIssue({ code: "custom", message: `${name}: entry ${entries.indexOf(entry) + 1} ${problem}` });
      }
      return entries;
    });

/** `key` or `key:environment`; keys are at least 16 characters of [A-Za-z0-9._~+/=-]. Null when well-formed. */
export function keyEntryProblem(entry: string): string | null {
  const colon = entry.indexOf(":");
  const key = colon === -1 ? entry : entry.slice(0, colon);
  const environment = colon === -1 ? null : entry.slice(colon + 1);
  if (!/^[A-Za-z0-9._~+/=-]{16,512}$/.test(key)) return "must be a key of 16 to 512 characters from A-Z a-z 0-9 . _ ~ + / = -";
  if (environment !== null && !/^[^\s,:]{1,100}$/.test(environment)) return "has an empty or invalid environment after ':'";
  return null;
}

const trustEnvironment = z.object({
  PULSE_CAPTURE_KEYS: keyList("PULSE_CAPTURE_KEYS"),
  PULSE_READ_KEYS: keyList("PULSE_READ_KEYS"),
  PULSE_MAX_BODY_BYTES: integer("PULSE_MAX_BODY_BYTES", 1024),
  PULSE_MAX_WS_PAYLOAD_BYTES: integer("PULSE_MAX_WS_PAYLOAD_BYTES", 1024),
  PULSE_MAX_EVENT_BYTES: integer("PULSE_MAX_EVENT_BYTES", 256),
  PULSE_MAX_PROPERTY_KEY_LENGTH: integer("PULSE_MAX_PROPERTY_KEY_LENGTH", 1),
  PULSE_MAX_PROPERTY_DEPTH: integer("PULSE_MAX_PROPERTY_DEPTH", 1),
  PULSE_MAX_PROPERTY_COUNT: integer("PULSE_MAX_PROPERTY_COUNT", 1),
  PULSE_MAX_EVENT_AGE_SECONDS: integer("PULSE_MAX_EVENT_AGE_SECONDS", 1),
  PULSE_MAX_QUERY_DEPTH: integer("PULSE_MAX_QUERY_DEPTH", 1),
  PULSE_MAX_QUERY_ALIASES: integer("PULSE_MAX_QUERY_ALIASES", 0),
  PULSE_MAX_QUERY_TOKENS: integer("PULSE_MAX_QUERY_TOKENS", 1),
  PULSE_MAX_QUERY_DIRECTIVES: integer("PULSE_MAX_QUERY_DIRECTIVES", 0),
  PULSE_MAX_SUBSCRIPTIONS_PER_CONNECTION: integer("PULSE_MAX_SUBSCRIPTIONS_PER_CONNECTION", 1),
  PULSE_MAX_CONNECTIONS_PER_ADDRESS: integer("PULSE_MAX_CONNECTIONS_PER_ADDRESS", 0),
  PULSE_CONNECTION_INIT_TIMEOUT_MS: integer("PULSE_CONNECTION_INIT_TIMEOUT_MS", 1),
  PULSE_CAPTURE_RATE: integer("PULSE_CAPTURE_RATE", 1),
  PULSE_CAPTURE_BURST: integer("PULSE_CAPTURE_BURST", 0),
  PULSE_WS_SLOW_CONSUMER_BYTES: integer("PULSE_WS_SLOW_CONSUMER_BYTES", 0),
  PULSE_WS_SLOW_CONSUMER_MS: integer("PULSE_WS_SLOW_CONSUMER_MS", 1),
});

/** Reads the trust settings from the environment: a config, or every problem found. */
export function parseTrustEnvironment(env: NodeJS.ProcessEnv): { config: TrustConfig } | { problems: string[] } {
  const parsed = trustEnvironment.safeParse(env);
  if (!parsed.success) return { problems: parsed.error.issues.map((issue) => issue.message) };
  const e = parsed.data;
  const secrets = [...e.PULSE_READ_KEYS, ...e.PULSE_CAPTURE_KEYS].map((entry) => entry.split(":")[0]);
  if (new Set(secrets).size !== secrets.length) {
    return { problems: ["PULSE_READ_KEYS / PULSE_CAPTURE_KEYS: a key is listed twice (a key has one role and one scope)"] };
  }
  return {
    config: resolveTrustConfig({
      captureKeys: e.PULSE_CAPTURE_KEYS,
      readKeys: e.PULSE_READ_KEYS,
      maxBodyBytes: e.PULSE_MAX_BODY_BYTES,
      maxWsPayloadBytes: e.PULSE_MAX_WS_PAYLOAD_BYTES,
      maxEventBytes: e.PULSE_MAX_EVENT_BYTES,
      maxPropertyKeyLength: e.PULSE_MAX_PROPERTY_KEY_LENGTH,
      maxPropertyDepth: e.PULSE_MAX_PROPERTY_DEPTH,
      maxPropertyCount: e.PULSE_MAX_PROPERTY_COUNT,
      maxEventAgeSeconds: e.PULSE_MAX_EVENT_AGE_SECONDS,
      maxQueryDepth: e.PULSE_MAX_QUERY_DEPTH,
      maxQueryAliases: e.PULSE_MAX_QUERY_ALIASES,
      maxQueryTokens: e.PULSE_MAX_QUERY_TOKENS,
      maxQueryDirectives: e.PULSE_MAX_QUERY_DIRECTIVES,
      maxSubscriptionsPerConnection: e.PULSE_MAX_SUBSCRIPTIONS_PER_CONNECTION,
      maxConnectionsPerAddress: e.PULSE_MAX_CONNECTIONS_PER_ADDRESS,
      connectionInitTimeoutMs: e.PULSE_CONNECTION_INIT_TIMEOUT_MS,
      captureRatePerSecond: e.PULSE_CAPTURE_RATE,
      captureBurst: e.PULSE_CAPTURE_BURST,
      slowConsumerBytes: e.PULSE_WS_SLOW_CONSUMER_BYTES,
      slowConsumerMs: e.PULSE_WS_SLOW_CONSUMER_MS,
    }),
  };
}

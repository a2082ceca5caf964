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
  /** PULSE_MAX_FILTER_CONDITIONS, default 50: event names, environment, distinctId and property conditions in one filter. */
  readonly maxFilterConditions: number;
  /** PULSE_MAX_FILTER_VALUE_LENGTH, default 1024: characters in any one value of a filter (a JSON value as JSON). */
  readonly maxFilterValueLength: number;
  /** PULSE_MAX_REGEX_INPUT_LENGTH, default 1024: REGEX / NOT_REGEX read at most this many characters of a value. */
  readonly maxRegexInputLength: number;
  /** Hide "Did you mean ...?" suggestions; default on when NODE_ENV=production. */
  readonly hideFieldSuggestions: boolean;
  /** PULSE_MAX_SUBSCRIPTIONS_PER_CONNECTION, default 100: operations open at once on one WebSocket. */
  readonly maxSubscriptionsPerConnection: number;
  /** PULSE_MAX_CONNECTIONS_PER_ADDRESS, default 256: WebSockets and SSE streams open at once from one IP; 0 = no limit. */
  readonly maxConnectionsPerAddress: number;
  /** PULSE_CONNECTION_INIT_TIMEOUT_MS, default 3000: a WebSocket without `connection_init` by then closes with 4408. */
  readonly connectionInitTimeoutMs: number;
  /** PULSE_WS_KEEPALIVE_MS, default 12000: WebSockets are pinged this often; one that missed the last pong is dropped. 0 = off. */
  readonly keepAliveMs: number;
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
    maxFilterConditions: partial.maxFilterConditions ?? 50,
    maxFilterValueLength: partial.maxFilterValueLength ?? 1024,
    maxRegexInputLength: partial.maxRegexInputLength ?? 1024,
    hideFieldSuggestions: partial.hideFieldSuggestions ?? process.env.NODE_ENV === "production",
    maxSubscriptionsPerConnection: partial.maxSubscriptionsPerConnection ?? 100,
    maxConnectionsPerAddress: partial.maxConnectionsPerAddress ?? 256,
    connectionInitTimeoutMs: partial.connectionInitTimeoutMs ?? 3000,
    keepAliveMs: partial.keepAliveMs ?? 12_000,
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

/** One trust setting: its variable, the TrustConfig field it fills, and what --help and the README say of it. */
export interface TrustSetting {
  readonly env: string;
  readonly key: keyof TrustConfig;
  /** Key lists are parsed as `key[:environment]` entries; everything else is an integer of at least `min`. */
  readonly min?: number;
  readonly defaultText: string;
  readonly meaning: string;
}

/** Every trust setting, in --help order: the environment parser below and --help both read this table. */
export const TRUST_SETTINGS: readonly TrustSetting[] = [
  { env: "PULSE_CAPTURE_KEYS", key: "captureKeys", defaultText: "none", meaning: "Comma-separated key[:environment] entries that may only capture." },
  { env: "PULSE_READ_KEYS", key: "readKeys", defaultText: "none", meaning: "Comma-separated key[:environment] entries that may query, subscribe and capture. No keys at all: the server is open." },
  { env: "PULSE_MAX_BODY_BYTES", key: "maxBodyBytes", min: 1024, defaultText: "1048576 (1 MiB)", meaning: "An HTTP or SSE request body, measured after gzip decompression (413 past it)." },
  { env: "PULSE_MAX_WS_PAYLOAD_BYTES", key: "maxWsPayloadBytes", min: 1024, defaultText: "1048576 (1 MiB)", meaning: "One WebSocket message (larger closes the socket with 1009)." },
  { env: "PULSE_MAX_EVENT_BYTES", key: "maxEventBytes", min: 256, defaultText: "65536 (64 KiB)", meaning: "One capture input serialized as JSON." },
  { env: "PULSE_MAX_PROPERTY_KEY_LENGTH", key: "maxPropertyKeyLength", min: 1, defaultText: "256", meaning: "Characters in a property key, at any depth." },
  { env: "PULSE_MAX_PROPERTY_DEPTH", key: "maxPropertyDepth", min: 1, defaultText: "10", meaning: "Nesting of objects and arrays in properties (a flat object is 1)." },
  { env: "PULSE_MAX_PROPERTY_COUNT", key: "maxPropertyCount", min: 1, defaultText: "1000", meaning: "Keys and array items in properties, all levels together." },
  { env: "PULSE_MAX_EVENT_AGE_SECONDS", key: "maxEventAgeSeconds", min: 1, defaultText: "604800 (7 days)", meaning: "Events with an older timestamp are refused (BAD_USER_INPUT)." },
  { env: "PULSE_MAX_QUERY_DEPTH", key: "maxQueryDepth", min: 1, defaultText: "10", meaning: "GraphQL selection depth (introspection is exempt)." },
  { env: "PULSE_MAX_QUERY_ALIASES", key: "maxQueryAliases", min: 0, defaultText: "15", meaning: "Aliases in one operation." },
  { env: "PULSE_MAX_QUERY_TOKENS", key: "maxQueryTokens", min: 1, defaultText: "2000", meaning: "Tokens in one operation (send large batches as variables: they are not tokens)." },
  { env: "PULSE_MAX_QUERY_DIRECTIVES", key: "maxQueryDirectives", min: 0, defaultText: "50", meaning: "Directives in one operation." },
  { env: "PULSE_MAX_FILTER_CONDITIONS", key: "maxFilterConditions", min: 1, defaultText: "50", meaning: "Clauses in one filter: each event name, environment, distinctId and each property condition." },
  { env: "PULSE_MAX_FILTER_VALUE_LENGTH", key: "maxFilterValueLength", min: 1, defaultText: "1024", meaning: "Characters in any one value of a filter (an EQUALS object or list counts as its JSON)." },
  { env: "PULSE_MAX_REGEX_INPUT_LENGTH", key: "maxRegexInputLength", min: 1, defaultText: "1024", meaning: "REGEX and NOT_REGEX read at most this many characters from the start of a property value." },
  { env: "PULSE_MAX_SUBSCRIPTIONS_PER_CONNECTION", key: "maxSubscriptionsPerConnection", min: 1, defaultText: "100", meaning: "Operations open at once on one WebSocket." },
  { env: "PULSE_MAX_CONNECTIONS_PER_ADDRESS", key: "maxConnectionsPerAddress", min: 0, defaultText: "256", meaning: "WebSockets and SSE streams open at once from one IP address; 0 = no limit." },
  { env: "PULSE_CONNECTION_INIT_TIMEOUT_MS", key: "connectionInitTimeoutMs", min: 1, defaultText: "3000", meaning: "A WebSocket without connection_init by then is closed with 4408." },
  { env: "PULSE_WS_KEEPALIVE_MS", key: "keepAliveMs", min: 0, defaultText: "12000", meaning: "WebSockets are pinged this often; one that did not answer the last ping is dropped. 0 = off." },
  { env: "PULSE_CAPTURE_RATE", key: "captureRatePerSecond", min: 1, defaultText: "1000", meaning: "Events per second each key (or address, on an open server) may capture." },
  { env: "PULSE_CAPTURE_BURST", key: "captureBurst", min: 0, defaultText: "10000", meaning: "Extra events a key may capture in a burst, refilled over 10 seconds." },
  { env: "PULSE_WS_SLOW_CONSUMER_BYTES", key: "slowConsumerBytes", min: 0, defaultText: "0", meaning: "Unsent bytes a WebSocket may hold without counting as stalled." },
  { env: "PULSE_WS_SLOW_CONSUMER_MS", key: "slowConsumerMs", min: 1, defaultText: "10000", meaning: "A WebSocket stalled that long is closed with 1013." },
];

const trustEnvironment = z.object(
  Object.fromEntries(
    TRUST_SETTINGS.map((setting) => [setting.env, setting.min === undefined ? keyList(setting.env) : integer(setting.env, setting.min)]),
  ),
);

/** Reads the trust settings from the environment: a config, or every problem found. */
export function parseTrustEnvironment(env: NodeJS.ProcessEnv): { config: TrustConfig } | { problems: string[] } {
  const parsed = trustEnvironment.safeParse(env);
  if (!parsed.success) return { problems: parsed.error.issues.map((issue) => issue.message) };
  const e = parsed.data as Record<string, unknown>;
  const captureKeys = e["PULSE_CAPTURE_KEYS"] as string[];
  const readKeys = e["PULSE_READ_KEYS"] as string[];
  const secrets = [...readKeys, ...captureKeys].map((entry) => entry.split(":")[0]);
  if (new Set(secrets).size !== secrets.length) {
    return { problems: ["PULSE_READ_KEYS / PULSE_CAPTURE_KEYS: a key is listed twice (a key has one role and one scope)"] };
  }
  const input: Record<string, unknown> = {};
  for (const setting of TRUST_SETTINGS) if (e[setting.env] !== undefined) input[setting.key] = e[setting.env];
  return { config: resolveTrustConfig(input as TrustConfigInput) };
}

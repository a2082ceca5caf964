import { z } from "zod";
import { DEFAULT_VIEW_BOUNDS } from "./domain/bounds.ts";
import { DEFAULT_FILTER_LIMITS } from "./domain/filter.ts";
import { ENRICHMENT_PARTS, trustedProxyProblem, type EnrichmentPart } from "./enrich/settings.ts";
import { keyEntryProblem, MiB, type TrustConfig, type TrustConfigInput } from "./limits/settings.ts";
import { databaseEngine, redactDatabaseUrl } from "./store/database-url.ts";

/** Log levels `LOG_LEVEL` accepts (pino's), most to least verbose, plus `silent`. */
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * Pulse's settings. Every field is one row of `SETTINGS` under the same name (`trust` holds the keys and limits):
 * its environment variable, default, bounds and meaning are there, and nowhere else. The compiler holds the two
 * together: a field without a row, or a row of the wrong type, does not build.
 */
export interface PulseConfig {
  readonly port: number;
  readonly host: string;
  readonly bufferSize: number;
  readonly liveWindowSeconds: number;
  readonly dashboardWindowSeconds: number;
  readonly maxBatch: number;
  readonly subscriberQueue: number;
  readonly personsMax: number;
  readonly logLevel: LogLevel;
  /** Undefined: GET /metrics is open (or defers to the read keys). */
  readonly metricsKey: string | undefined;
  /**
   * Null: memory only, nothing restored or written (the programmatic default, so test servers never share a file;
   * `npm start` defaults to a SQLite file).
   */
  readonly databaseUrl: string | null;
  readonly snapshotIntervalMs: number;
  /** Null: one instance with an in-memory stream. */
  readonly redisUrl: string | null;
  readonly redisPrefix: string;
  readonly redisStreamLength: number;
  /** What captured events are enriched with (docs/enrichment.md). */
  readonly enrich: readonly EnrichmentPart[];
  /** Null: the bundled database (@ip-location-db/geo-whois-asn-country-mmdb). */
  readonly geoipDatabase: string | null;
  readonly trustedProxies: readonly string[];
  readonly storeIp: boolean;
  /** Keys and limits (docs/security.md). */
  readonly trust: TrustConfig;
}

/** A partial config for the programmatic API: anything left out (undefined) takes its default. */
export type PulseConfigInput = Partial<Omit<PulseConfig, "trust">> & { readonly trust?: TrustConfigInput };

type CoreKey = Exclude<keyof PulseConfig, "trust">;

/**
 * Where a setting is documented, with the title `--help` gives it: one table per section in the documentation, which
 * `npm run docs:settings` writes between `<!-- settings:start section="..." -->` and `<!-- settings:end -->`.
 */
export const SETTING_SECTIONS = {
  core: "Core",
  keys: "API keys",
  limits: "Limits",
  operations: "Operations",
  persistence: "Persistence",
  fleet: "Several instances",
  enrichment: "Enrichment",
} as const;
export type SettingSection = keyof typeof SETTING_SECTIONS;

/** One row of the settings table; see `SETTINGS` for how to add one. Text fields are Markdown. */
export interface SettingSpec<T> {
  /** The environment variable `npm start` reads (`loadConfig`). */
  readonly env: string;
  /**
   * Checks a value: a programmatic one as given, an environment one after `fromEnv`. Each issue's message is what
   * follows the setting's name ("must be a positive integer"); `, got <value>` is added unless the row is secret.
   */
  readonly schema: z.ZodType<T>;
  /** Turns the variable's text into what `schema` checks; default: the text as is. */
  fromEnv?(raw: string): unknown;
  /** The default; a function derives it from the rows above it in the table (`earlier` has them resolved). */
  readonly default: T | ((earlier: PulseConfig) => T);
  /** The default when read from the environment (`npm start`), where it differs from the programmatic one. */
  readonly environmentDefault?: T;
  /** Bounds of a number (inclusive), enforced by `schema` and shown by `--help` and the docs. */
  readonly min?: number;
  readonly max?: number;
  /**
   * A stricter minimum for the environment (`npm start`) than for the programmatic API: a value that is safe only
   * where the caller controls everything else (tests use short timeouts that would cut off a production stream).
   */
  readonly environmentMin?: number;
  /** Adds a readable form to a numeric default: `1048576 (1 MiB)`, `604800 (7 days)`. */
  readonly unit?: "bytes" | "seconds";
  /** The default as people read it, when the value alone would not say it (a derived or absent default). */
  readonly defaultText?: string;
  /** One or two sentences: `--help` and the docs. */
  readonly meaning: string;
  /** More, for the docs only. */
  readonly details?: string;
  /** What a request over the limit gets (the limits table in docs/security.md). */
  readonly refusal?: string;
  readonly section: SettingSection;
  /** Never printed or logged: the start-up log says "set"/"unset" (a list: "N configured"); errors omit the value. */
  readonly secret?: boolean;
  /** How the value appears in the start-up log (a password inside a URL masked). */
  show?(value: T): unknown;
}

/** A row of `SETTINGS`: the spec with its place in `PulseConfig`. */
export interface Setting extends SettingSpec<unknown> {
  /** The field of `PulseConfig`, or of `PulseConfig.trust` when `group` is "trust". */
  readonly key: string;
  readonly group: "trust" | undefined;
  /** The programmatic option's name, as errors cite it: `port`, `trust.maxBodyBytes`. */
  readonly path: string;
}

type Table = { readonly [K in CoreKey]-?: SettingSpec<PulseConfig[K]> } & {
  readonly trust: { readonly [K in keyof TrustConfig]-?: SettingSpec<TrustConfig[K]> };
};

type IntegerSpec = Omit<SettingSpec<number>, "schema" | "fromEnv" | "min"> & { readonly min: number };

/** An integer setting within [min, max]; the message states the bounds. */
function integer(spec: IntegerSpec): SettingSpec<number> {
  const error = `must be ${integerBounds(spec.min, spec.max)}`;
  let schema = z.number({ error }).int({ error }).min(spec.min, { error });
  if (spec.max !== undefined) schema = schema.max(spec.max, { error });
  return { ...spec, schema, fromEnv: Number };
}

function integerBounds(min: number, max: number | undefined): string {
  if (max !== undefined) return `an integer from ${min} to ${max}`;
  return min === 1 ? "a positive integer" : `an integer of at least ${min}`;
}

/** A comma-separated list of `key[:environment]` entries; an issue names the entry's position, never the key. */
function keyList(spec: Omit<SettingSpec<readonly string[]>, "schema" | "fromEnv" | "secret">): SettingSpec<readonly string[]> {
  const entry = z.string({ error: "must be a string" }).superRefine((value, ctx) => {
    const problem = keyEntryProblem(value);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });
  return {
    ...spec,
    schema: z.array(entry, { error: "must be a list of key[:environment] entries" }).readonly(),
    fromEnv: (raw) =>
      raw
        .split(",")
        .map((item) => item.trim())
        .filter((item) => item.length > 0),
    secret: true,
  };
}

const databaseUrl = z
  .string({ error: "must be a SQLite file URL (file:path), a PostgreSQL URL (postgresql://...) or null" })
  .superRefine((url, ctx) => {
    try {
      databaseEngine(url);
    } catch (error) {
      // The message names DATABASE_URL and quotes the value with its password masked; `subject` lets the
      // programmatic path say `databaseUrl` instead.
      ctx.addIssue({ code: "custom", message: (error as Error).message, params: { subject: "DATABASE_URL" } });
    }
  });

/**
 * Every setting, once: `loadConfig` (the environment), `resolveConfig` and `createPulseServer` (options), `--help`,
 * the start-up log and the documentation's settings tables (`npm run docs:settings`) all read this table.
 *
 * To add a setting:
 * 1. Add its field to `PulseConfig` above, or to `TrustConfig` (src/limits/settings.ts) for a key or limit: the
 *    compiler then asks for its row here, under the same name, and checks the row's type against the field's.
 * 2. Write the row. For an integer: `integer({ env: "PULSE_...", min, max?, default, unit?, section, meaning,
 *    details?, refusal? })`, which builds the parser and the message from the bounds. For anything else spell out
 *    `schema` (zod; its messages follow the name, "must be ..."), `fromEnv` if the variable's text needs
 *    converting, and `defaultText` when the default alone would not say it. Mark keys and passwords `secret`.
 *    `section` picks the docs table: core, keys, limits (give `refusal`: what a request over it gets),
 *    operations, persistence, fleet, enrichment. A default derived from another setting is a function of the rows above it.
 * 3. Run `npm run docs:settings` to rewrite the docs' tables (a test fails while they are stale).
 * The module that uses it reads the resolved value (`config.x`, `config.trust.x`): never a default of its own.
 */
const TABLE: Table = {
  port: integer({
    env: "PORT",
    min: 0,
    max: 65535,
    default: 4000,
    section: "core",
    meaning: "HTTP port (`0` picks a free one).",
  }),
  host: {
    env: "HOST",
    schema: z.string({ error: "must be a string" }),
    default: "0.0.0.0",
    section: "core",
    meaning: "Interface to listen on.",
  },
  bufferSize: integer({
    env: "PULSE_BUFFER_SIZE",
    min: 1,
    default: 10_000,
    section: "core",
    meaning: "Events kept in the in-memory ring buffer: what `recentEvents`, `replay` and `after` can reach.",
    details:
      "Each buffered event holds memory: about 1 KB of RSS for a page view with ~250 bytes of properties (a million: " +
      "about 1 GB); the largest event allowed (`PULSE_MAX_EVENT_BYTES`) takes a few times its JSON size. A restart restores the " +
      "whole buffer before serving (see [persistence.md](persistence.md#starting-and-stopping)).",
  }),
  liveWindowSeconds: integer({
    env: "PULSE_LIVE_WINDOW_SECONDS",
    min: 1,
    default: 60,
    section: "core",
    meaning: "A user is live while their latest event is younger than this. Users are forgotten after twice this.",
  }),
  dashboardWindowSeconds: integer({
    env: "PULSE_DASHBOARD_WINDOW_SECONDS",
    min: 1,
    default: 60,
    section: "core",
    meaning:
      "The sliding window of `eventsPerMinute` and `topPages` (1-second buckets); rounded up to whole minutes, the default window of `breakdown`.",
  }),
  maxBatch: integer({
    env: "PULSE_MAX_BATCH",
    min: 1,
    default: 1000,
    section: "core",
    meaning: "The most inputs one `captureEvents` (or one PostHog request) accepts.",
    details: "More is `BAD_USER_INPUT`, and nothing of the batch is stored.",
  }),
  subscriberQueue: integer({
    env: "PULSE_SUBSCRIBER_QUEUE",
    min: 1,
    // Two maximum-size batches: a subscriber reading as fast as the network allows is never LAGGED by one batch.
    default: (earlier) => 2 * earlier.maxBatch,
    defaultText: "2 × `PULSE_MAX_BATCH`",
    section: "core",
    meaning: "Live events held for one subscriber that reads slower than events arrive; past it the subscription ends with `LAGGED`.",
    details:
      "Events are written to a subscriber's socket as they are captured; they wait here only while it is backed up. Two " +
      "maximum batches, so a subscriber reading as fast as the network allows is never `LAGGED` by a single `captureEvents`.",
  }),
  personsMax: integer({
    env: "PULSE_PERSONS_MAX",
    min: 1,
    default: 100_000,
    section: "core",
    meaning: "Persons kept in memory; the least recently seen are dropped past it. Also the most users one liveUsers view holds.",
  }),
  logLevel: {
    env: "LOG_LEVEL",
    schema: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(", ")}` }),
    fromEnv: (raw) => raw.trim().toLowerCase(),
    default: "info",
    section: "operations",
    // What wantsPrettyLogs (src/telemetry/logger.ts) decides; test/main.test.ts runs both cases.
    meaning:
      `Least severe level written: ${LOG_LEVELS.map((level) => `\`${level}\``).join(", ")} (any case). Logs go to stdout as ` +
      "JSON lines, or as pretty-printed lines when stdout is a terminal and `NODE_ENV` is not `production`.",
  },
  metricsKey: {
    env: "PULSE_METRICS_KEY",
    schema: z.string({ error: "must be a string" }).min(1, { error: "must not be empty" }),
    default: undefined,
    defaultText: "none",
    section: "operations",
    meaning: "When set, `GET /metrics` requires `Authorization: Bearer <this key>`, and only it.",
    details: "Unset, `/metrics` takes a read key when keys are configured, and is open otherwise.",
    secret: true,
  },
  databaseUrl: {
    env: "DATABASE_URL",
    schema: databaseUrl.nullable(),
    default: null,
    environmentDefault: "file:./data/pulse.db",
    defaultText: "`file:./data/pulse.db` (`createPulseServer`: none, memory only)",
    section: "persistence",
    meaning:
      "Where snapshots go: a SQLite file (`file:relative/path`, relative to the working directory, `file:/absolute/path` or " +
      "`file:///absolute/path`; the folder and the file are created if missing) or a PostgreSQL database shared by a fleet " +
      "(`postgresql://user:password@host:5432/db?schema=public`; the schema is created if missing).",
    details:
      "`?schema=` lets several fleets share one PostgreSQL database; other parameters such as `sslmode` go to the driver. " +
      "The password is masked in logs. Other schemes, and query parameters on a `file:` URL, are refused at start (exit code 2).",
    show: (value) => (typeof value === "string" ? redactDatabaseUrl(value) : value),
  },
  snapshotIntervalMs: integer({
    env: "PULSE_SNAPSHOT_INTERVAL_MS",
    min: 1,
    default: 2000,
    section: "persistence",
    meaning: "Time between incremental snapshots to the database: what a crash can lose.",
  }),
  redisUrl: {
    env: "REDIS_URL",
    schema: z.url({ error: "must be a URL (redis://host:port)" }).nullable(),
    default: null,
    defaultText: "none (one instance, memory stream)",
    section: "fleet",
    meaning:
      "`redis://[user:password@]host:port[/db]` of the Redis every instance shares: one ordered event stream, fleet-wide duplicate ids.",
    secret: true,
  },
  redisPrefix: {
    env: "PULSE_REDIS_PREFIX",
    schema: z.string({ error: "must be a string" }).min(1, { error: "must not be empty" }),
    default: "pulse:",
    section: "fleet",
    meaning:
      "Prefix of every Redis key of this fleet: `<prefix>events` (the stream), `<prefix>seq` (the position counter), " +
      "`<prefix>id:<event id>` (de-duplicated ids). Two fleets on one Redis need different prefixes.",
  },
  redisStreamLength: integer({
    env: "PULSE_REDIS_STREAM_LENGTH",
    // At least one batch of the default PULSE_MAX_BATCH: a capture must never trim events no instance has read yet.
    min: 1000,
    default: 100_000,
    section: "fleet",
    meaning:
      "Events the Redis stream keeps: how far behind an instance can fall and still catch up (one without a database at " +
      "start, one restarted from an older snapshot, one cut off from Redis for a while).",
    details: "Approximately: `XADD MAXLEN ~` trims whole blocks, so a few more are kept.",
  }),
  enrich: {
    env: "PULSE_ENRICH",
    schema: z.array(z.enum(ENRICHMENT_PARTS, { error: `must list some of ${ENRICHMENT_PARTS.join(", ")}, or be none` })).readonly(),
    fromEnv: (raw) => {
      const parts = raw
        .split(",")
        .map((part) => part.trim().toLowerCase())
        .filter((part) => part.length > 0);
      return parts.length === 1 && parts[0] === "none" ? [] : parts;
    },
    default: ENRICHMENT_PARTS,
    defaultText: "`ua,geo,url` (all)",
    section: "enrichment",
    meaning:
      "What captured events get, comma-separated: `ua` (`$browser`, `$browser_version`, `$os`, `$device_type` from the " +
      "User-Agent), `geo` (`$geoip_country_code`, `$geoip_country_name` from the client's address), `url` (`$pathname`, " +
      "`utm_*`, `$referring_domain`, `$source` from `$current_url` and `$referrer`); `none` for nothing.",
    details: "A property the event already carries is never replaced.",
  },
  geoipDatabase: {
    env: "PULSE_GEOIP_DATABASE",
    schema: z.string({ error: "must be a file path" }).min(1, { error: "must not be empty" }).nullable(),
    default: null,
    defaultText: "the bundled `@ip-location-db/geo-whois-asn-country-mmdb`",
    section: "enrichment",
    meaning:
      "Path of the MMDB file countries are read from: ip-location-db's country files, MaxMind GeoLite2-Country or GeoIP2-Country, DB-IP's country lite.",
    details:
      "Read once at start. A file that cannot be read is logged as a warning and Pulse runs without countries (it does not " +
      "refuse to start).",
  },
  trustedProxies: {
    env: "PULSE_TRUSTED_PROXIES",
    schema: z
      .array(
        z.string({ error: "must be a string" }).superRefine((entry, ctx) => {
          const problem = trustedProxyProblem(entry);
          if (problem) ctx.addIssue({ code: "custom", message: problem });
        }),
        { error: "must be a list of IP addresses and CIDR ranges" },
      )
      .readonly(),
    fromEnv: (raw) =>
      raw
        .split(",")
        .map((entry) => entry.trim())
        .filter((entry) => entry.length > 0),
    default: [],
    defaultText: "none",
    section: "enrichment",
    meaning:
      "Comma-separated IP addresses and CIDR ranges (`10.0.0.0/8`, `::1`) of the reverse proxies in front of Pulse. A " +
      "request from one of them is taken to come from the right-most `X-Forwarded-For` entry that is not one of them.",
    details:
      "That address is the one captures are enriched with (the country) and, on an open server, charged to in the capture " +
      "rate. Unset, `X-Forwarded-For` is ignored: anyone can write it.",
  },
  storeIp: {
    env: "PULSE_STORE_IP",
    schema: z.boolean({ error: "must be true or false" }),
    fromEnv: (raw) => ({ true: true, false: false, "1": true, "0": false })[raw.trim().toLowerCase()] ?? raw,
    default: false,
    section: "enrichment",
    meaning:
      "`true` keeps the client's IP address on events as `$ip` (the event's own `$ip`, else the request's address). " +
      "`false`: no event stores an IP address; an `$ip` the client sends is used for the country and removed.",
  },
  trust: {
    captureKeys: keyList({
      env: "PULSE_CAPTURE_KEYS",
      default: [],
      defaultText: "none",
      section: "keys",
      meaning:
        "Comma-separated `key[:environment]` entries that may **only capture** (`captureEvent`, `captureEvents`, the PostHog " +
        "endpoints). Safe to ship in a browser.",
    }),
    readKeys: keyList({
      env: "PULSE_READ_KEYS",
      default: [],
      defaultText: "none",
      section: "keys",
      meaning:
        "Comma-separated `key[:environment]` entries that may **query, subscribe and capture**. Keep them secret. No keys at " +
        "all: the server is open.",
    }),
    maxBodyBytes: integer({
      env: "PULSE_MAX_BODY_BYTES",
      min: 1024,
      default: MiB,
      unit: "bytes",
      section: "limits",
      meaning: "An HTTP or SSE request body (PostHog's endpoints included), measured **after** gzip decompression.",
      details: "A declared `Content-Length` over it is refused unread; a chunked body is counted as it arrives.",
      refusal: "HTTP 413, `BAD_USER_INPUT`",
    }),
    maxWsPayloadBytes: integer({
      env: "PULSE_MAX_WS_PAYLOAD_BYTES",
      min: 1024,
      default: MiB,
      unit: "bytes",
      section: "limits",
      meaning: "One WebSocket message (`ws` `maxPayload`).",
      refusal: "close **1009**",
    }),
    maxEventBytes: integer({
      env: "PULSE_MAX_EVENT_BYTES",
      min: 256,
      default: 64 * 1024,
      unit: "bytes",
      section: "limits",
      meaning: "One capture input serialized as JSON (all its fields).",
      refusal: "`BAD_USER_INPUT`, names `inputs[i]`",
    }),
    maxPropertyKeyLength: integer({
      env: "PULSE_MAX_PROPERTY_KEY_LENGTH",
      min: 1,
      default: 256,
      section: "limits",
      meaning: "Characters in any key of `properties`, at any depth.",
      refusal: "`BAD_USER_INPUT`",
    }),
    maxPropertyDepth: integer({
      env: "PULSE_MAX_PROPERTY_DEPTH",
      min: 1,
      default: 10,
      section: "limits",
      meaning: "Nesting of objects and arrays in `properties` (a flat object is 1).",
      refusal: "`BAD_USER_INPUT`",
    }),
    maxPropertyCount: integer({
      env: "PULSE_MAX_PROPERTY_COUNT",
      min: 1,
      default: 1000,
      section: "limits",
      meaning: "Keys plus array items in `properties`, all levels together.",
      refusal: "`BAD_USER_INPUT`",
    }),
    maxEventAgeSeconds: integer({
      env: "PULSE_MAX_EVENT_AGE_SECONDS",
      min: 1,
      default: 7 * 24 * 60 * 60,
      unit: "seconds",
      section: "limits",
      meaning: "How old an event's `timestamp` may be; older events are refused.",
      details:
        "A timestamp more than 23 h in the future is clamped to the server's time; one that is not an ISO-8601 date-time " +
        "with a zone (or an impossible date such as Feb 30) is refused.",
      refusal: "`BAD_USER_INPUT`, names `timestamp`",
    }),
    maxQueryDepth: integer({
      env: "PULSE_MAX_QUERY_DEPTH",
      min: 1,
      default: 10,
      section: "limits",
      meaning: "Selection depth of an operation (introspection is exempt, so GraphiQL works).",
      details:
        "Also bounds bracket nesting: `{`, `[` and `(` nested more than 3 × this (within 64 and 512) in a document are refused " +
        "before it is parsed (graphql-js parses recursively: a list literal nested a few thousand deep overflowed its stack). " +
        "Answered like a syntax error: HTTP 400 with `Accept: application/graphql-response+json`, 200 with `application/json`; " +
        "over WebSocket an `error` message, the socket stays up.",
      refusal: "`BAD_USER_INPUT`, `extensions.setting`",
    }),
    maxQueryAliases: integer({
      env: "PULSE_MAX_QUERY_ALIASES",
      min: 0,
      default: 15,
      section: "limits",
      meaning: "Aliases in one operation.",
      refusal: "`BAD_USER_INPUT`, `extensions.setting`",
    }),
    maxQueryTokens: integer({
      env: "PULSE_MAX_QUERY_TOKENS",
      min: 1,
      default: 2000,
      section: "limits",
      meaning: "Tokens in one document (send big batches as variables: variables are not tokens).",
      refusal: "`BAD_USER_INPUT`, `extensions.setting`",
    }),
    maxQueryDirectives: integer({
      env: "PULSE_MAX_QUERY_DIRECTIVES",
      min: 0,
      default: 50,
      section: "limits",
      meaning: "Directives in one operation.",
      refusal: "`BAD_USER_INPUT`, `extensions.setting`",
    }),
    maxFilterConditions: integer({
      env: "PULSE_MAX_FILTER_CONDITIONS",
      min: 1,
      default: DEFAULT_FILTER_LIMITS.maxConditions,
      section: "limits",
      meaning: "Clauses in one filter (recentEvents, events): each event name, environment, distinctId and each property condition.",
      details: "Counted on the filter as it arrives, variables included: GraphQL's token limit sees only the document.",
      refusal: "`BAD_USER_INPUT`, `extensions.setting`",
    }),
    maxFilterValueLength: integer({
      env: "PULSE_MAX_FILTER_VALUE_LENGTH",
      min: 1,
      default: DEFAULT_FILTER_LIMITS.maxValueLength,
      section: "limits",
      meaning: "Characters in any one value of a filter (an EQUALS object or list counts as its JSON).",
      refusal: "`BAD_USER_INPUT`, `extensions.setting`",
    }),
    maxRegexInputLength: integer({
      env: "PULSE_MAX_REGEX_INPUT_LENGTH",
      min: 1,
      default: DEFAULT_FILTER_LIMITS.maxRegexInputLength,
      section: "limits",
      meaning: "REGEX and NOT_REGEX read at most this many characters from the start of a property value.",
      details:
        "Patterns use RE2 syntax (linear time: no lookaround, no backreferences) and one filter's patterns may compile to at " +
        "most 500 RE2 instructions together; with this bound a hostile pattern costs a capture a bounded, small time.",
    }),
    hideFieldSuggestions: {
      env: "NODE_ENV",
      schema: z.boolean({ error: "must be true or false" }),
      fromEnv: (raw) => raw.trim() === "production",
      default: () => process.env.NODE_ENV === "production",
      environmentDefault: false,
      defaultText: "unset",
      section: "limits",
      meaning:
        '`production` hides "Did you mean …?" suggestions (fields, arguments, enum values) in validation errors, and keeps ' +
        "logs as JSON lines on a terminal too.",
      details: "Through `createPulseServer` it defaults to on when the process runs with `NODE_ENV=production`.",
      show: (hidden) => (hidden ? "production (suggestions hidden)" : "not production (suggestions shown)"),
    },
    maxSubscriptionsPerConnection: integer({
      env: "PULSE_MAX_SUBSCRIPTIONS_PER_CONNECTION",
      min: 1,
      default: 100,
      section: "limits",
      meaning: "Operations open at once on one WebSocket, or on one graphql-sse single connection stream.",
      details:
        "A query posted to a single connection stream not opened yet holds its slot until its result is sent. The extra " +
        "operation gets an `error` message (WebSocket) or HTTP 429 (SSE); the connection and its other operations stay up.",
      refusal: "`RATE_LIMITED`",
    }),
    maxConnectionsPerAddress: integer({
      env: "PULSE_MAX_CONNECTIONS_PER_ADDRESS",
      min: 0,
      default: 256,
      section: "limits",
      meaning: "Connections open at once from one IP address (plain HTTP, WebSockets and SSE streams alike); `0` = no limit.",
      details:
        "Every TCP connection counts when it opens (plain HTTP, keep-alive, WebSocket, SSE), and the WebSockets and event " +
        "streams among them (graphql-sse's on `/graphql/stream` and Yoga's on `/graphql`) are counted again at their start; a " +
        "graphql-sse single connection stream counts from its `PUT` (reservation) until it expires unopened or its opened " +
        "stream closes. Per address rather than per key: the address is known before any key is read, and a public capture " +
        "key is shared by every visitor. Behind a reverse proxy all clients share its address: raise it or set `0`. Health " +
        "probes from another address are unaffected by one address's flood.",
      refusal:
        "The connection past it is answered at once, before its request is read or routed: HTTP **429** `RATE_LIMITED` with " +
        "`Retry-After: 1`, then closed (a WebSocket client sees the 429 as its upgrade's answer). Past 256 such refusals " +
        "pending at once, extra connections are closed unanswered.",
    }),
    sseReservationTtlMs: integer({
      env: "PULSE_SSE_RESERVATION_TTL_MS",
      min: 1000,
      default: 30_000,
      section: "limits",
      meaning: "How long a graphql-sse single connection stream reserved with `PUT` may wait to be opened.",
      details: "Past it the reservation is dropped: its operations end, its connection slot is freed, and its token answers 404.",
      refusal: "HTTP 404 `BAD_USER_INPUT` for the stale token",
    }),
    maxUrlLength: integer({
      env: "PULSE_MAX_URL_LENGTH",
      min: 256,
      default: 8192,
      section: "limits",
      meaning: "Characters in a request's URL (path and query).",
      details: "Node itself answers 431 past 16 KiB of headers.",
      refusal: "HTTP 400 `BAD_USER_INPUT`, `extensions.setting`",
    }),
    httpHeadersTimeoutMs: integer({
      env: "PULSE_HTTP_HEADERS_TIMEOUT_MS",
      min: 100,
      environmentMin: 1000,
      default: 10_000,
      section: "limits",
      meaning: "Time a client has to send a request's headers (Node's `headersTimeout`; at most the request timeout).",
      details: "Counted from the moment it connects or its previous request ended.",
      refusal: "HTTP **408**, connection closed",
    }),
    httpRequestTimeoutMs: integer({
      env: "PULSE_HTTP_REQUEST_TIMEOUT_MS",
      min: 100,
      environmentMin: 1000,
      default: 30_000,
      section: "limits",
      meaning: "Time a client has to send a whole request, headers and body (Node's `requestTimeout`).",
      details:
        "A slow body holds nothing for long; a PostHog body that carries its key as `api_key` is read only within this and " +
        "`PULSE_MAX_BODY_BYTES`. Responses (event streams) are not limited by it.",
      refusal: "HTTP **408**, connection closed",
    }),
    httpKeepAliveTimeoutMs: integer({
      env: "PULSE_HTTP_KEEPALIVE_TIMEOUT_MS",
      min: 100,
      default: 5000,
      section: "limits",
      meaning: "How long an idle keep-alive connection waits for its next request (Node's `keepAliveTimeout`).",
      details: "Behind a load balancer, set it above the balancer's idle timeout.",
      refusal: "connection closed",
    }),
    httpIdleTimeoutMs: integer({
      env: "PULSE_HTTP_IDLE_TIMEOUT_MS",
      min: 100,
      environmentMin: 15000,
      default: 120_000,
      section: "limits",
      meaning: "A socket with no bytes in either direction for this long is destroyed.",
      details:
        "A handler that never answers, a client that stopped reading its response or event stream. Event streams are pinged " +
        "every 12 s, so a reading client never reaches it; WebSockets are exempt (see `PULSE_WS_KEEPALIVE_MS`).",
      refusal: "connection destroyed",
    }),
    maxEnvironments: integer({
      env: "PULSE_MAX_ENVIRONMENTS",
      min: 1,
      default: DEFAULT_VIEW_BOUNDS.maxEnvironments,
      section: "limits",
      meaning: "Environments with their own dashboard windows, timeline and live users (each costs up to a few KB while quiet).",
      refusal:
        "past it, the **least recently active** environment's views are dropped (`pulse_environments_evicted_total`); its " +
        "per-environment counts restart from its next event. Its events are kept, and the all-environments views stay exact.",
    }),
    maxTrackedNames: integer({
      env: "PULSE_MAX_TRACKED_NAMES",
      min: 1,
      default: DEFAULT_VIEW_BOUNDS.maxTrackedNames,
      section: "limits",
      meaning:
        "Distinct event names one dashboard window counts at once, and distinct page paths likewise (for all environments and for each).",
      refusal:
        "events with a new name (page views with a new path) are left out of that window until names expire from it, and " +
        "counted in `pulse_dashboard_untracked_total`",
    }),
    maxBreakdownValues: integer({
      env: "PULSE_BREAKDOWN_MAX_VALUES",
      min: 1,
      max: 100_000,
      default: DEFAULT_VIEW_BOUNDS.maxBreakdownValues,
      section: "limits",
      meaning:
        "Values one minute of one live breakdown counts (`LiveDashboard.breakdown` of `$pathname`, `$browser`, ... counted as events " +
        "arrive), for all environments and for each of `PULSE_BREAKDOWN_MAX_ENVIRONMENTS`; `$entry_pathname` remembers 50 × this sessions a minute.",
      details:
        "A view (all environments, or one) keeps 60 minutes of 12 breakdowns: at most 60 × 12 × this values, each cut to 256 characters " +
        "with up to 64 user hashes, and 60 × 50 × this sessions. Measured at the default: about 35 MB under a flood of one-off values, " +
        "110 MB if every value of every minute had 64 users or more, 70 MB more for a full hour of sessions; a few MB for a site with " +
        "hundreds of pages and tens of sources and countries. Memory scales with this setting.",
      refusal:
        "the least counted value's counter is taken over (Space-Saving): rows over that minute are `approximate`, their events within " +
        "± (events in the window / this); counted in `pulse_breakdown_evictions_total`. Sessions past 50 × this in a minute are left out " +
        "of `$entry_pathname` (its rows `approximate`)",
    }),
    maxBreakdownEnvironments: integer({
      env: "PULSE_BREAKDOWN_MAX_ENVIRONMENTS",
      min: 1,
      max: 100_000,
      default: DEFAULT_VIEW_BOUNDS.maxBreakdownEnvironments,
      section: "limits",
      meaning:
        "Environments with live breakdowns of their own, counted as events arrive (besides the all-environments view's). An " +
        "environment without them answers `breakdown` from the buffer.",
      details:
        "Each costs what PULSE_BREAKDOWN_MAX_VALUES says a view costs, so the breakdowns hold at most (1 + this) views whatever the " +
        "number of environments: at the defaults about 11 × 35 MB under a flood of one-off values in every one of them.",
      refusal:
        "the least recently active environment's breakdowns are dropped; its `breakdown` rows are then computed from the buffer " +
        "(`approximate` when the window reaches past it), and tracked again from its next event",
    }),
    maxPersonProperties: integer({
      env: "PULSE_MAX_PERSON_PROPERTIES",
      min: 1,
      default: DEFAULT_VIEW_BOUNDS.maxPersonProperties,
      section: "limits",
      meaning: "Properties one person keeps (`$set`, `$set_once`).",
      refusal:
        "a write of a **new** key is dropped (`pulse_person_property_writes_dropped_total`; `pulse_persons_property_limited_total` " +
        "counts each person once); keys the person has keep updating. The event itself is stored as usual.",
    }),
    maxPersonBytes: integer({
      env: "PULSE_MAX_PERSON_BYTES",
      min: 256,
      default: DEFAULT_VIEW_BOUNDS.maxPersonBytes,
      unit: "bytes",
      section: "limits",
      meaning: "One person's properties as JSON, in UTF-8 bytes.",
      details:
        "In the worst case persons take about `PULSE_PERSONS_MAX` × this (6.4 GB at the defaults): lower one of them on a small machine.",
      refusal: "a write that would grow the properties past it is dropped and counted as above; one that shrinks them applies",
    }),
    connectionInitTimeoutMs: integer({
      env: "PULSE_CONNECTION_INIT_TIMEOUT_MS",
      min: 1,
      default: 3000,
      section: "limits",
      meaning: "Time a WebSocket has to send `connection_init`.",
      refusal: "close **4408**",
    }),
    keepAliveMs: integer({
      env: "PULSE_WS_KEEPALIVE_MS",
      min: 0,
      default: 12_000,
      section: "limits",
      meaning: "WebSockets are pinged this often; one that did not answer the previous ping by the next one is dropped. `0` = off.",
      details:
        "One timer for all sockets. Dead connections (a laptop lid closed, a dropped network) do not hold subscriptions. " +
        "Browsers and `ws` answer pings by themselves.",
      refusal: "connection dropped (the client sees **1006**)",
    }),
    captureRatePerSecond: integer({
      env: "PULSE_CAPTURE_RATE",
      min: 1,
      default: 1000,
      section: "limits",
      meaning: "Events per second each key (or address, on an open server) may capture.",
      details:
        "Counted in events, not requests, over GraphQL and the PostHog endpoints together. Behind a proxy named in " +
        "`PULSE_TRUSTED_PROXIES`, an open server charges the address the proxy forwards.",
      refusal: "`RATE_LIMITED`, HTTP **429** + `Retry-After`; `extensions.retryAfterSeconds`",
    }),
    captureBurst: integer({
      env: "PULSE_CAPTURE_BURST",
      min: 0,
      default: 10_000,
      section: "limits",
      meaning: "Extra events a key may capture above the rate, refilled over 10 seconds.",
      details: "A token bucket (rate-limiter-flexible's `BurstyRateLimiter`). A refused request stores nothing and is not charged.",
      refusal: "as above",
    }),
    slowConsumerBytes: integer({
      env: "PULSE_WS_SLOW_CONSUMER_BYTES",
      min: 0,
      default: 0,
      section: "limits",
      meaning: "Unsent bytes a WebSocket may hold without counting as stalled.",
      details:
        "Pulse writes at most 64 KiB ahead of what the kernel has taken from a socket, then waits for it, so a reading " +
        "client's buffer empties between writes; one that stays non-empty means the peer stopped reading.",
      refusal: "close **1013**",
    }),
    slowConsumerMs: integer({
      env: "PULSE_WS_SLOW_CONSUMER_MS",
      min: 1,
      default: 10_000,
      section: "limits",
      meaning: "How long a WebSocket may stay stalled (unsent data at every check) before it is closed.",
      refusal: "close **1013**",
    }),
  },
};

/** Every setting as one list, in table order (the order `--help` lists them in, and the order defaults derive in). */
export const SETTINGS: readonly Setting[] = Object.freeze(
  Object.entries(TABLE).flatMap(([key, spec]: [string, unknown]) =>
    key === "trust"
      ? Object.entries(TABLE.trust).map(([trustKey, trustSpec]: [string, unknown]) => placed(trustSpec, trustKey, "trust"))
      : [placed(spec, key, undefined)],
  ),
);

/** The table's type has tied each row's value type to its field; the list is read without it. */
function placed(spec: unknown, key: string, group: "trust" | undefined): Setting {
  return Object.freeze({ ...(spec as SettingSpec<unknown>), key, group, path: group ? `${group}.${key}` : key });
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
  }
}

/** A value for one setting and how to cite it: the variable and its text, or the option and its value. */
interface Given {
  readonly value: unknown;
  readonly name: string;
  readonly shown: string;
}

/** Reads and validates the settings once; every bad value is reported together. Unset or blank means the default. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): PulseConfig {
  return resolve("environment", (setting) => {
    const raw = env[setting.env];
    if (raw === undefined || raw.trim() === "") return undefined;
    return { value: setting.fromEnv ? setting.fromEnv(raw) : raw, name: setting.env, shown: JSON.stringify(raw) };
  });
}

/**
 * Validates a partial config (the programmatic API, `createPulseServer`) against the same table, fills the defaults
 * and freezes it. Throws `ConfigError` naming each bad option and its bound (`trust.maxBodyBytes must be an integer
 * of at least 1024, got 10`). Undefined means the default.
 */
export function resolveConfig(options: PulseConfigInput = {}): PulseConfig {
  const trust: unknown = options.trust;
  if (trust !== undefined && (trust === null || typeof trust !== "object" || Array.isArray(trust))) {
    throw new ConfigError(["trust must be an object of keys and limits"]);
  }
  return resolve("options", (setting) => {
    const source = (setting.group ? trust : options) as Readonly<Record<string, unknown>> | undefined;
    const value = source?.[setting.key];
    if (value === undefined) return undefined;
    return { value, name: setting.path, shown: describeValue(value) };
  });
}

function resolve(origin: "environment" | "options", given: (setting: Setting) => Given | undefined): PulseConfig {
  const problems: string[] = [];
  const top: Record<string, unknown> = {};
  const trust: Record<string, unknown> = {};
  for (const setting of SETTINGS) {
    const target = setting.group === "trust" ? trust : top;
    const input = given(setting);
    if (input === undefined) {
      const fallback = origin === "environment" && setting.environmentDefault !== undefined ? setting.environmentDefault : setting.default;
      // A function default derives the value from the rows above it (SettingSpec.default).
      target[setting.key] =
        typeof fallback === "function"
          ? (fallback as (earlier: PulseConfig) => unknown)({ ...top, trust } as unknown as PulseConfig)
          : fallback;
      continue;
    }
    if (
      origin === "environment" &&
      setting.environmentMin !== undefined &&
      typeof input.value === "number" &&
      !(Number.isInteger(input.value) && input.value >= setting.environmentMin)
    ) {
      problems.push(`${input.name} must be ${integerBounds(setting.environmentMin, setting.max)}, got ${input.shown}`);
      continue;
    }
    const parsed = setting.schema.safeParse(input.value);
    if (parsed.success)
      target[setting.key] = Array.isArray(parsed.data) ? Object.freeze([...(parsed.data as readonly unknown[])]) : parsed.data;
    else problems.push(...parsed.error.issues.map((issue) => problem(setting, input, issue)));
  }
  if (problems.length === 0) {
    const duplicate = duplicateKey(trust["readKeys"] as readonly string[], trust["captureKeys"] as readonly string[]);
    if (duplicate) {
      const name = (key: string) => (origin === "environment" ? settingAt("trust", key).env : `trust.${key}`);
      problems.push(`${name("readKeys")} / ${name("captureKeys")}: a key is listed twice (a key has one role and one scope)`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze({ ...top, trust: Object.freeze(trust) }) as unknown as PulseConfig;
}

function problem(setting: Setting, input: Given, issue: z.core.$ZodIssue): string {
  const subject = (issue as { params?: { subject?: unknown } }).params?.subject;
  if (typeof subject === "string") return issue.message.replace(subject, input.name);
  // An issue inside a list (a key entry) names the entry's position, never the entry.
  const entry = typeof issue.path[0] === "number" ? `: entry ${issue.path[0] + 1}` : "";
  const got = setting.secret ? "" : `, got ${input.shown}`;
  return `${input.name}${entry} ${issue.message}${got}`;
}

function duplicateKey(readKeys: readonly string[], captureKeys: readonly string[]): boolean {
  const secrets = [...readKeys, ...captureKeys].map((entry) => entry.split(":")[0]);
  return new Set(secrets).size !== secrets.length;
}

function describeValue(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean" || value === null) return String(value);
  if (Array.isArray(value)) return "a list";
  return `a ${typeof value}`;
}

/** The row of one field: `settingAt(undefined, "port")`, `settingAt("trust", "maxBodyBytes")`. */
export function settingAt(group: "trust" | undefined, key: string): Setting {
  const setting = SETTINGS.find((s) => s.group === group && s.key === key);
  if (!setting) throw new Error(`no setting ${group ? `${group}.` : ""}${key}`);
  return setting;
}

/** The value of one setting in a config. */
export function valueOf(config: PulseConfig, setting: Setting): unknown {
  const source = (setting.group ? config[setting.group] : config) as unknown as Readonly<Record<string, unknown>>;
  return source[setting.key];
}

/** The default of one setting as people read it (Markdown: the docs render it, `--help` strips the marks). */
export function defaultText(setting: Setting): string {
  if (setting.defaultText !== undefined) return setting.defaultText;
  const value = setting.default;
  if (value === undefined || value === null) return "none";
  if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") {
    throw new Error(`setting ${setting.path}: a ${typeof value} default needs a defaultText`);
  }
  const readable = typeof value === "number" && setting.unit ? ` (${readableAmount(value, setting.unit)})` : "";
  return `\`${String(value)}\`${readable}`;
}

/** The bounds of a numeric setting as people read them: "at least 1024", "0 to 65535"; "" for other settings. */
export function boundsText(setting: Setting): string {
  if (setting.min === undefined) return "";
  const bounds = setting.max === undefined ? `at least ${setting.min}` : `${setting.min} to ${setting.max}`;
  return setting.environmentMin === undefined ? bounds : `${bounds} (from the environment: at least ${setting.environmentMin})`;
}

function readableAmount(value: number, unit: "bytes" | "seconds"): string {
  const scales: readonly (readonly [number, string])[] =
    unit === "bytes"
      ? [
          [MiB, "MiB"],
          [1024, "KiB"],
        ]
      : [
          [86_400, "days"],
          [3600, "hours"],
          [60, "minutes"],
        ];
  for (const [size, name] of scales) {
    if (value >= size && value % size === 0) return `${value / size} ${value === size ? name.replace(/s$/, "") : name}`;
  }
  return `${value} ${unit}`;
}

/** The settings in force by variable name, for the start-up log: secrets show only whether they are set. */
export function describeConfig(config: PulseConfig): Record<string, unknown> {
  return Object.fromEntries(
    SETTINGS.map((setting) => {
      const value = valueOf(config, setting);
      if (setting.secret) {
        // Absent is null for some settings (REDIS_URL) and undefined for others (PULSE_METRICS_KEY).
        return [setting.env, Array.isArray(value) ? `${value.length} configured` : value == null ? "unset" : "set"];
      }
      return [setting.env, setting.show ? setting.show(value) : value];
    }),
  );
}

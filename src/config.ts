import { z } from "zod";
import { parseTrustEnvironment, resolveTrustConfig, TRUST_SETTINGS, type TrustConfig, type TrustConfigInput } from "./limits/settings.ts";
import { DEFAULT_DATABASE_URL, databaseEngine, redactDatabaseUrl } from "./store/database-url.ts";

/** Log levels `LOG_LEVEL` accepts (pino's), most to least verbose, plus `silent`. */
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Pulse's settings, each read from the environment variable of the same name (see SETTINGS and the README). */
export interface PulseConfig {
  /** PORT, default 4000; 0 picks a free port. */
  readonly port: number;
  /** HOST, default 0.0.0.0. */
  readonly host: string;
  /** PULSE_BUFFER_SIZE, default 10000: events kept in memory (and in the snapshot). */
  readonly bufferSize: number;
  /** PULSE_LIVE_WINDOW_SECONDS, default 60. */
  readonly liveWindowSeconds: number;
  /** PULSE_DASHBOARD_WINDOW_SECONDS, default 60. */
  readonly dashboardWindowSeconds: number;
  /** PULSE_MAX_BATCH, default 1000: the most inputs one captureEvents accepts. */
  readonly maxBatch: number;
  /** PULSE_SUBSCRIBER_QUEUE, default 2 × PULSE_MAX_BATCH: live events held per slow subscriber before LAGGED. */
  readonly subscriberQueue: number;
  /** PULSE_PERSONS_MAX, default 100000. */
  readonly personsMax: number;
  /** LOG_LEVEL, default info: the least severe level `npm start` logs (the programmatic API takes a logger instead). */
  readonly logLevel: LogLevel;
  /** PULSE_METRICS_KEY, default none: when set, GET /metrics requires `Authorization: Bearer <it>`. */
  readonly metricsKey: string | undefined;
  /** Keys and limits (src/limits/settings.ts; the README's "Security" section). */
  readonly trust: TrustConfig;
  /**
   * DATABASE_URL: where snapshots go: a SQLite file (`file:path`, relative to the working directory, or
   * `file:///absolute/path`) or a PostgreSQL database (`postgresql://...`, for a fleet). From the environment (`npm start`) it defaults to `file:./data/pulse.db`; through
   * `createPulseServer` it defaults to null: memory only, nothing restored or written (so test servers never share a
   * file).
   */
  readonly databaseUrl: string | null;
  /** PULSE_SNAPSHOT_INTERVAL_MS, default 2000: time between incremental snapshots (what a crash can lose). */
  readonly snapshotIntervalMs: number;
  /** REDIS_URL, default none: when set, every instance shares one ordered event stream through this Redis. */
  readonly redisUrl: string | null;
  /** PULSE_REDIS_PREFIX, default "pulse:": the keys of one fleet; fleets (or test runs) sharing a Redis differ here. */
  readonly redisPrefix: string;
  /** PULSE_REDIS_STREAM_LENGTH, default 100000: events the Redis stream keeps (MAXLEN ~). */
  readonly redisStreamLength: number;
}

/** A partial config for the programmatic API: anything left out takes its default. */
export type PulseConfigInput = Partial<Omit<PulseConfig, "trust">> & { readonly trust?: TrustConfigInput };

/**
 * One setting: its environment variable, the config field it fills, how a raw value is parsed, its default and
 * what it means. `loadConfig`, `resolveConfig` and `--help` all read this table, so they cannot disagree.
 */
export interface Setting<K extends keyof PulseConfig = Exclude<keyof PulseConfig, "trust">> {
  readonly env: string;
  readonly key: K;
  /** Parses a non-blank raw value; an issue's message names the variable and the value. */
  readonly parse: z.ZodType<PulseConfig[K], string>;
  /** The default, or how to derive it from the settings before it in the table. */
  readonly fallback: PulseConfig[K] | ((resolved: PulseConfig) => PulseConfig[K]);
  /** The default when read from the environment (`npm start`), where it differs from the programmatic one. */
  readonly environmentFallback?: PulseConfig[K];
  /** The default as people read it (`--help`, README), when `String(fallback)` would not say it. */
  readonly defaultText?: string;
  readonly meaning: string;
  /** Never printed or logged (keys). */
  readonly secret?: boolean;
  /** How the value appears in the start-up log when it is partly secret (a password inside a URL). */
  readonly show?: (value: unknown) => unknown;
}

function integer(env: string, min: number, max = Number.MAX_SAFE_INTEGER, what = "a positive integer") {
  return z.string().transform((raw, ctx) => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      ctx.addIssue({ code: "custom", message: `${env} must be ${what}, got "${raw}"` });
      return z.NEVER;
    }
    return n;
  });
}

const define = <K extends keyof PulseConfig>(setting: Setting<K>): Setting<K> => setting;

/** Every setting, in the order `--help` lists them. A setting is derived from earlier ones only. */
export const SETTINGS: readonly Setting[] = [
  define({
    env: "PORT",
    key: "port",
    parse: integer("PORT", 0, 65535, "an integer from 0 to 65535"),
    fallback: 4000,
    meaning: "HTTP port (0 picks a free one).",
  }),
  define({ env: "HOST", key: "host", parse: z.string(), fallback: "0.0.0.0", meaning: "Interface to listen on." }),
  define({
    env: "PULSE_BUFFER_SIZE",
    key: "bufferSize",
    parse: integer("PULSE_BUFFER_SIZE", 1),
    fallback: 10_000,
    meaning: "Events kept in the in-memory ring buffer: what recentEvents, replay and after can reach.",
  }),
  define({
    env: "PULSE_LIVE_WINDOW_SECONDS",
    key: "liveWindowSeconds",
    parse: integer("PULSE_LIVE_WINDOW_SECONDS", 1),
    fallback: 60,
    meaning: "A user is live while their latest event is younger than this. Users are forgotten after twice this.",
  }),
  define({
    env: "PULSE_DASHBOARD_WINDOW_SECONDS",
    key: "dashboardWindowSeconds",
    parse: integer("PULSE_DASHBOARD_WINDOW_SECONDS", 1),
    fallback: 60,
    meaning: "The sliding window of eventsPerMinute and topPages (1-second buckets).",
  }),
  define({
    env: "PULSE_MAX_BATCH",
    key: "maxBatch",
    parse: integer("PULSE_MAX_BATCH", 1),
    fallback: 1000,
    meaning: "The most inputs one captureEvents accepts (more is BAD_USER_INPUT).",
  }),
  define({
    env: "PULSE_SUBSCRIBER_QUEUE",
    key: "subscriberQueue",
    parse: integer("PULSE_SUBSCRIBER_QUEUE", 1),
    // Two maximum-size batches: a subscriber reading as fast as the network allows is never LAGGED by one batch.
    fallback: (resolved) => 2 * resolved.maxBatch,
    defaultText: "2 × PULSE_MAX_BATCH",
    meaning: "Live events held for one subscriber that reads slower than events arrive; past it the subscription ends with LAGGED.",
  }),
  define({
    env: "PULSE_PERSONS_MAX",
    key: "personsMax",
    parse: integer("PULSE_PERSONS_MAX", 1),
    fallback: 100_000,
    meaning: "Persons kept in memory; the least recently seen are dropped past it. Also the most users one liveUsers view holds.",
  }),
  define({
    env: "LOG_LEVEL",
    key: "logLevel",
    parse: z.string().transform((raw, ctx) => {
      const level = raw.trim().toLowerCase();
      if (!(LOG_LEVELS as readonly string[]).includes(level)) {
        ctx.addIssue({ code: "custom", message: `LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}, got "${raw}"` });
        return z.NEVER;
      }
      return level as LogLevel;
    }),
    fallback: "info",
    meaning: `Least severe log level written (${LOG_LEVELS.join(", ")}). Logs are JSON lines on stdout.`,
  }),
  define({
    env: "PULSE_METRICS_KEY",
    key: "metricsKey",
    parse: z.string(),
    fallback: undefined,
    defaultText: "none",
    meaning: "When set, GET /metrics requires `Authorization: Bearer <this key>` (and only it).",
    secret: true,
  }),
  define({
    env: "DATABASE_URL",
    key: "databaseUrl",
    parse: z.string().transform((raw, ctx) => {
      const problem = databaseUrlProblem(raw);
      if (problem) {
        ctx.addIssue({ code: "custom", message: problem });
        return z.NEVER;
      }
      return raw;
    }),
    fallback: null,
    environmentFallback: DEFAULT_DATABASE_URL,
    defaultText: `${DEFAULT_DATABASE_URL} (createPulseServer: none, memory only)`,
    meaning:
      "Where snapshots go: a SQLite file (file:relative/path, file:/absolute/path; its folder is created if missing) or a " +
      "PostgreSQL database shared by a fleet (postgresql://user:password@host:5432/db?schema=public; the schema is created if missing).",
    show: (value) => (typeof value === "string" ? redactDatabaseUrl(value) : value),
  }),
  define({
    env: "PULSE_SNAPSHOT_INTERVAL_MS",
    key: "snapshotIntervalMs",
    parse: integer("PULSE_SNAPSHOT_INTERVAL_MS", 1),
    fallback: 2000,
    meaning: "Time between incremental snapshots to the database: what a crash can lose.",
  }),
  define({
    env: "REDIS_URL",
    key: "redisUrl",
    parse: z.string().url(),
    fallback: null,
    defaultText: "none (one instance, memory stream)",
    meaning: "redis://host:port of the Redis every instance shares: one ordered event stream, fleet-wide duplicate ids.",
    secret: true,
  }),
  define({
    env: "PULSE_REDIS_PREFIX",
    key: "redisPrefix",
    parse: z.string().min(1),
    fallback: "pulse:",
    meaning: "Prefix of every Redis key of this fleet (stream, position counter, de-duplicated ids).",
  }),
  define({
    env: "PULSE_REDIS_STREAM_LENGTH",
    key: "redisStreamLength",
    // At least 1,000: one capture batch (PULSE_MAX_BATCH, up to 1,000) must never trim events no instance read yet.
    parse: integer("PULSE_REDIS_STREAM_LENGTH", 1000, Number.MAX_SAFE_INTEGER, "an integer of at least 1000"),
    fallback: 100_000,
    meaning:
      "Events the Redis stream keeps (at least 1000; approximately: Redis trims whole blocks): how far behind an instance " +
      "(one without a database, one restarted from an older snapshot, one cut off from Redis for a while) can catch up from.",
  }),
];

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
  }
}

/** Reads and validates the settings once; every bad value is reported together. Unset or blank means the default. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): PulseConfig {
  const problems: string[] = [];
  const partial: Record<string, unknown> = {};
  for (const setting of SETTINGS) {
    const raw = env[setting.env];
    if (raw === undefined || raw.trim() === "") {
      if (setting.environmentFallback !== undefined) partial[setting.key] = setting.environmentFallback;
      continue;
    }
    const parsed = setting.parse.safeParse(raw);
    if (parsed.success) partial[setting.key] = parsed.data;
    else problems.push(...parsed.error.issues.map((issue) => issue.message));
  }
  const trust = parseTrustEnvironment(env);
  if ("problems" in trust) problems.push(...trust.problems);
  if (problems.length > 0 || "problems" in trust) throw new ConfigError(problems);
  return resolveConfig({ ...(partial as PulseConfigInput), trust: trust.config });
}

/**
 * Fills defaults for a partial config (the programmatic API) and freezes it. Throws `ConfigError` for a
 * `databaseUrl` that is not a SQLite file URL or a `snapshotIntervalMs` that is not a positive integer.
 */
export function resolveConfig(partial: PulseConfigInput = {}): PulseConfig {
  const problems: string[] = [];
  if (partial.databaseUrl != null) {
    const problem = databaseUrlProblem(partial.databaseUrl, "databaseUrl");
    if (problem) problems.push(problem);
  }
  const interval = partial.snapshotIntervalMs;
  if (interval !== undefined && (!Number.isInteger(interval) || interval < 1)) {
    problems.push(`snapshotIntervalMs must be a positive integer, got ${interval}`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const resolved: Record<string, unknown> = {};
  for (const setting of SETTINGS) {
    const given = partial[setting.key];
    const { fallback } = setting;
    resolved[setting.key] = given ?? (typeof fallback === "function" ? fallback(resolved as unknown as PulseConfig) : fallback);
  }
  resolved["trust"] = resolveTrustConfig(partial.trust);
  return Object.freeze(resolved as unknown as PulseConfig);
}

/** The default of one setting as people read it. */
export function defaultText(setting: Setting): string {
  if (setting.defaultText !== undefined) return setting.defaultText;
  return String(setting.fallback);
}

/** The settings in force by variable name, for the start-up log: secrets show only whether they are set. */
export function describeConfig(config: PulseConfig): Record<string, unknown> {
  return Object.fromEntries([
    ...SETTINGS.map((setting) => {
      const value = config[setting.key];
      return [setting.env, setting.secret ? (value === undefined ? "unset" : "set") : setting.show ? setting.show(value) : value];
    }),
    ...TRUST_SETTINGS.map((setting) => {
      const value = config.trust[setting.key];
      return [setting.env, Array.isArray(value) ? `${value.length} configured` : value];
    }),
  ]);
}

function databaseUrlProblem(url: string, name = "DATABASE_URL"): string | null {
  try {
    databaseEngine(url);
    return null;
  } catch (error) {
    return (error as Error).message.replace(/^DATABASE_URL/, name);
  }
}

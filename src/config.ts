import { z } from "zod";
import { parseTrustEnvironment, resolveTrustConfig, type TrustConfig, type TrustConfigInput } from "./limits/settings.ts";

/** Pulse's settings, each read from the environment variable of the same name (see the README). */
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
  /** Keys and limits (src/limits/settings.ts; the README's "Security" section). */
  readonly trust: TrustConfig;
}

/** A partial config for the programmatic API: anything left out takes its default. */
export type PulseConfigInput = Partial<Omit<PulseConfig, "trust">> & { readonly trust?: TrustConfigInput };

const positiveInt = (name: string, fallback: number) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === "") return fallback;
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 1) {
        ctx.addIssue({ code: "custom", message: `${name} must be a positive integer, got "${raw}"` });
        return z.NEVER;
      }
      return n;
    });

const environmentSchema = z.object({
  PORT: z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === "") return 4000;
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 0 || n > 65535) {
        ctx.addIssue({ code: "custom", message: `PORT must be an integer from 0 to 65535, got "${raw}"` });
        return z.NEVER;
      }
      return n;
    }),
  HOST: z.string().optional().transform((raw) => (raw && raw.trim() !== "" ? raw : "0.0.0.0")),
  PULSE_BUFFER_SIZE: positiveInt("PULSE_BUFFER_SIZE", 10_000),
  PULSE_LIVE_WINDOW_SECONDS: positiveInt("PULSE_LIVE_WINDOW_SECONDS", 60),
  PULSE_DASHBOARD_WINDOW_SECONDS: positiveInt("PULSE_DASHBOARD_WINDOW_SECONDS", 60),
  PULSE_MAX_BATCH: positiveInt("PULSE_MAX_BATCH", 1000),
  PULSE_SUBSCRIBER_QUEUE: positiveInt("PULSE_SUBSCRIBER_QUEUE", 0).optional(),
  PULSE_PERSONS_MAX: positiveInt("PULSE_PERSONS_MAX", 100_000),
});

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
  }
}

/** Reads and validates the settings once; every bad value is reported together. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): PulseConfig {
  const parsed = environmentSchema.safeParse(env);
  const trust = parseTrustEnvironment(env);
  const problems = [...(parsed.success ? [] : parsed.error.issues.map((issue) => issue.message)), ...("problems" in trust ? trust.problems : [])];
  if (!parsed.success || "problems" in trust) throw new ConfigError(problems);
  const e = parsed.data;
  return resolveConfig({
    port: e.PORT,
    host: e.HOST,
    bufferSize: e.PULSE_BUFFER_SIZE,
    liveWindowSeconds: e.PULSE_LIVE_WINDOW_SECONDS,
    dashboardWindowSeconds: e.PULSE_DASHBOARD_WINDOW_SECONDS,
    maxBatch: e.PULSE_MAX_BATCH,
    subscriberQueue: e.PULSE_SUBSCRIBER_QUEUE || undefined,
    personsMax: e.PULSE_PERSONS_MAX,
    trust: trust.config,
  });
}

/** Fills defaults for a partial config (the programmatic API) and freezes it. */
export function resolveConfig(partial: PulseConfigInput = {}): PulseConfig {
  const maxBatch = partial.maxBatch ?? 1000;
  return Object.freeze({
    port: partial.port ?? 4000,
    host: partial.host ?? "0.0.0.0",
    bufferSize: partial.bufferSize ?? 10_000,
    liveWindowSeconds: partial.liveWindowSeconds ?? 60,
    dashboardWindowSeconds: partial.dashboardWindowSeconds ?? 60,
    maxBatch,
    // Two maximum-size batches: a subscriber reading as fast as the network allows is never LAGGED by one batch.
    subscriberQueue: partial.subscriberQueue ?? 2 * maxBatch,
    personsMax: partial.personsMax ?? 100_000,
    trust: resolveTrustConfig(partial.trust),
  });
}

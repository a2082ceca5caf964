/**
 * Before the integration and browser lanes' test files (vitest.config.ts `globalSetup`): finds the real services
 * and the browser the tests need, so `npm test` runs everything on a fresh machine with nothing to set. Vitest runs
 * it once per lane in one process: the work is done once.
 *
 * - Redis and PostgreSQL: `REDIS_URL` and `PULSE_TEST_POSTGRES_URL` when set; otherwise the local servers on their
 *   default ports (`redis://127.0.0.1:6379`, `postgresql://postgres@127.0.0.1:5432/test`) when they answer. One
 *   that does not answer is named in one loud line and its tests skip; under `CI` the run fails instead.
 * - Chromium: `PULSE_TEST_CHROMIUM` when set, else the build shipped inside the `@sparticuz/chromium` package
 *   (unpacked once into the temp folder: no download, no apt), for every machine alike.
 *
 * - Pulse compiled: the sources into `.test-dist/` (test/support/process.ts), which every Pulse process a test
 *   starts runs under plain `node`, as production does.
 *
 * What it finds goes to the test workers through the environment (test/support/services.ts, browser.ts).
 */
import { Redis } from "ioredis";
import pg from "pg";
import { compileForTests } from "./process.ts";

const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379";
const DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test";

export default function setup(): Promise<void> {
  const shared = globalThis as { pulseTestSetup?: Promise<void> };
  return (shared.pulseTestSetup ??= findEverything());
}

async function findEverything(): Promise<void> {
  const missing: string[] = [];
  const [redis, postgres] = await Promise.all([
    findService("REDIS_URL", DEFAULT_REDIS_URL, redisAnswers),
    findService("PULSE_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL, postgresAnswers),
    compileForTests(),
  ]);
  if (!redis) missing.push(`Redis (set REDIS_URL, or start one on ${DEFAULT_REDIS_URL})`);
  if (!postgres) missing.push(`PostgreSQL (set PULSE_TEST_POSTGRES_URL, or start one at ${DEFAULT_POSTGRES_URL})`);
  if (missing.length > 0) {
    const line = `SKIPPING the tests that need ${missing.join(" and ")}: not reachable`;
    if (process.env.CI) throw new Error(`${line}. In CI they must run (.ci/run starts both).`);
    console.warn(`\n!!! ${line} !!!\n`);
  }
  process.env.PULSE_TEST_CHROMIUM ||= await packagedChromium();
}

/** The URL in `variable` (as given: a wrong one fails its tests loudly), else `fallback` if a server answers there. */
async function findService(variable: string, fallback: string, answers: (url: string) => Promise<boolean>): Promise<string | undefined> {
  const given = process.env[variable];
  if (given) return given;
  if (!(await answers(fallback))) return undefined;
  process.env[variable] = fallback;
  return fallback;
}

async function redisAnswers(url: string): Promise<boolean> {
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: 1_000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on("error", () => {});
  try {
    await redis.connect();
    return (await redis.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

async function postgresAnswers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
  client.on("error", () => {});
  try {
    await client.connect();
    await client.query("SELECT 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/** The path of the Chromium inside `@sparticuz/chromium`, unpacked on first use (about 2 s; later runs reuse it). */
async function packagedChromium(): Promise<string> {
  const { default: chromium } = await import("@sparticuz/chromium");
  return chromium.executablePath();
}

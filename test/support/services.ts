/**
 * The real servers the scale-out tests need, read from the environment: `.ci/run` sets them (and starts the servers
 * if they are down), so in CI these tests run, never skip. Elsewhere, a test file whose server is not configured
 * skips itself and says so; with `CI` set, a missing URL fails the run instead of skipping silently.
 */
import { randomBytes, randomUUID } from "node:crypto";
import pg from "pg";
import { onCleanup } from "./cleanup.ts";

/** redis://host:port of a Redis the tests may use (their keys carry a random prefix). */
export const REDIS_URL = service("REDIS_URL", "Redis", "redis://127.0.0.1:6379", process.env.PULSE_TEST_REDIS_URL);
/** postgresql://user@host:port/database the tests may create schemas in (each test gets its own, dropped after). */
export const POSTGRES_URL = service("PULSE_TEST_POSTGRES_URL", "PostgreSQL", "postgresql://postgres@127.0.0.1:5432/test");

function service(variable: string, name: string, example: string, fallback?: string): string | undefined {
  const url = process.env[variable] || fallback;
  if (!url && process.env.CI) throw new Error(`${variable} is not set: in CI the ${name} tests must run (.ci/run sets it)`);
  return url;
}

/** Logs, once per test file, why its tests are skipped. */
export function warnSkipped(file: string, ...missing: ("REDIS_URL" | "PULSE_TEST_POSTGRES_URL")[]): void {
  const unset = missing.filter((variable) => (variable === "REDIS_URL" ? !REDIS_URL : !POSTGRES_URL));
  if (unset.length > 0) console.warn(`${file} skipped: set ${unset.join(" and ")} to run it (see README, "Tests")`);
}

/**
 * A DATABASE_URL on the test PostgreSQL with a schema of its own (`?schema=pulse_test_<random>`), which Pulse creates
 * and `cleanup()` drops after the test: tests running at once never see each other's tables.
 */
export function tempPostgresUrl(): string {
  const base = new URL(POSTGRES_URL!);
  const schema = `pulse_test_${randomBytes(6).toString("hex")}`;
  base.searchParams.set("schema", schema);
  onCleanup(async () => {
    const client = new pg.Client({ connectionString: POSTGRES_URL! });
    client.on("error", () => {});
    await client.connect();
    try {
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    } finally {
      await client.end();
    }
  });
  return base.toString();
}

/**
 * The settings every instance of one fleet shares: Redis keys of its own (a random `PULSE_REDIS_PREFIX`), a
 * PostgreSQL schema of its own (`tempPostgresUrl()`), and snapshots every 200 ms so a test sees them soon.
 */
export function fleetSettings(): Record<string, string> {
  return {
    REDIS_URL: REDIS_URL!,
    PULSE_REDIS_PREFIX: `pulse-test:${randomUUID()}:`,
    DATABASE_URL: tempPostgresUrl(),
    PULSE_SNAPSHOT_INTERVAL_MS: "200",
  };
}

/** Runs one query on the test PostgreSQL (inspecting what Pulse stored). */
export async function queryPostgres<T extends pg.QueryResultRow>(url: string, sql: string, values: unknown[] = []): Promise<T[]> {
  const { searchParams } = new URL(url);
  const client = new pg.Client({ connectionString: POSTGRES_URL!, options: `-c search_path="${searchParams.get("schema") ?? "public"}"` });
  client.on("error", () => {});
  await client.connect();
  try {
    return (await client.query<T>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

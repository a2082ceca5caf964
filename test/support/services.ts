/**
 * The real servers the scale-out tests need. test/support/global-setup.ts finds them before any test file runs
 * (the variables below when set, else the local servers on their default ports when they answer) and says so in one
 * loud line when one is missing; its tests then skip, and under `CI` the run fails instead.
 */
import { randomBytes, randomUUID } from "node:crypto";
import pg from "pg";
import { onCleanup } from "./cleanup.ts";

/** redis://host:port of a Redis the tests may use (their keys carry a random prefix). */
export const REDIS_URL = process.env.REDIS_URL || undefined;
/** postgresql://user@host:port/database the tests may create schemas in (each test gets its own, dropped after). */
export const POSTGRES_URL = process.env.PULSE_TEST_POSTGRES_URL || undefined;

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

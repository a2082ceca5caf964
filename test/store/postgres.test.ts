import { execFile } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import type { StoredEvent } from "../../src/domain/event.ts";
import { Hub } from "../../src/domain/hub.ts";
import { ManualClock } from "../../src/domain/clock.ts";
import { startPersistence } from "../../src/store/persistence.ts";
import { openPostgresStore, POSTGRES_MIGRATIONS, writerLockKey } from "../../src/store/postgres.ts";
import { readMigrations } from "../../src/store/migrations.ts";
import { StoreUnreachableError, StoreUnusableError, type SnapshotStore } from "../../src/store/snapshot-store.ts";
import { onCleanup } from "../support/cleanup.ts";
import { recordingLogger } from "../support/logs.ts";
import { ROOT } from "../support/process.ts";
import { POSTGRES_URL, queryPostgres, tempPostgresUrl } from "../support/services.ts";
import { waitFor } from "../support/wait.ts";

const run = promisify(execFile);

async function open(url: string, log = recordingLogger()): Promise<SnapshotStore> {
  const store = await openPostgresStore(url, { log });
  onCleanup(() => store.close());
  return store;
}

function event(seq: number): StoredEvent {
  return {
    id: randomUUID(),
    event: "$pageview",
    distinctId: `user-${seq % 3}`,
    timestamp: 1_790_000_000_000 + seq,
    receivedAt: 1_790_000_000_000 + seq,
    properties: { n: seq },
    sessionId: null,
    environment: "production",
    seq,
  };
}

const ALL = { events: 1_000_000, persons: 1_000_000 };
const delta = (appended: StoredEvent[], takenAt = 1_790_000_000_000) => ({
  appended,
  evictedThroughSeq: 0,
  persons: [],
  personsMax: 1000,
  takenAt,
  cleanStop: false,
});

describe.skipIf(!POSTGRES_URL)("the PostgreSQL snapshot store", () => {
  describe("migrations", () => {
    it("create the schema and are recorded as prisma migrate deploy records them, so `prisma migrate status` agrees", async () => {
      const url = tempPostgresUrl();
      const log = recordingLogger();
      await (await open(url, log)).close();

      const tables = await queryPostgres<{ name: string }>(
        url,
        "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name",
      );
      expect(tables.map((t) => t.name)).toEqual(["_prisma_migrations", "events", "persons", "snapshot_state"]);
      const committed = readMigrations(POSTGRES_MIGRATIONS);
      const rows = await queryPostgres<{ migration_name: string; checksum: string; finished_at: Date | null; applied_steps_count: number }>(
        url,
        "SELECT migration_name, checksum, finished_at, applied_steps_count FROM _prisma_migrations ORDER BY migration_name",
      );
      expect(rows.map((r) => r.migration_name)).toEqual(committed.map((m) => m.name));
      for (const row of rows) {
        const file = readFileSync(new URL(`${row.migration_name}/migration.sql`, POSTGRES_MIGRATIONS));
        expect(row.checksum).toBe(createHash("sha256").update(file).digest("hex"));
        expect(row.finished_at).toBeInstanceOf(Date);
        expect(row.applied_steps_count).toBe(1);
      }
      expect(log.lines).toContainEqual(expect.objectContaining({ message: "migrations applied" }));

      const { stdout } = await run(
        process.execPath,
        [join(ROOT, "node_modules/prisma/build/index.js"), "migrate", "status", "--config", "prisma/postgresql/prisma.config.ts"],
        { cwd: ROOT, env: { ...process.env, DATABASE_URL: url } },
      );
      expect(stdout).toContain(`schema "${new URL(url).searchParams.get("schema")}"`);
      expect(stdout).toContain("Database schema is up to date!");
    }, 60_000);

    it("run once when several instances start together on a new database", async () => {
      const url = tempPostgresUrl();
      const stores = await Promise.all([open(url), open(url), open(url)]);
      expect(stores).toHaveLength(3);
      const [row] = await queryPostgres<{ count: string }>(url, "SELECT count(*) FROM _prisma_migrations");
      expect(Number(row!.count)).toBe(readMigrations(POSTGRES_MIGRATIONS).length);
    });

    it("upgrade a database written before the clean-stop record: its snapshot counts as a clean stop", async () => {
      const url = tempPostgresUrl();
      const [first] = readMigrations(POSTGRES_MIGRATIONS);
      await (await openPostgresStore(url, { migrations: [first!] })).close();
      await queryPostgres(url, `INSERT INTO snapshot_state (id, "evictedThroughSeq", "takenAt") VALUES (1, 7, now())`);
      const store = await open(url);
      expect(await store.load(ALL)).toMatchObject({ evictedThroughSeq: 7, cleanStop: true });
    });

    it("refuse a database migrated by a newer Pulse", async () => {
      const url = tempPostgresUrl();
      await (await open(url)).close();
      await queryPostgres(
        url,
        `INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, started_at, applied_steps_count)
         VALUES ($1, $2, now(), '29990101000000_from_the_future', now(), 1)`,
        [randomUUID(), "0".repeat(64)],
      );
      const error = await openPostgresStore(url).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreUnusableError);
      expect((error as Error).message).toContain('"29990101000000_from_the_future"');
    });

    it("refuse a schema holding tables that are not Pulse's, and leave them alone", async () => {
      const url = tempPostgresUrl();
      const schema = new URL(url).searchParams.get("schema")!;
      await queryPostgres(POSTGRES_URL!, `CREATE SCHEMA "${schema}"`);
      await queryPostgres(url, "CREATE TABLE invoices (id int PRIMARY KEY)");
      const error = await openPostgresStore(url).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreUnusableError);
      expect((error as Error).message).toMatch(/has tables \(invoices\) but no migration history/);
      const tables = await queryPostgres<{ name: string }>(
        url,
        "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()",
      );
      expect(tables.map((t) => t.name)).toEqual(["invoices"]);
    });
  });

  it("never shows the password: not in its description, not in the error when the server cannot be reached", async () => {
    const url = new URL(tempPostgresUrl());
    url.password = "hunter2-secret";
    const store = await open(url.toString());
    expect(store.description).toMatch(/^PostgreSQL [^ ]+:\d+\/\w+ \(schema pulse_test_\w+\)$/);
    expect(store.description).not.toContain("hunter2");

    const unreachable = new URL(url);
    unreachable.port = "1";
    const error = await openPostgresStore(unreachable.toString()).catch((e: unknown) => e);
    // Not "unusable" (exit 3, do not retry): a server that is down may come back (exit 1, a supervisor restarts).
    expect(error).toBeInstanceOf(StoreUnreachableError);
    expect((error as Error).message).toMatch(/^Cannot reach the database PostgreSQL /);
    expect((error as Error).message).toContain(`${unreachable.hostname}:1/`);
    expect((error as Error).message).not.toContain("hunter2");
  });

  describe("one writer per database", () => {
    it("lets one store write; the others follow, see its snapshot's time, and take over when it closes", async () => {
      const url = tempPostgresUrl();
      const [a, b] = [await open(url), await open(url)];
      expect(await a.claimWriter()).toEqual({ writer: true });
      expect(await b.claimWriter()).toEqual({ writer: false, storedAt: null });
      await a.write(delta([event(1), event(2)], 1_790_000_000_500));
      expect(await b.claimWriter()).toEqual({ writer: false, storedAt: 1_790_000_000_500 });
      await expect(b.write(delta([event(3)]))).rejects.toThrow(/another instance holds the snapshot writer lock/);

      await a.close();
      expect(await b.claimWriter()).toEqual({ writer: true });
      await b.write(delta([event(3)]));
      expect((await b.load(ALL)).events.map((e) => e.seq)).toEqual([1, 2, 3]);
    });

    it("stops writing when its lock's connection is lost and another store took the lock; claims again once free", async () => {
      const url = tempPostgresUrl();
      const a = await open(url);
      expect(await a.claimWriter()).toEqual({ writer: true });
      await a.write(delta([event(1)]));
      // What a network cut or a restarted server does to the lock's session, and so to the lock.
      const killed = await queryPostgres<{ killed: boolean }>(
        url,
        "SELECT pg_terminate_backend(pid) AS killed FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = $1 AND objid = $2",
        [0x50554c53, writerLockKey(new URL(url).searchParams.get("schema")!)],
      );
      expect(killed).toEqual([{ killed: true }]);
      const b = await open(url);
      await waitFor(async () => (await b.claimWriter()).writer, { what: "the lock to be free for another store", timeoutMs: 15_000 });

      await expect(a.write(delta([event(2)]))).rejects.toThrow(/another instance holds the snapshot writer lock|lock was lost/);
      expect(await a.claimWriter()).toEqual({ writer: false, storedAt: 1_790_000_000_000 });
      await b.write(delta([event(2)]));
      await b.close();
      expect(await a.claimWriter()).toEqual({ writer: true });
      await a.write(delta([event(3)]));
      expect((await a.load(ALL)).events.map((e) => e.seq)).toEqual([1, 2, 3]);
    });
  });

  describe("persistence on it", () => {
    function hub(clock: ManualClock): Hub {
      return new Hub({
        bufferSize: 100,
        liveWindowSeconds: 60,
        dashboardWindowSeconds: 60,
        subscriberQueue: 100,
        personsCapacity: 1000,
        clock,
      });
    }

    it("refuses to start a second instance outside a fleet: without a shared stream its events would never be stored", async () => {
      const url = tempPostgresUrl();
      const first = await startPersistence({ hub: hub(new ManualClock()), databaseUrl: url, intervalMs: 60_000, log: recordingLogger() });
      onCleanup(() => first.close());
      const error = await startPersistence({
        hub: hub(new ManualClock()),
        databaseUrl: url,
        intervalMs: 60_000,
        log: recordingLogger(),
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreUnusableError);
      expect((error as Error).message).toMatch(/Another Pulse instance writes snapshots to PostgreSQL .*set REDIS_URL/);
    });

    it("in a fleet, one instance writes; when it stops, a follower writes a full snapshot that a new instance restores", async () => {
      const url = tempPostgresUrl();
      const clock = new ManualClock(1_790_000_000_000);
      const [hubA, hubB] = [hub(clock), hub(clock)];
      const logB = recordingLogger();
      const a = await startPersistence({ hub: hubA, databaseUrl: url, intervalMs: 60_000, log: recordingLogger(), fleet: true });
      const b = await startPersistence({ hub: hubB, databaseUrl: url, intervalMs: 60_000, log: logB, fleet: true });
      onCleanup(() => b.close());
      // The same stream applied on both, as the Redis reader does.
      const stream = Array.from({ length: 30 }, (_, i) => ({ ...event(i + 1), receivedAt: clock.now(), timestamp: clock.now() }));
      for (const e of stream.slice(0, 20)) for (const h of [hubA, hubB]) h.stream.apply(e);
      await a.snapshotNow();
      await b.snapshotNow();
      expect(logB.lines).toContainEqual(
        expect.objectContaining({ message: expect.stringMatching(/another instance writes the snapshots/) }),
      );
      const rowsBy = async () =>
        (await queryPostgres<{ seq: string }>(url, "SELECT seq FROM events ORDER BY seq")).map((r) => Number(r.seq));
      expect(await rowsBy()).toEqual(stream.slice(0, 20).map((e) => e.seq));

      // A's last events never reach its snapshot: it stops (its final snapshot writes them) after B got more.
      for (const e of stream.slice(20)) hubB.stream.apply(e);
      await a.close();
      await b.snapshotNow();
      expect(logB.lines).toContainEqual(
        expect.objectContaining({ message: expect.stringMatching(/this instance now writes the snapshots/) }),
      );
      expect(await rowsBy()).toEqual(stream.map((e) => e.seq));

      const hubC = hub(clock);
      const c = await startPersistence({ hub: hubC, databaseUrl: url, intervalMs: 60_000, log: recordingLogger(), fleet: true });
      onCleanup(() => c.close());
      expect(hubC.stream.bufferedEvents()).toEqual(hubB.stream.bufferedEvents());
      expect(hubC.views.person("user-1")).toEqual(hubB.views.person("user-1"));
    });
  });
});

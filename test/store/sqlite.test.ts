import { execFile } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { migrationTimestamp, readMigrations } from "../../src/store/migrations.ts";
import { StoreReplacedError, StoreUnusableError } from "../../src/store/snapshot-store.ts";
import { openSqliteStore, SQLITE_MIGRATIONS } from "../../src/store/sqlite.ts";
import { onCleanup } from "../support/cleanup.ts";
import { recordingLogger } from "../support/logs.ts";
import { ROOT, tempDir } from "../support/process.ts";
import { writeDamagedDatabase } from "../support/persistence.ts";

const run = promisify(execFile);

async function open(path: string, log = recordingLogger()) {
  const store = await openSqliteStore(`file:${path}`, { log });
  onCleanup(() => store.close());
  return store;
}

function inspect(path: string): Database.Database {
  const db = new Database(path, { readonly: true });
  onCleanup(() => db.close());
  return db;
}

function tables(path: string): string[] {
  return inspect(path)
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
    .pluck()
    .all() as string[];
}

describe("migrations", () => {
  it("apply to a new file in a new folder, recorded as prisma migrate deploy records them", async () => {
    const path = join(tempDir(), "nested", "folder", "pulse.db");
    const log = recordingLogger();
    await open(path, log);

    expect(tables(path)).toEqual(["_prisma_migrations", "events", "persons", "snapshot_state"]);
    const committed = readMigrations(SQLITE_MIGRATIONS);
    expect(committed.length).toBeGreaterThan(0);
    const rows = inspect(path)
      .prepare(
        "SELECT migration_name, checksum, finished_at, rolled_back_at, applied_steps_count FROM _prisma_migrations ORDER BY migration_name",
      )
      .all() as {
      migration_name: string;
      checksum: string;
      finished_at: string | null;
      rolled_back_at: string | null;
      applied_steps_count: number;
    }[];
    expect(rows.map((r) => r.migration_name)).toEqual(committed.map((m) => m.name));
    for (const row of rows) {
      const file = readFileSync(new URL(`${row.migration_name}/migration.sql`, SQLITE_MIGRATIONS));
      expect(row.checksum).toBe(createHash("sha256").update(file).digest("hex"));
      expect(row.finished_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$/);
      expect(row.rolled_back_at).toBeNull();
      expect(row.applied_steps_count).toBe(1);
    }
    expect(log.lines).toContainEqual({
      level: "info",
      message: "migrations applied",
      fields: expect.objectContaining({ migrations: committed.map((m) => m.name) }),
    });
  });

  it("apply to an existing empty file", async () => {
    const path = join(tempDir(), "empty.db");
    writeFileSync(path, "");
    await open(path);
    expect(tables(path)).toContain("events");
  });

  it("are applied once: a second start applies nothing", async () => {
    const path = join(tempDir(), "pulse.db");
    await (await open(path)).close();
    const log = recordingLogger();
    await open(path, log);
    expect(inspect(path).prepare("SELECT COUNT(*) FROM _prisma_migrations").pluck().get()).toBe(readMigrations(SQLITE_MIGRATIONS).length);
    expect(log.lines).toEqual([]);
  });

  it("leave a database that `prisma migrate status` calls up to date", async () => {
    const path = join(tempDir(), "pulse.db");
    await (await open(path)).close();
    const { stdout } = await run(process.execPath, [join(ROOT, "node_modules/prisma/build/index.js"), "migrate", "status"], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: `file:${path}` },
    });
    expect(stdout).toContain("Database schema is up to date!");
  });

  it("put the file in WAL mode, as a second connection sees", async () => {
    const path = join(tempDir(), "pulse.db");
    await open(path);
    expect(inspect(path).pragma("journal_mode", { simple: true })).toBe("wal");
  });

  it("refuse a database migrated by a newer Pulse, and leave it untouched", async () => {
    const path = join(tempDir(), "pulse.db");
    await (await open(path)).close();
    const db = new Database(path);
    db.prepare(
      `INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, started_at, applied_steps_count) VALUES (?, ?, ?, ?, ?, 1)`,
    ).run(randomUUID(), "0".repeat(64), migrationTimestamp(), "29990101000000_from_the_future", migrationTimestamp());
    db.close();
    const before = readFileSync(path);

    const error = await openSqliteStore(`file:${path}`, { log: recordingLogger() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnusableError);
    expect((error as Error).message).toContain('"29990101000000_from_the_future"');
    expect((error as Error).message).toContain("newer version of Pulse");
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  it("refuse a database whose migration failed half-way", async () => {
    const path = join(tempDir(), "pulse.db");
    await (await open(path)).close();
    const db = new Database(path);
    db.prepare("UPDATE _prisma_migrations SET finished_at = NULL").run();
    db.close();
    await expect(openSqliteStore(`file:${path}`, { log: recordingLogger() })).rejects.toThrow(/failed migration "\d+_\w+"/);
  });

  it("refuse a database that is not Pulse's", async () => {
    const path = join(tempDir(), "other.db");
    const db = new Database(path);
    db.exec("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)");
    db.close();
    const error = await openSqliteStore(`file:${path}`, { log: recordingLogger() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnusableError);
    expect((error as Error).message).toMatch(/has tables \(invoices\) but no migration history/);
    expect(tables(path)).toEqual(["invoices"]);
  });

  it("refuse a file that is not a SQLite database, naming it", async () => {
    const path = join(tempDir(), "notes.txt");
    writeFileSync(path, "these are not the pages you are looking for ".repeat(100));
    const error = await openSqliteStore(`file:${path}`, { log: recordingLogger() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnusableError);
    expect((error as Error).message).toContain(path);
    expect((error as Error).message).toMatch(/not a database/);
  });

  it("refuse a file whose pages are damaged, naming it and what to do, and leave it untouched", async () => {
    const path = join(tempDir(), "pulse.db");
    await writeDamagedDatabase(path);
    const before = readFileSync(path);
    const error = await openSqliteStore(`file:${path}`, { log: recordingLogger() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnusableError);
    expect((error as Error).message).toContain(`The database SQLite ${path} is damaged (`);
    expect((error as Error).message).toContain("Restore it from a backup");
    expect((error as Error).message).not.toContain("\n");
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  it("upgrade a database written before the clean-stop record: its snapshot counts as a clean stop", async () => {
    const path = join(tempDir(), "pulse.db");
    const [first] = readMigrations(SQLITE_MIGRATIONS);
    await (await openSqliteStore(`file:${path}`, { log: recordingLogger(), migrations: [first!] })).close();
    const db = new Database(path);
    db.prepare(`INSERT INTO snapshot_state (id, "evictedThroughSeq", "takenAt") VALUES (1, 7, ?)`).run(migrationTimestamp());
    db.close();
    const store = await open(path);
    expect(await store.load({ events: 10, persons: 10 })).toMatchObject({ evictedThroughSeq: 7, cleanStop: true });
  });

  it("warn about a migration changed after it was applied, and carry on", async () => {
    const path = join(tempDir(), "pulse.db");
    await (await open(path)).close();
    const db = new Database(path);
    db.prepare("UPDATE _prisma_migrations SET checksum = ? WHERE migration_name = ?").run(
      "f".repeat(64),
      readMigrations(SQLITE_MIGRATIONS)[0]!.name,
    );
    db.close();
    const log = recordingLogger();
    await open(path, log);
    expect(log.lines.map((l) => [l.level, l.message])).toEqual([["warn", expect.stringMatching(/was changed after it was applied/)]]);
  });
});

describe("a file deleted or replaced while the store is open", () => {
  const now = Date.parse("2026-01-01T12:00:00Z");
  const event = (seq: number) => ({
    seq,
    id: randomUUID(),
    event: "$pageview",
    distinctId: "ada",
    timestamp: now,
    receivedAt: now,
    properties: { seq },
    sessionId: null,
    environment: "production",
  });
  const delta = (events: ReturnType<typeof event>[]) => ({
    appended: events,
    evictedThroughSeq: 0,
    persons: [],
    personsMax: 10,
    takenAt: now,
    cleanStop: false,
  });
  const storedIds = (path: string) => inspect(path).prepare("SELECT id FROM events ORDER BY seq").pluck().all();

  /** Puts another Pulse database (a backup holding one event at position 99) in place of `path`, as `mv` does. */
  async function moveBackupOver(path: string): Promise<string[]> {
    const backup = `${path}.backup`;
    const other = await openSqliteStore(`file:${backup}`, { log: recordingLogger() });
    const kept = { ...event(99), id: randomUUID() };
    await other.write(delta([kept]));
    await other.close();
    renameSync(backup, path);
    return [kept.id];
  }

  for (const [how, remove] of [
    ["deleted (pulse.db alone: its -wal stays)", (path: string) => Promise.resolve((rmSync(path), []))],
    [
      "deleted with its -wal and -shm",
      (path: string) => {
        for (const suffix of ["", "-wal", "-shm"]) rmSync(path + suffix, { force: true });
        return Promise.resolve([]);
      },
    ],
    ["replaced by another database", moveBackupOver],
  ] as const) {
    it(`${how}: the next write fails with StoreReplacedError, and the store writes to the file now at the path`, async () => {
      const path = join(tempDir(), "pulse.db");
      const log = recordingLogger();
      const store = await open(path, log);
      const first = event(1);
      await store.write(delta([first]));
      const found = await remove(path);

      const error = await store.write(delta([event(2)])).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreReplacedError);
      expect(log.lines.filter((l) => l.level === "error").map((l) => l.message)).toEqual([
        expect.stringMatching(/^the database file (was deleted|was replaced by another file) while Pulse was running/),
      ]);
      // Migrated, and holding only what the file at the path held: none of the lost file's pages came back through
      // its -wal.
      expect(tables(path)).toEqual(["_prisma_migrations", "events", "persons", "snapshot_state"]);
      expect(inspect(path).pragma("quick_check", { simple: true })).toBe("ok");
      expect(storedIds(path)).toEqual(found);
      await store.verify!();
      const everything = [first, event(2), event(3)];
      await store.write(delta(everything));
      expect(storedIds(path)).toEqual([...everything.map((e) => e.id), ...found]);
    });
  }

  it("is found by verify() when there is nothing to write", async () => {
    const path = join(tempDir(), "pulse.db");
    const store = await open(path);
    await store.verify!();
    rmSync(path);
    await expect(store.verify!()).rejects.toBeInstanceOf(StoreReplacedError);
    await store.verify!();
    expect(tables(path)).toContain("events");
  });
});

import { randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import { PrismaBetterSQLite3 } from "@prisma/adapter-better-sqlite3";
import Database from "better-sqlite3";
import type { JsonObject, StoredEvent } from "../domain/event.ts";
import type { Person } from "../domain/persons.ts";
import { Prisma, PrismaClient } from "../generated/prisma/client.ts";
import { consoleLogger, type Logger } from "../logger.ts";
import { sqlitePath } from "./database-url.ts";
import { migrationTimestamp, planMigrations, readMigrations, type AppliedMigration, type Migration } from "./migrations.ts";
import { StoreUnusableError, type Snapshot, type SnapshotDelta, type SnapshotStore } from "./snapshot-store.ts";

/** The committed migrations of the SQLite schema (prisma/schema.prisma). */
export const SQLITE_MIGRATIONS = new URL("../../prisma/migrations/", import.meta.url);

/**
 * Rows per statement. better-sqlite3 is synchronous: a statement blocks the event loop while it runs. A 100-row
 * insert through Prisma takes ~5 ms here (10,000 rows in one createMany took ~0.7 s), and the store yields to the
 * event loop between statements.
 */
const INSERT_CHUNK_ROWS = 100;
/** Deletes are cheaper per row than inserts. */
const DELETE_CHUNK_ROWS = 500;
/**
 * How long a statement waits for a lock held by another connection. better-sqlite3 waits synchronously, blocking
 * the event loop, so keep it short: Pulse is the only writer, and a lock held by someone else (a `sqlite3` shell in a
 * write transaction) is database trouble that the snapshotter retries with backoff.
 */
const BUSY_TIMEOUT_MS = 20;
/** At start, before serving, waiting is harmless: another Pulse may be migrating the same file. */
const MIGRATION_BUSY_TIMEOUT_MS = 5_000;
/** A delta of a whole large buffer (PULSE_BUFFER_SIZE = 1,000,000) takes about a minute; never cut it short. */
const TRANSACTION_TIMEOUT_MS = 10 * 60_000;

export interface SqliteStoreOptions {
  readonly log?: Logger;
  /** Migrations to apply (tests); default the committed ones. */
  readonly migrations?: readonly Migration[];
}

/**
 * Opens (creating the file and its folder if missing) and migrates a SQLite snapshot store. Throws
 * `StoreUnusableError` for a database Pulse must not use (newer schema, failed migration, not a Pulse database,
 * cannot be opened or written).
 */
export async function openSqliteStore(url: string, options: SqliteStoreOptions = {}): Promise<SnapshotStore> {
  const log = options.log ?? consoleLogger;
  const path = sqlitePath(url);
  const description = `SQLite ${resolve(path)}`;
  migrateSqlite(path, options.migrations ?? readMigrations(SQLITE_MIGRATIONS), description, log);
  const prisma = new PrismaClient({ adapter: new PrismaBetterSQLite3({ url: path, timeout: BUSY_TIMEOUT_MS }) });
  try {
    await prisma.$connect();
    // Per connection. FULL syncs the WAL at each commit: one fsync per snapshot (about a millisecond here), and a
    // power cut, not only a crash, then loses at most one interval.
    await prisma.$executeRawUnsafe("PRAGMA synchronous = FULL");
  } catch (error) {
    await prisma.$disconnect();
    throw new StoreUnusableError(`Cannot open the database ${description}: ${messageOf(error)}`, { cause: error });
  }
  return new SqliteSnapshotStore(prisma, description);
}

/**
 * Puts the file in WAL mode (readers, such as a backup, never block the snapshot writer, and a crash mid-write
 * leaves the last commit intact) and applies the pending migrations, each in the same transaction as its
 * `_prisma_migrations` row. Synchronous: it runs once, before the server serves.
 */
export function migrateSqlite(path: string, migrations: readonly Migration[], description: string, log: Logger = consoleLogger): void {
  let db: Database.Database | undefined;
  try {
    mkdirSync(dirname(path), { recursive: true });
    db = new Database(path, { timeout: MIGRATION_BUSY_TIMEOUT_MS });
    // journal_mode cannot change inside a transaction; it is stored in the file, so it holds for every connection.
    const mode = db.pragma("journal_mode = WAL", { simple: true });
    if (mode !== "wal") log.warn(`${description}: journal_mode is "${String(mode)}", not "wal" (an in-memory database?)`);
    const database = db;
    const plan = database
      .transaction(() => {
        const tables = database
          .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
          .pluck()
          .all() as string[];
        if (tables.length > 0 && !tables.includes("_prisma_migrations")) {
          throw new StoreUnusableError(
            `The database ${description} has tables (${tables.slice(0, 5).join(", ")}) but no migration history: ` +
              `it is not a Pulse database. Set DATABASE_URL to a new or empty file.`,
          );
        }
        database.exec(PRISMA_MIGRATIONS_TABLE);
        const applied = database
          .prepare(
            `SELECT migration_name AS name, checksum, finished_at AS finishedAt, rolled_back_at AS rolledBackAt
             FROM "_prisma_migrations" ORDER BY started_at`,
          )
          .all() as AppliedMigration[];
        const plan = planMigrations(migrations, applied, description);
        const record = database.prepare(
          `INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count)
           VALUES (?, ?, ?, ?, NULL, NULL, ?, 1)`,
        );
        for (const migration of plan.pending) {
          const startedAt = migrationTimestamp();
          database.exec(migration.sql);
          record.run(randomUUID(), migration.checksum, migrationTimestamp(), migration.name, startedAt);
        }
        return plan;
      })
      // IMMEDIATE takes the write lock first: two processes starting on one file apply each migration once.
      .immediate();
    for (const warning of plan.warnings) log.warn(warning);
    if (plan.pending.length > 0) {
      log.info(`${description}: applied migration(s) ${plan.pending.map((m) => m.name).join(", ")}`);
    }
  } catch (error) {
    if (error instanceof StoreUnusableError) throw error;
    throw new StoreUnusableError(`Cannot open or migrate the database ${description}: ${messageOf(error)}`, { cause: error });
  } finally {
    db?.close();
  }
}

/** Prisma's own definition (what `prisma migrate deploy` creates on SQLite), so the CLI reads our rows. */
const PRISMA_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    TEXT PRIMARY KEY NOT NULL,
    "checksum"              TEXT NOT NULL,
    "finished_at"           DATETIME,
    "migration_name"        TEXT NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        DATETIME,
    "started_at"            DATETIME NOT NULL DEFAULT current_timestamp,
    "applied_steps_count"   INTEGER UNSIGNED NOT NULL DEFAULT 0
)`;

class SqliteSnapshotStore implements SnapshotStore {
  /** Persons upserted since the table was last trimmed to PULSE_PERSONS_MAX. */
  private personsSincePrune = 0;

  constructor(
    private readonly prisma: PrismaClient,
    readonly description: string,
  ) {}

  async load(limits: { readonly events: number; readonly persons: number }): Promise<Snapshot> {
    const [state, rows, people] = await this.prisma.$transaction([
      this.prisma.snapshotState.findUnique({ where: { id: 1 } }),
      // One more than the limit: its position tells how far a smaller buffer has evicted.
      this.prisma.event.findMany({ orderBy: { seq: "desc" }, take: limits.events + 1 }),
      this.prisma.person.findMany({ orderBy: { lastSeen: "desc" }, take: limits.persons }),
    ]);
    const left = rows.length > limits.events ? Number(rows[limits.events]!.seq) : 0;
    const events: StoredEvent[] = [];
    for (let i = Math.min(rows.length, limits.events) - 1; i >= 0; i--) {
      const row = rows[i]!;
      events.push({
        id: row.id,
        event: row.event,
        distinctId: row.distinctId,
        timestamp: row.timestamp.getTime(),
        receivedAt: row.receivedAt.getTime(),
        properties: JSON.parse(row.properties) as JsonObject,
        sessionId: row.sessionId,
        environment: row.environment,
        seq: Number(row.seq),
      });
    }
    const persons: Person[] = people.reverse().map((row) => ({
      distinctId: row.distinctId,
      properties: JSON.parse(row.properties) as JsonObject,
      firstSeen: row.firstSeen.getTime(),
      lastSeen: row.lastSeen.getTime(),
    }));
    return {
      events,
      evictedThroughSeq: Math.max(Number(state?.evictedThroughSeq ?? 0), left),
      persons,
      takenAt: state ? state.takenAt.getTime() : null,
    };
  }

  async write(delta: SnapshotDelta): Promise<void> {
    const prune = this.personsSincePrune + delta.persons.length >= Math.max(1000, delta.personsMax / 10);
    // One interactive transaction spanning several event-loop turns: only the snapshotter uses this client, one
    // write at a time, so nothing else runs statements on the connection while it is open.
    await this.prisma.$transaction(
      async (tx) => {
        for (let i = 0; i < delta.appended.length; i += INSERT_CHUNK_ROWS) {
          const rows = delta.appended.slice(i, i + INSERT_CHUNK_ROWS).map(
            (e) =>
              Prisma.sql`(${BigInt(e.seq)}, ${e.id}, ${e.event}, ${e.distinctId}, ${new Date(e.timestamp)}, ${new Date(e.receivedAt)},
                ${JSON.stringify(e.properties)}, ${e.sessionId}, ${e.environment})`,
          );
          // A retried delta may repeat events a failed attempt tried to write: the same position is the same event.
          await tx.$executeRaw`
            INSERT INTO events (seq, id, event, "distinctId", timestamp, "receivedAt", properties, "sessionId", environment)
            VALUES ${Prisma.join(rows)}
            ON CONFLICT (seq) DO UPDATE SET id = excluded.id, event = excluded.event, "distinctId" = excluded."distinctId",
              timestamp = excluded.timestamp, "receivedAt" = excluded."receivedAt", properties = excluded.properties,
              "sessionId" = excluded."sessionId", environment = excluded.environment`;
          await yieldToEventLoop();
        }
        // Eviction is first in, first out: everything at or below the evicted position goes, whatever its count.
        const through = BigInt(delta.evictedThroughSeq);
        for (;;) {
          const removed = await tx.$executeRaw`
            DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE seq <= ${through} ORDER BY seq LIMIT ${DELETE_CHUNK_ROWS})`;
          if (removed < DELETE_CHUNK_ROWS) break;
          await yieldToEventLoop();
        }
        for (let i = 0; i < delta.persons.length; i += INSERT_CHUNK_ROWS) {
          const rows = delta.persons
            .slice(i, i + INSERT_CHUNK_ROWS)
            .map((p) => Prisma.sql`(${p.distinctId}, ${JSON.stringify(p.properties)}, ${new Date(p.firstSeen)}, ${new Date(p.lastSeen)})`);
          await tx.$executeRaw`
            INSERT INTO persons ("distinctId", properties, "firstSeen", "lastSeen") VALUES ${Prisma.join(rows)}
            ON CONFLICT ("distinctId") DO UPDATE SET properties = excluded.properties, "firstSeen" = excluded."firstSeen",
              "lastSeen" = excluded."lastSeen"`;
          await yieldToEventLoop();
        }
        if (prune) {
          // The hub drops the least recently seen persons past PULSE_PERSONS_MAX without telling; trim the table to
          // match now and then rather than at every snapshot (walking 100,000 index entries is not free).
          await tx.$executeRaw`
            DELETE FROM persons WHERE "lastSeen" < (
              SELECT "lastSeen" FROM persons ORDER BY "lastSeen" DESC LIMIT 1 OFFSET ${delta.personsMax - 1})`;
        }
        const state = { evictedThroughSeq: through, takenAt: new Date(delta.takenAt) };
        await tx.snapshotState.upsert({ where: { id: 1 }, create: { id: 1, ...state }, update: state });
      },
      { timeout: TRANSACTION_TIMEOUT_MS },
    );
    this.personsSincePrune = prune ? 0 : this.personsSincePrune + delta.persons.length;
  }

  async close(): Promise<void> {
    await this.prisma.$disconnect();
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

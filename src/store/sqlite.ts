import { randomUUID } from "node:crypto";
import { mkdirSync, rmSync, statSync } from "node:fs";
import { dirname, extname, resolve } from "node:path";
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import Database from "better-sqlite3";
import { silentLogger, type Logger } from "../telemetry/logger.ts";
import { sqlitePath } from "./database-url.ts";
import { migrationTimestamp, planMigrations, readMigrations, type AppliedMigration, type Migration } from "./migrations.ts";
import { PersonsTrim, RowDecoder, type EventColumns, type PersonColumns } from "./rows.ts";
import {
  StoreReplacedError,
  StoreUnusableError,
  type Snapshot,
  type SnapshotDelta,
  type SnapshotStore,
  type StoreOptions,
  type WriterClaim,
} from "./snapshot-store.ts";
import type { StoredEvent } from "../domain/event.ts";
import type { Person } from "../domain/persons.ts";
import type { CommitRequest, EventRow, PersonRow, WriterOptions, WriterReply, WriterRequest } from "./sqlite-writer.ts";

/** The committed migrations of the SQLite schema (prisma/schema.prisma). */
export const SQLITE_MIGRATIONS = new URL("../../prisma/migrations/", import.meta.url);

/** Rows per message to the writer thread: the main thread serializes them, and yields between messages. */
const ROWS_PER_MESSAGE = 500;
/**
 * How long a writer statement waits for a lock held by another connection (a `sqlite3` shell in a write
 * transaction) before the snapshot fails and is retried with backoff. It waits in the writer thread, not in the
 * event loop.
 */
const BUSY_TIMEOUT_MS = 250;
/** At start, before serving, waiting is harmless: another Pulse may be migrating the same file. */
const MIGRATION_BUSY_TIMEOUT_MS = 5_000;

/**
 * Opens (creating the file and its folder if missing) and migrates a SQLite snapshot store. Throws
 * `StoreUnusableError` for a database Pulse must not use (newer schema, failed migration, not a Pulse database,
 * cannot be opened or written).
 */
export function openSqliteStore(
  url: string,
  options: StoreOptions & {
    /**
     * Check the file's pages (`PRAGMA quick_check`, seconds for a large file) in the writer thread while `load` reads
     * on the main thread, instead of before this resolves: `load` and `write` wait for the check and reject with
     * `StoreUnusableError` for a damaged file. Taken only when no migration is due (a migration writes, and never
     * into an unchecked file). How Pulse starts; tools and tests get a checked store.
     */
    readonly checkWhileLoading?: boolean;
  } = {},
): Promise<SnapshotStore> {
  // Synchronous work; whatever it throws rejects the promise.
  return new Promise((resolveStore) => {
    const log = options.log ?? silentLogger();
    const path = sqlitePath(url);
    const description = `SQLite ${resolve(path)}`;
    const migrations = options.migrations ?? readMigrations(SQLITE_MIGRATIONS);
    const store = new SqliteSnapshotStore({ path, description, migrations, log });
    store.open(options.checkWhileLoading === true);
    resolveStore(store);
  });
}

/** Which file is at `path` (device and inode), or null when there is none: a file deleted or replaced has another. */
function fileAt(path: string): { readonly dev: number; readonly ino: number } | null {
  try {
    const { dev, ino } = statSync(path);
    return { dev, ino };
  } catch (error) {
    if ((error as { code?: unknown }).code === "ENOENT") return null;
    throw error;
  }
}

/**
 * Puts the file in WAL mode (readers, such as a backup, never block the snapshot writer, and a crash mid-write
 * leaves the last commit intact) and applies the pending migrations, each in the same transaction as its
 * `_prisma_migrations` row. Synchronous: it runs once, before the server serves.
 *
 * Every page is checked first (`PRAGMA quick_check`): a damaged page found now stops the start with a plain message;
 * found by the restore, it would end in a stack trace, and found by a snapshot, fail every snapshot after. With
 * `deferCheck` and no migration to apply (nothing is written) the check is left to the caller, who runs it beside
 * the restore (see `SqliteSnapshotStore.open`); the result says whether it was left.
 */
export function migrateSqlite(
  path: string,
  migrations: readonly Migration[],
  description: string,
  log: Logger = silentLogger(),
  options: { readonly deferCheck?: boolean } = {},
): { readonly checkDeferred: boolean } {
  let db: Database.Database | undefined;
  try {
    mkdirSync(dirname(path), { recursive: true });
    db = new Database(path, { timeout: MIGRATION_BUSY_TIMEOUT_MS });
    // journal_mode cannot change inside a transaction; it is stored in the file, so it holds for every connection.
    const mode = db.pragma("journal_mode = WAL", { simple: true });
    if (mode !== "wal") log.warn({ store: description, journalMode: mode }, "the database is not in WAL mode (an in-memory database?)");
    // 0.3 s for a 30 MB file (a 10,000-event buffer and 100,000 persons), 2.6 s for a 424 MB one (a million events).
    if (!options.deferCheck) checkPages(db, description);
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
        // A migration writes: never into a damaged file.
        if (options.deferCheck && plan.pending.length > 0) checkPages(database, description);
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
    for (const warning of plan.warnings) log.warn({ store: description }, warning);
    if (plan.pending.length > 0) log.info({ store: description, migrations: plan.pending.map((m) => m.name) }, "migrations applied");
    return { checkDeferred: options.deferCheck === true && plan.pending.length === 0 };
  } catch (error) {
    if (error instanceof StoreUnusableError) throw error;
    if (isCorruption(error)) throw corrupted(description, messageOf(error), error);
    throw new StoreUnusableError(`Cannot open or migrate the database ${description}: ${messageOf(error)}`, { cause: error });
  } finally {
    db?.close();
  }
}

/** `PRAGMA quick_check`'s report: ["ok"], or up to three problems. */
export function quickCheck(db: Database.Database): string[] {
  return (db.pragma("quick_check(3)") as { quick_check: string }[]).flatMap((row) => row.quick_check.split("\n"));
}

/** Throws `StoreUnusableError` (damaged) unless every page passes `quick_check`. */
function checkPages(db: Database.Database, description: string): void {
  const report = quickCheck(db);
  if (!pagesOk(report)) throw damaged(description, report);
}

function pagesOk(report: readonly string[]): boolean {
  return report.length === 1 && report[0] === "ok";
}

function damaged(description: string, report: readonly string[]): StoreUnusableError {
  return corrupted(
    description,
    report
      .filter((line) => !line.startsWith("***"))
      .slice(0, 3)
      .join("; "),
  );
}

/** SQLite's codes for a file that is damaged or is no database at all. */
function isCorruption(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "SQLITE_CORRUPT" || code === "SQLITE_NOTADB" || (typeof code === "string" && code.startsWith("SQLITE_CORRUPT_"));
}

function corrupted(description: string, detail: string, cause?: unknown): StoreUnusableError {
  return new StoreUnusableError(
    `The database ${description} is damaged (${detail}). Restore it from a backup (docs/persistence.md, "Backups"), ` +
      `or move it and its -wal and -shm files aside to start with an empty database.`,
    { cause },
  );
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

/**
 * Reads (once, at start) with plain statements on the main thread; writes through a worker thread. better-sqlite3 is synchronous, and on the main
 * thread a snapshot of 10,000 new events stalled the event loop well past the 50 ms target on this 2-core machine:
 * 100-row inserts issued through Prisma took 5-16 ms each (up to 230 ms under load, 1-2 s in all), and the WAL
 * checkpoint at commit 50-140 ms, neither of which chunking can split. In the writer thread the whole delta is one
 * plain transaction of prepared statements; the main thread only serializes rows, a few hundred at a time.
 *
 * An open SQLite connection keeps writing to its file after the file is deleted (or another is moved in its place),
 * and every commit succeeds into a file nobody will read. So the store notes which file it opened (device and
 * inode) and checks the path before and after each write (and on `verify`): when it differs, it reopens the path
 * and rejects with `StoreReplacedError`, and no snapshot is claimed for what went to the lost file.
 */
class SqliteSnapshotStore implements SnapshotStore {
  readonly description: string;
  private readonly path: string;
  private readonly migrations: readonly Migration[];
  private readonly log: Logger;
  private personsTrim = new PersonsTrim();
  private writer: SqliteWriter | undefined;
  /** The page check left to the writer thread (`checkWhileLoading`): rejects with `StoreUnusableError` for damage. */
  private pagesChecked: Promise<void> = Promise.resolve();
  /** The file the connections have open; null once it is found gone, until the path is opened again. */
  private file: { readonly dev: number; readonly ino: number } | null = null;

  constructor(options: { path: string; description: string; migrations: readonly Migration[]; log: Logger }) {
    this.path = options.path;
    this.description = options.description;
    this.migrations = options.migrations;
    this.log = options.log;
  }

  /**
   * Creates (if missing), checks and migrates the file, then starts the writer thread. Throws `StoreUnusableError`.
   * `deferCheck`: see `checkWhileLoading`.
   */
  open(deferCheck = false): void {
    const { checkDeferred } = migrateSqlite(this.path, this.migrations, this.description, this.log, { deferCheck });
    const file = fileAt(this.path);
    // A worker thread takes ~0.3 s to start on a busy 2-core machine: let it start while the snapshot is loaded
    // rather than before. The migration has just written to the file; a writer that still fails shows as a failed
    // snapshot.
    this.writer = new SqliteWriter({ path: this.path, busyTimeoutMs: BUSY_TIMEOUT_MS });
    this.writer.start().catch(() => {});
    if (checkDeferred) {
      const description = this.description;
      this.pagesChecked = this.writer.check().then(
        (report) => {
          if (!pagesOk(report)) throw damaged(description, report);
        },
        (error: unknown) => {
          if (isCorruption(error)) throw corrupted(description, messageOf(error), error);
          throw new StoreUnusableError(`Cannot check the database ${description}: ${messageOf(error)}`, { cause: error });
        },
      );
      // Awaited by load and write; a store closed before either must not report it as unhandled.
      this.pagesChecked.catch(() => {});
    } else {
      this.pagesChecked = Promise.resolve();
    }
    this.personsTrim = new PersonsTrim();
    this.file = file;
  }

  async load(limits: { readonly events: number; readonly persons: number }): Promise<Snapshot> {
    let db: Database.Database | undefined;
    let snapshot: Snapshot;
    try {
      db = new Database(this.path, { readonly: true, fileMustExist: true });
      snapshot = await readSnapshot(db, limits);
    } catch (error) {
      // The page check's report, when it has one, says more than the read's error.
      await this.pagesChecked;
      // Damage the quick check did not see (it reads every page, not every index entry's row).
      if (isCorruption(error)) throw corrupted(this.description, "database disk image is malformed", error);
      throw error;
    } finally {
      db?.close();
    }
    await this.pagesChecked;
    return snapshot;
  }

  /** A SQLite file belongs to one Pulse process: it always writes. */
  claimWriter(): Promise<WriterClaim> {
    return Promise.resolve({ writer: true });
  }

  async write(delta: SnapshotDelta): Promise<void> {
    await this.pagesChecked;
    await this.verify();
    const prune = this.personsTrim.due(delta.persons.length, delta.personsMax);
    await this.writer!.write(async (send) => {
      for (let i = 0; i < delta.appended.length; i += ROWS_PER_MESSAGE) {
        const rows = delta.appended
          .slice(i, i + ROWS_PER_MESSAGE)
          .map((e): EventRow => [
            e.seq,
            e.id,
            e.event,
            e.distinctId,
            e.timestamp,
            e.receivedAt,
            JSON.stringify(e.properties),
            e.sessionId,
            e.environment,
          ]);
        send({ type: "events", rows });
        await yieldToEventLoop();
      }
      for (let i = 0; i < delta.persons.length; i += ROWS_PER_MESSAGE) {
        const rows = delta.persons
          .slice(i, i + ROWS_PER_MESSAGE)
          .map((p): PersonRow => [p.distinctId, JSON.stringify(p.properties), p.firstSeen, p.lastSeen]);
        send({ type: "persons", rows });
        await yieldToEventLoop();
      }
      return {
        evictedThroughSeq: delta.evictedThroughSeq,
        takenAt: delta.takenAt,
        cleanStop: delta.cleanStop,
        keepPersons: prune ? delta.personsMax : null,
      };
    });
    // Deleted while the delta was being written: the commit went to the lost file.
    await this.verify();
    this.personsTrim.written(delta.persons.length, prune);
  }

  /**
   * Checks that the file at the path is the one the connections write to. If not, reopens the path and rejects
   * with `StoreReplacedError`; a reopen that fails rejects with its error and is tried again at the next call.
   */
  async verify(): Promise<void> {
    if (this.file === null) return this.reopen();
    const now = fileAt(this.path);
    if (now !== null && now.dev === this.file.dev && now.ino === this.file.ino) return;
    this.file = null;
    const what = now === null ? "was deleted" : "was replaced by another file";
    this.log.error(
      { store: this.description },
      `the database file ${what} while Pulse was running: snapshots went to a file that is no longer there; ` +
        `creating it again, the next snapshot writes everything in memory`,
    );
    let reopenFailure = "";
    try {
      await this.reopen();
    } catch (error) {
      reopenFailure = `; could not create it again yet: ${messageOf(error)}`;
    }
    throw new StoreReplacedError(`the database file ${this.description} ${what} while Pulse was running${reopenFailure}`);
  }

  /**
   * Closes the connections to the lost file, then opens the path afresh. Closing comes first, and the lost file's
   * `-wal` and `-shm` go before the path is opened: SQLite leaves the WAL of a file that was deleted or moved at the
   * path, and would replay its frames into a database moved into its place (the lost file's pages in another file).
   */
  private async reopen(): Promise<void> {
    const writer = this.writer;
    this.writer = undefined;
    await writer?.close().catch(() => {});
    if (writer) for (const suffix of ["-wal", "-shm"]) rmSync(`${this.path}${suffix}`, { force: true });
    this.open();
  }

  async close(): Promise<void> {
    await this.writer?.close();
  }
}

/**
 * The main-thread side of the writer thread (sqlite-writer.ts). One write at a time (the snapshotter's rule). A
 * thread that died (it should not) fails what it was doing and is started again at the next write.
 */
class SqliteWriter {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve(reply: WriterReply & { ok: true }): void; reject(error: Error): void }>();
  private closing = false;

  constructor(private readonly options: WriterOptions) {}

  /** Starts the thread; resolves once its connection is open. */
  async start(): Promise<void> {
    await this.request((id) => ({ type: "ping", id }));
  }

  /** `PRAGMA quick_check` in the thread: its report. */
  async check(): Promise<string[]> {
    return (await this.request((id) => ({ type: "check", id }))).report ?? [];
  }

  /** Sends a delta: `stage` sends its rows and returns the commit. Resolves once the thread committed. */
  async write(stage: (send: (request: WriterRequest) => void) => Promise<Omit<CommitRequest, "type" | "id">>): Promise<void> {
    const worker = this.running();
    worker.postMessage({ type: "begin" } satisfies WriterRequest);
    const commit = await stage((request) => worker.postMessage(request));
    await this.request((id) => ({ type: "commit", id, ...commit }));
  }

  async close(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
    this.closing = true;
    worker.ref();
    worker.postMessage({ type: "close" } satisfies WriterRequest);
    await exited;
  }

  private request(make: (id: number) => WriterRequest): Promise<WriterReply & { ok: true }> {
    const id = ++this.nextId;
    const worker = this.running();
    const done = new Promise<WriterReply & { ok: true }>((resolve, reject) => this.waiting.set(id, { resolve, reject }));
    // An idle writer does not keep the process alive; one with a reply due does (the final snapshot runs after the
    // server has stopped listening, when nothing else may be left).
    worker.ref();
    worker.postMessage(make(id));
    return done;
  }

  private running(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WRITER_BOOTSTRAP, { eval: true, workerData: this.options });
    worker.unref();
    worker.on("message", (reply: WriterReply) => {
      const waiter = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
      if (this.waiting.size === 0 && !this.closing) worker.unref();
      if (reply.ok) waiter?.resolve(reply);
      else waiter?.reject(Object.assign(new Error(reply.message), reply.code ? { code: reply.code } : {}));
    });
    const fail = (error: Error) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      for (const waiter of this.waiting.values()) waiter.reject(error);
      this.waiting.clear();
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`the SQLite writer thread exited (code ${code})`)));
    this.worker = worker;
    return worker;
  }
}

/**
 * The writer thread's entry. Pulse runs from TypeScript sources through tsx, and a worker does not inherit the
 * loader hooks of `--import tsx`: register tsx in the thread, then load the module (a `.js` build loads it as is).
 */
const WRITER_MODULE = new URL(`./sqlite-writer${extname(fileURLToPath(import.meta.url))}`, import.meta.url).href;
const WRITER_BOOTSTRAP = WRITER_MODULE.endsWith(".ts")
  ? `import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))}).then(({ register }) => { register(); return import(${JSON.stringify(WRITER_MODULE)}); })`
  : `import(${JSON.stringify(WRITER_MODULE)})`;

/** Rows read per statement while restoring, with a turn of the event loop between pages (`/healthz` keeps answering). */
const RESTORE_PAGE_ROWS = 1000;
const EVENT_COLUMNS = `seq, id, event, "distinctId", timestamp, "receivedAt", properties, "sessionId", environment`;

/**
 * Reads the snapshot with plain prepared statements on a read-only connection of its own, in one read transaction
 * (one consistent view of the three tables), events oldest first in pages of RESTORE_PAGE_ROWS. Each row becomes the
 * hub's event directly: the Prisma client built two objects per row plus a Date per time and a BigInt per position,
 * and materialized all of them at once, which for a million buffered events was most of a 62 s restore (41 % of it
 * garbage collection).
 */
async function readSnapshot(db: Database.Database, limits: { readonly events: number; readonly persons: number }): Promise<Snapshot> {
  const decode = new RowDecoder();
  db.exec("BEGIN");
  const state = db.prepare(`SELECT "evictedThroughSeq", "takenAt", "cleanStop" FROM snapshot_state WHERE id = 1`).raw().get() as
    [number, string | number, number] | undefined;
  // The newest event a smaller buffer leaves out: everything at or below it counts as evicted.
  const left =
    (db.prepare("SELECT seq FROM events ORDER BY seq DESC LIMIT 1 OFFSET ?").pluck().get(limits.events) as number | undefined) ?? 0;
  const page = db.prepare(`SELECT ${EVENT_COLUMNS} FROM events WHERE seq > ? ORDER BY seq LIMIT ${RESTORE_PAGE_ROWS}`).raw();
  const events: StoredEvent[] = [];
  for (let after = left; ;) {
    const rows = page.all(after) as EventColumns[];
    for (const row of rows) events.push(decode.event(row));
    if (rows.length < RESTORE_PAGE_ROWS) break;
    after = rows[rows.length - 1]![0];
    await yieldToEventLoop();
  }
  const newestPersons = db
    .prepare(`SELECT "distinctId", properties, "firstSeen", "lastSeen" FROM persons ORDER BY "lastSeen" DESC LIMIT ?`)
    .raw()
    .all(limits.persons) as PersonColumns[];
  db.exec("COMMIT");
  const persons: Person[] = [];
  for (let i = newestPersons.length - 1; i >= 0; i--) persons.push(decode.person(newestPersons[i]!));
  return {
    events,
    evictedThroughSeq: Math.max(state ? Number(state[0]) : 0, left),
    persons,
    takenAt: state ? decode.time(state[1]) : null,
    cleanStop: state ? Number(state[2]) !== 0 : null,
  };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

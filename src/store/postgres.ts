// The PostgreSQL snapshot store, for a fleet of Pulse instances sharing one database (DATABASE_URL=postgresql://...).
// Its schema, migrations and generated client are under prisma/postgresql/ (one Prisma schema has one provider).
//
// One writer: every instance of a fleet applies the same shared stream (Redis), so they all hold the same events and
// any one of them can write the snapshot; the others only read it when they start. The writer is whoever holds a
// session advisory lock, on a connection of its own kept for the process's life. Why a lock rather than rows per
// instance: per-instance rows would store every event once per instance and need a rule for which copy a new
// instance restores; with one writer there is one snapshot, written once, and a failed writer is replaced as soon as
// PostgreSQL sees its connection end (a killed process's socket closes at once). Each write also checks, in its own
// transaction, that the lock is still held by this instance's lock connection, so a writer that lost its connection
// (and so its lock) stops writing even before it notices.
//
// Reads and writes go through Prisma with @prisma/adapter-pg; the lock needs one fixed session, which Prisma's pool
// does not give, so it is a plain `pg` client.
import { randomUUID } from "node:crypto";
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { PrismaClient } from "../generated/prisma-pg/client.ts";
import { silentLogger, type Logger } from "../telemetry/logger.ts";
import { postgresTarget, type PostgresTarget } from "./database-url.ts";
import { planMigrations, readMigrations, type AppliedMigration, type Migration } from "./migrations.ts";
import { PersonsTrim, snapshotFromRecords } from "./rows.ts";
import {
  StoreUnreachableError,
  StoreUnusableError,
  type Snapshot,
  type StoreOptions,
  type SnapshotDelta,
  type SnapshotStore,
  type WriterClaim,
} from "./snapshot-store.ts";

/** The committed migrations of the PostgreSQL schema (prisma/postgresql/schema.prisma). */
export const POSTGRES_MIGRATIONS = new URL("../../prisma/postgresql/migrations/", import.meta.url);

/** Rows per INSERT statement (one array parameter per column). */
const ROWS_PER_STATEMENT = 1000;
/** A snapshot write that takes longer than this is rolled back and retried (a lock held by someone else, a hung server). */
const WRITE_TIMEOUT_MS = 60_000;
/** Connecting (start, and the lock connection after a loss) gives up after this. */
const CONNECT_TIMEOUT_MS = 5_000;
/** The first key of Pulse's advisory locks ("PULS"); the second is derived from the schema, so fleets in different schemas of one database do not contend. */
const LOCK_CLASS = 0x50554c53;

/**
 * Opens and migrates a PostgreSQL snapshot store (creating the schema of `?schema=` if missing). Throws
 * `StoreUnusableError` for a database Pulse must not use (newer schema, failed migration, tables that are not
 * Pulse's), `StoreUnreachableError` when the server cannot be reached.
 */
export async function openPostgresStore(url: string, options: StoreOptions = {}): Promise<SnapshotStore> {
  const log = options.log ?? silentLogger();
  const target = postgresTarget(url);
  const connection = connectionConfig(target);
  const lock = new WriterLock(connection, writerLockKey(target.schema));
  try {
    await migratePostgres(connection, target, options.migrations ?? readMigrations(POSTGRES_MIGRATIONS), log);
  } catch (error) {
    if (error instanceof StoreUnusableError) throw error;
    if (isUnreachable(error)) {
      throw new StoreUnreachableError(`Cannot reach the database ${target.description}: ${messageOf(error)}`, { cause: error });
    }
    throw new StoreUnusableError(`Cannot open or migrate the database ${target.description}: ${messageOf(error)}`, { cause: error });
  }
  const prisma = new PrismaClient({
    adapter: new PrismaPg({ ...connection, max: 4 }, { schema: target.schema }),
    transactionOptions: { timeout: WRITE_TIMEOUT_MS, maxWait: CONNECT_TIMEOUT_MS },
  });
  try {
    await prisma.$connect();
  } catch (error) {
    await prisma.$disconnect();
    throw new StoreUnusableError(`Cannot open the database ${target.description}: ${messageOf(error)}`, { cause: error });
  }
  return new PostgresSnapshotStore(prisma, lock, target.description);
}

/**
 * Applies the pending migrations in one transaction, each recorded in `_prisma_migrations` as `prisma migrate
 * deploy` records it. A transaction-level advisory lock makes instances that start together migrate one at a time.
 */
export async function migratePostgres(
  connection: pg.ClientConfig,
  target: PostgresTarget,
  migrations: readonly Migration[],
  log: Logger = silentLogger(),
): Promise<void> {
  const client = new pg.Client(connection);
  client.on("error", () => {});
  await client.connect();
  try {
    await client.query("BEGIN");
    await client.query("SELECT pg_advisory_xact_lock($1, $2)", [LOCK_CLASS, lockKey(target.schema, "migrate")]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(target.schema)}`);
    const { rows: tables } = await client.query<{ name: string }>(
      "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name",
      [target.schema],
    );
    const names = tables.map((t) => t.name);
    if (names.length > 0 && !names.includes("_prisma_migrations")) {
      throw new StoreUnusableError(
        `The database ${target.description} has tables (${names.slice(0, 5).join(", ")}) but no migration history: ` +
          `it is not a Pulse database. Set DATABASE_URL to an empty database or add ?schema=<a new schema>.`,
      );
    }
    await client.query(PRISMA_MIGRATIONS_TABLE);
    const { rows: applied } = await client.query<AppliedMigration>(
      `SELECT migration_name AS name, checksum, finished_at AS "finishedAt", rolled_back_at AS "rolledBackAt"
       FROM "_prisma_migrations" ORDER BY started_at`,
    );
    const plan = planMigrations(migrations, applied, target.description);
    for (const migration of plan.pending) {
      const startedAt = new Date();
      await client.query(migration.sql);
      await client.query(
        `INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count)
         VALUES ($1, $2, now(), $3, NULL, NULL, $4, 1)`,
        [randomUUID(), migration.checksum, migration.name, startedAt],
      );
    }
    await client.query("COMMIT");
    for (const warning of plan.warnings) log.warn({ store: target.description }, warning);
    if (plan.pending.length > 0) log.info({ store: target.description, migrations: plan.pending.map((m) => m.name) }, "migrations applied");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Prisma's own definition (what `prisma migrate deploy` creates on PostgreSQL), so the CLI reads our rows. */
const PRISMA_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

class PostgresSnapshotStore implements SnapshotStore {
  private readonly personsTrim = new PersonsTrim();

  constructor(
    private readonly prisma: PrismaClient,
    private readonly lock: WriterLock,
    readonly description: string,
  ) {}

  async load(limits: { readonly events: number; readonly persons: number }): Promise<Snapshot> {
    // One consistent view of the three tables while the writer (another instance) may be committing.
    const [state, events, persons] = await this.prisma.$transaction(
      [
        this.prisma.snapshotState.findUnique({ where: { id: 1 } }),
        this.prisma.event.findMany({ orderBy: { seq: "desc" }, take: limits.events + 1 }),
        this.prisma.person.findMany({ orderBy: { lastSeen: "desc" }, take: limits.persons }),
      ],
      { isolationLevel: "RepeatableRead" },
    );
    return snapshotFromRecords(state, events, persons, limits);
  }

  async claimWriter(): Promise<WriterClaim> {
    if (await this.lock.claim()) return { writer: true };
    const state = await this.prisma.snapshotState.findUnique({ where: { id: 1 }, select: { takenAt: true } });
    return { writer: false, storedAt: state ? state.takenAt.getTime() : null };
  }

  async write(delta: SnapshotDelta): Promise<void> {
    // The snapshotter claims before it writes; a write without a claim (tests, tools) claims here.
    if (this.lock.pid === null && !(await this.lock.claim())) {
      throw new Error("another instance holds the snapshot writer lock: this one must not write");
    }
    const lockPid = this.lock.pid!;
    const trim = this.personsTrim.due(delta.persons.length, delta.personsMax);
    await this.prisma.$transaction(async (tx) => {
      // Fencing: the lock lives on another connection, which may have dropped (and the lock with it) since the claim.
      const held = await tx.$queryRawUnsafe<{ held: boolean }[]>(
        `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = $1::oid AND objid = $2::oid
           AND objsubid = 2 AND pid = $3 AND granted) AS held`,
        LOCK_CLASS,
        this.lock.key,
        lockPid,
      );
      if (!held[0]?.held) throw new Error("the snapshot writer lock was lost (its connection ended); another instance may write now");
      for (let i = 0; i < delta.appended.length; i += ROWS_PER_STATEMENT) {
        const rows = delta.appended.slice(i, i + ROWS_PER_STATEMENT);
        await tx.$executeRawUnsafe(
          `INSERT INTO events (seq, id, event, "distinctId", timestamp, "receivedAt", properties, "sessionId", environment)
           SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[], $7::text[], $8::text[], $9::text[])
           ON CONFLICT (seq) DO UPDATE SET id = excluded.id, event = excluded.event, "distinctId" = excluded."distinctId",
             timestamp = excluded.timestamp, "receivedAt" = excluded."receivedAt", properties = excluded.properties,
             "sessionId" = excluded."sessionId", environment = excluded.environment`,
          rows.map((e) => String(e.seq)),
          rows.map((e) => e.id),
          rows.map((e) => e.event),
          rows.map((e) => e.distinctId),
          rows.map((e) => isoTime(e.timestamp)),
          rows.map((e) => isoTime(e.receivedAt)),
          rows.map((e) => JSON.stringify(e.properties)),
          rows.map((e) => e.sessionId),
          rows.map((e) => e.environment),
        );
      }
      // Eviction is first in, first out: everything at or below the evicted position goes.
      await tx.$executeRawUnsafe("DELETE FROM events WHERE seq <= $1::bigint", String(delta.evictedThroughSeq));
      for (let i = 0; i < delta.persons.length; i += ROWS_PER_STATEMENT) {
        const rows = delta.persons.slice(i, i + ROWS_PER_STATEMENT);
        await tx.$executeRawUnsafe(
          `INSERT INTO persons ("distinctId", properties, "firstSeen", "lastSeen")
           SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[])
           ON CONFLICT ("distinctId") DO UPDATE SET properties = excluded.properties, "firstSeen" = excluded."firstSeen",
             "lastSeen" = excluded."lastSeen"`,
          rows.map((p) => p.distinctId),
          rows.map((p) => JSON.stringify(p.properties)),
          rows.map((p) => isoTime(p.firstSeen)),
          rows.map((p) => isoTime(p.lastSeen)),
        );
      }
      if (trim) {
        await tx.$executeRawUnsafe(
          `DELETE FROM persons WHERE "lastSeen" < (SELECT "lastSeen" FROM persons ORDER BY "lastSeen" DESC LIMIT 1 OFFSET $1)`,
          delta.personsMax - 1,
        );
      }
      await tx.$executeRawUnsafe(
        `INSERT INTO snapshot_state (id, "evictedThroughSeq", "takenAt", "cleanStop") VALUES (1, $1::bigint, $2::timestamptz, $3)
         ON CONFLICT (id) DO UPDATE SET "evictedThroughSeq" = excluded."evictedThroughSeq", "takenAt" = excluded."takenAt",
           "cleanStop" = excluded."cleanStop"`,
        String(delta.evictedThroughSeq),
        isoTime(delta.takenAt),
        delta.cleanStop,
      );
    });
    this.personsTrim.written(delta.persons.length, trim);
  }

  async close(): Promise<void> {
    await this.prisma.$disconnect();
    // Last: ending the lock's connection hands the writer's role to another instance.
    await this.lock.close();
  }
}

/**
 * The session advisory lock that makes one instance the writer, on a connection of its own. When that connection
 * ends, PostgreSQL releases the lock: the next claim opens a new connection and tries again.
 */
class WriterLock {
  private client: pg.Client | undefined;
  private connecting: Promise<pg.Client> | undefined;
  private held = false;
  private backendPid: number | null = null;
  private closed = false;

  constructor(
    private readonly connection: pg.ClientConfig,
    readonly key: number,
  ) {}

  /** The server process id of the lock's connection while this instance holds the lock, else null. */
  get pid(): number | null {
    return this.held ? this.backendPid : null;
  }

  /** Takes the lock if it is free (never waits for it); true while this instance holds it. */
  async claim(): Promise<boolean> {
    if (this.closed) return false;
    if (this.held && this.client) return true;
    const client = this.client ?? (await (this.connecting ??= this.connect().finally(() => (this.connecting = undefined))));
    const { rows } = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1, $2) AS ok", [LOCK_CLASS, this.key]);
    this.held = this.client === client && rows[0]!.ok;
    return this.held;
  }

  private async connect(): Promise<pg.Client> {
    const client = new pg.Client(this.connection);
    const lost = () => {
      if (this.client !== client) return;
      this.client = undefined;
      this.held = false;
      this.backendPid = null;
    };
    client.on("error", lost);
    client.on("end", lost);
    await client.connect();
    const { rows } = await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
    this.backendPid = rows[0]!.pid;
    if (this.closed) {
      await client.end().catch(() => {});
      throw new Error("closed");
    }
    this.client = client;
    return client;
  }

  async close(): Promise<void> {
    this.closed = true;
    const client = this.client;
    this.client = undefined;
    this.held = false;
    await client?.end().catch(() => {});
  }
}

/** The `pg` settings of a target: its URL, and every connection's search path set to its schema (Pulse's own SQL is unqualified). */
function connectionConfig(target: PostgresTarget): pg.ClientConfig {
  return {
    connectionString: target.connectionString,
    options: `-c search_path=${quoteIdentifier(target.schema)}`,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    // A lock connection cut by the network (not closed) is noticed by keepalive rather than never.
    keepAlive: true,
  };
}

/**
 * The advisory lock (`pg_try_advisory_lock(LOCK_CLASS, key)`) whose holder writes the snapshots of `schema`: for
 * operators, `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = 1347767379 AND objid = <key>`
 * finds the writer's connection.
 */
export function writerLockKey(schema: string): number {
  return lockKey(schema, "writer");
}

/** The second advisory-lock key of a schema and a purpose: a positive int4 (FNV-1a). */
function lockKey(schema: string, purpose: "writer" | "migrate"): number {
  let hash = 0x811c9dc5;
  for (const char of `${schema}:${purpose}`) hash = Math.imul(hash ^ char.charCodeAt(0), 0x01000193);
  return (hash >>> 0) & 0x7fffffff;
}

function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * A failure to reach the server rather than one of the database itself: network errors, a connect timeout, and
 * PostgreSQL's "cannot connect now" / "too many connections" / admin shutdown (SQLSTATE 57P01-57P03, 53300).
 */
function isUnreachable(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === "string" && (/^E[A-Z]+$/.test(code) || ["57P01", "57P02", "57P03", "53300"].includes(code))) return true;
  return typeof message === "string" && /timeout|terminated unexpectedly|Connection terminated/i.test(message);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

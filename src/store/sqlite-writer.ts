/**
 * The SQLite snapshot writer, run in a worker thread (see sqlite.ts for why). It stages the rows of one delta as they
 * arrive and applies them in one synchronous transaction on `commit`: either all of the delta is stored or none of
 * it. The WAL checkpoints that follow commits also run here, off the main thread.
 */
import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";

export interface WriterOptions {
  readonly path: string;
  /** How long a statement waits for another connection's lock. Blocks only this thread. */
  readonly busyTimeoutMs: number;
}

/**
 * An event row: seq, id, event, distinctId, timestamp, receivedAt (epoch ms; written as Prisma's DATETIME text by
 * this thread, not the event loop), properties (JSON), sessionId, environment.
 */
export type EventRow = [number, string, string, string, number, number, string, string | null, string];
/** A person row: distinctId, properties (JSON), firstSeen, lastSeen (epoch ms). */
export type PersonRow = [string, string, number, number];

/** Applies the staged rows, removes events at or below `evictedThroughSeq`, saves the state; replies with `id`. */
export interface CommitRequest {
  readonly type: "commit";
  readonly id: number;
  readonly evictedThroughSeq: number;
  /** Epoch ms. */
  readonly takenAt: number;
  readonly cleanStop: boolean;
  /** Trim persons to this many most recently seen, or null to skip. */
  readonly keepPersons: number | null;
}

export type WriterRequest =
  /** Starts staging a delta (dropping anything staged and never committed). */
  | { readonly type: "begin" }
  | { readonly type: "events"; readonly rows: EventRow[] }
  | { readonly type: "persons"; readonly rows: PersonRow[] }
  | CommitRequest
  /** Replies with `id`: the connection is open. */
  | { readonly type: "ping"; readonly id: number }
  /** Runs `PRAGMA quick_check` and replies with its report (`["ok"]` for an undamaged file). */
  | { readonly type: "check"; readonly id: number }
  | { readonly type: "close" };

export type WriterReply =
  | { readonly id: number; readonly ok: true; readonly report?: string[] }
  | { readonly id: number; readonly ok: false; readonly message: string; readonly code?: string };

/** The DATETIME text Prisma writes and reads on SQLite (`2026-01-01T12:00:00.000+00:00`); a batch shares one receive time. */
class TimeText {
  private lastMs = Number.NaN;
  private lastText = "";

  of(ms: number): string {
    if (ms !== this.lastMs) {
      this.lastText = new Date(ms).toISOString().replace("Z", "+00:00");
      this.lastMs = ms;
    }
    return this.lastText;
  }
}

const port = parentPort;
if (port) {
  const { path, busyTimeoutMs } = workerData as WriterOptions;
  const db = new Database(path, { timeout: busyTimeoutMs });
  // Per connection. FULL syncs the WAL at each commit: one fsync per snapshot, so a power cut, not only a crash,
  // loses at most one interval.
  db.pragma("synchronous = FULL");
  const insertEvent = db.prepare(
    `INSERT INTO events (seq, id, event, "distinctId", timestamp, "receivedAt", properties, "sessionId", environment)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (seq) DO UPDATE SET id = excluded.id, event = excluded.event, "distinctId" = excluded."distinctId",
       timestamp = excluded.timestamp, "receivedAt" = excluded."receivedAt", properties = excluded.properties,
       "sessionId" = excluded."sessionId", environment = excluded.environment`,
  );
  // Eviction is first in, first out: everything at or below the evicted position goes.
  const evict = db.prepare("DELETE FROM events WHERE seq <= ?");
  const upsertPerson = db.prepare(
    `INSERT INTO persons ("distinctId", properties, "firstSeen", "lastSeen") VALUES (?, ?, ?, ?)
     ON CONFLICT ("distinctId") DO UPDATE SET properties = excluded.properties, "firstSeen" = excluded."firstSeen",
       "lastSeen" = excluded."lastSeen"`,
  );
  const trimPersons = db.prepare(
    `DELETE FROM persons WHERE "lastSeen" < (SELECT "lastSeen" FROM persons ORDER BY "lastSeen" DESC LIMIT 1 OFFSET ?)`,
  );
  const saveState = db.prepare(
    `INSERT INTO snapshot_state (id, "evictedThroughSeq", "takenAt", "cleanStop") VALUES (1, ?, ?, ?)
     ON CONFLICT (id) DO UPDATE SET "evictedThroughSeq" = excluded."evictedThroughSeq", "takenAt" = excluded."takenAt",
       "cleanStop" = excluded."cleanStop"`,
  );

  let events: EventRow[][] = [];
  let persons: PersonRow[][] = [];
  const time = new TimeText();
  const apply = db.transaction((commit: CommitRequest) => {
    for (const rows of events) {
      for (const [seq, id, event, distinctId, timestamp, receivedAt, properties, sessionId, environment] of rows) {
        insertEvent.run(BigInt(seq), id, event, distinctId, time.of(timestamp), time.of(receivedAt), properties, sessionId, environment);
      }
    }
    evict.run(BigInt(commit.evictedThroughSeq));
    for (const rows of persons) {
      for (const [distinctId, properties, firstSeen, lastSeen] of rows)
        upsertPerson.run(distinctId, properties, time.of(firstSeen), time.of(lastSeen));
    }
    if (commit.keepPersons !== null) trimPersons.run(commit.keepPersons - 1);
    saveState.run(BigInt(commit.evictedThroughSeq), time.of(commit.takenAt), commit.cleanStop ? 1 : 0);
  });

  port.on("message", (request: WriterRequest) => {
    switch (request.type) {
      case "begin":
        events = [];
        persons = [];
        return;
      case "events":
        events.push(request.rows);
        return;
      case "persons":
        persons.push(request.rows);
        return;
      case "commit": {
        let reply: WriterReply;
        try {
          apply(request);
          reply = { id: request.id, ok: true };
        } catch (error) {
          const { message, code } = error as { message?: string; code?: unknown };
          reply = { id: request.id, ok: false, message: String(message ?? error), ...(typeof code === "string" ? { code } : {}) };
        }
        events = [];
        persons = [];
        port.postMessage(reply);
        return;
      }
      case "ping":
        port.postMessage({ id: request.id, ok: true } satisfies WriterReply);
        return;
      case "check": {
        let reply: WriterReply;
        try {
          const report = (db.pragma("quick_check(3)") as { quick_check: string }[]).flatMap((row) => row.quick_check.split("\n"));
          reply = { id: request.id, ok: true, report };
        } catch (error) {
          const { message, code } = error as { message?: string; code?: unknown };
          reply = { id: request.id, ok: false, message: String(message ?? error), ...(typeof code === "string" ? { code } : {}) };
        }
        port.postMessage(reply);
        return;
      }
      case "close":
        db.close();
        port.close();
        return;
    }
  });
}

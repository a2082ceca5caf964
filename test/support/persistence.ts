/**
 * Fixtures of the persistence tests (snapshots in SQLite and PostgreSQL, restarts, kill -9): events that build up
 * persons and sessions (`visit`), the whole live state a user sees (`LIVE_VIEW`, compared across a restart), the
 * snapshot counters, and real database trouble (`holdWriteLock`). Servers, processes and clients come from the
 * shared harness (./server.ts, ./process.ts, ./clients.ts).
 */
import { randomUUID } from "node:crypto";
import { closeSync, openSync, writeSync } from "node:fs";
import Database from "better-sqlite3";
import { openSqliteStore } from "../../src/store/sqlite.ts";
import { gqlData } from "./clients.ts";
import { onCleanup } from "./cleanup.ts";
import { EVENT_FIELDS, type CaptureInput } from "./events.ts";
import { recordingLogger } from "./logs.ts";
import { waitFor } from "./wait.ts";

/** An event with a fresh id from one of a few users, each with a session and a page: every fifth a signup, all setting person properties. */
export function visit(n: number, environment = "production"): CaptureInput {
  const user = n % 7;
  return {
    id: randomUUID(),
    event: n % 5 === 0 ? "signup" : "$pageview",
    distinctId: `user-${user}`,
    environment,
    properties: {
      n,
      $current_url: `https://shop.example/p/${n % 11}`,
      $session_id: `session-${user}`,
      $set: { plan: n % 2 === 0 ? "pro" : "free", lastN: n },
      $set_once: { firstN: n },
    },
  };
}

/** Everything a user sees of the live state: compared before and after a restart. */
export const LIVE_VIEW = `{
  recentEvents(limit: 500) { ${EVENT_FIELDS} }
  liveUsers { count users(limit: 100) { distinctId sessionId currentUrl lastSeen person { properties firstSeen lastSeen } } }
  liveDashboard { liveUsers eventsPerMinute { event count } topPages { path count } recentEvents(limit: 20) { id cursor } }
  staging: liveUsers(environment: "staging") { count }
}`;

export interface SnapshotMetrics {
  snapshotFailures: number;
  lastSnapshotAt: string | null;
  bufferedEvents: number;
}

export async function snapshotMetrics(baseUrl: string): Promise<SnapshotMetrics> {
  const data = await gqlData<{ realtimeMetrics: SnapshotMetrics }>(
    baseUrl,
    "{ realtimeMetrics { snapshotFailures lastSnapshotAt bufferedEvents } }",
  );
  return data.realtimeMetrics;
}

/** Waits until a snapshot completed that reflects a moment after `since` (epoch ms): everything captured before is stored. */
export async function waitForSnapshotAfter(baseUrl: string, since: number): Promise<void> {
  await waitFor(
    async () => {
      const { lastSnapshotAt } = await snapshotMetrics(baseUrl);
      return lastSnapshotAt !== null && Date.parse(lastSnapshotAt) > since;
    },
    { what: `a snapshot taken after ${new Date(since).toISOString()}`, timeoutMs: 15_000 },
  );
}

/**
 * Another connection holding SQLite's write lock (`BEGIN EXCLUSIVE`): real database trouble, which file
 * permissions cannot produce for tests running as root. Released after the test at the latest. Taken without
 * SQLite's busy wait, which would block this process's event loop, and with it an in-process server that is
 * half-way through a snapshot: the lock would never come free.
 */
export async function holdWriteLock(path: string): Promise<{ release(): void }> {
  const db = new Database(path, { timeout: 0 });
  await waitFor(
    () => {
      try {
        db.exec("BEGIN EXCLUSIVE");
        return true;
      } catch (error) {
        if ((error as { code?: string }).code !== "SQLITE_BUSY") throw error;
        return false;
      }
    },
    { what: "the write lock", timeoutMs: 15_000 },
  );
  let held = true;
  const release = () => {
    if (!held) return;
    held = false;
    db.exec("ROLLBACK");
    db.close();
  };
  onCleanup(release);
  return { release };
}

/**
 * A Pulse SQLite file holding a snapshot of 300 events (a few dozen pages), then damaged as a failing disk or a
 * half-finished copy leaves it: garbage over pages 3 to 6, the header and schema page intact.
 */
export async function writeDamagedDatabase(path: string): Promise<void> {
  const store = await openSqliteStore(`file:${path}`, { log: recordingLogger() });
  const now = Date.now();
  await store.write({
    appended: Array.from({ length: 300 }, (_, i) => ({
      seq: i + 1,
      id: randomUUID(),
      event: "$pageview",
      distinctId: `user-${i}`,
      timestamp: now,
      receivedAt: now,
      properties: { text: "x".repeat(200) },
      sessionId: null,
      environment: "production",
    })),
    evictedThroughSeq: 0,
    persons: [],
    personsMax: 100,
    takenAt: now,
    cleanStop: true,
  });
  await store.close();
  const pageSize = 4096;
  const file = openSync(path, "r+");
  try {
    writeSync(file, Buffer.alloc(4 * pageSize, 0xde), 0, 4 * pageSize, 2 * pageSize);
  } finally {
    closeSync(file);
  }
}

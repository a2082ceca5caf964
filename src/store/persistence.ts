import type { Hub } from "../domain/hub.ts";
import type { Logger } from "../telemetry/logger.ts";
import { databaseEngine } from "./database-url.ts";
import { openPostgresStore } from "./postgres.ts";
import { StoreUnusableError, type SnapshotStore } from "./snapshot-store.ts";
import { openSqliteStore } from "./sqlite.ts";
import { Snapshotter, type SnapshotMetrics, type SnapshotStatus } from "./snapshotter.ts";

/** A running persistence: the store and its snapshotter. */
export interface Persistence {
  readonly status: SnapshotStatus;
  /** The snapshot restored at start: its newest position and the in-memory time it reflects; null if none. */
  readonly restored: { readonly position: number; readonly takenAt: number } | null;
  /** Writes a snapshot now (if this instance is the writer); rejects if the store fails. */
  snapshotNow(): Promise<void>;
  /** Writes the final snapshot and closes the store; rejects (after closing the store) if the final write fails. */
  close(): Promise<void>;
}

/**
 * Opens the snapshot store of `databaseUrl` (migrated, ready): `file:` is SQLite, `postgresql://` PostgreSQL. A SQLite
 * file's pages are checked while the snapshot is loaded (its `load` fails for a damaged file).
 */
export function openSnapshotStore(databaseUrl: string, log: Logger): Promise<SnapshotStore> {
  return databaseEngine(databaseUrl) === "postgresql"
    ? openPostgresStore(databaseUrl, { log })
    : openSqliteStore(databaseUrl, { log, checkWhileLoading: true });
}

/**
 * Opens the store, restores the hub from it (before the server serves) and starts snapshotting. Throws
 * `StoreUnusableError` when the database cannot be used; nothing is left open then.
 */
export async function startPersistence(options: {
  readonly hub: Hub;
  readonly databaseUrl: string;
  readonly intervalMs: number;
  readonly log: Logger;
  readonly metrics?: SnapshotMetrics & { snapshotRestored(takenAt: number): void };
  /**
   * This instance is one of a fleet sharing a stream (REDIS_URL): any instance may write the snapshot. Without one,
   * instances hold different events, so one whose database has another writer refuses to start rather than have
   * its events never stored.
   */
  readonly fleet?: boolean;
}): Promise<Persistence> {
  const { hub, databaseUrl, intervalMs, log, metrics } = options;
  const started = performance.now();
  const store = await openSnapshotStore(databaseUrl, log);
  let snapshotter: Snapshotter;
  let restored: Persistence["restored"] = null;
  try {
    if (!options.fleet && !(await store.claimWriter()).writer) {
      throw new StoreUnusableError(
        `Another Pulse instance writes snapshots to ${store.description}. Without REDIS_URL instances do not share ` +
          `their events, so each needs its own database; set REDIS_URL (the same for all) to run them as one fleet.`,
      );
    }
    const snapshot = await store.load({ events: hub.stream.capacity, persons: hub.personsCapacity });
    // A crash (no final snapshot) may have lost positions handed out after the snapshot. In a fleet the shared stream
    // owns positions and still has those events: nothing to skip there.
    const crashed = snapshot.cleanStop === false && !options.fleet;
    hub.restore(
      snapshot.events,
      snapshot.evictedThroughSeq,
      snapshot.persons,
      crashed ? { lostPositions: lostPositionsFor(intervalMs) } : {},
    );
    if (crashed) {
      const lastSnapshotAt = new Date(snapshot.takenAt!).toISOString();
      const nextPosition = hub.stream.lastPosition + 1;
      log.warn(
        { store: store.description, lastSnapshotAt, nextPosition },
        `the previous run did not stop cleanly: what it captured after its last snapshot (${lastSnapshotAt}) is lost; ` +
          `new positions start at ${nextPosition}, so cursors of lost events never point at new ones`,
      );
    }
    if (snapshot.takenAt !== null) {
      metrics?.snapshotRestored(snapshot.takenAt);
      restored = { position: hub.stream.lastPosition, takenAt: snapshot.takenAt };
    }
    snapshotter = new Snapshotter({ hub, store, intervalMs, evictedThroughSeq: snapshot.evictedThroughSeq, log, metrics });
    // Record at once that a Pulse runs on the store, so a crash before the first interval is recognised at the next
    // start. A database that fails here is retried by the snapshotter like any other failure.
    await snapshotter.snapshotNow().catch(() => {});
    const durationMs = Math.round(performance.now() - started);
    log.info(
      { store: store.description, events: snapshot.events.length, persons: snapshot.persons.length, durationMs, intervalMs },
      `restored ${snapshot.events.length} event(s) and ${snapshot.persons.length} person(s) in ${durationMs} ms`,
    );
  } catch (error) {
    await store.close();
    throw error;
  }
  return {
    status: snapshotter,
    restored,
    snapshotNow: () => snapshotter.snapshotNow(),
    async close() {
      try {
        await snapshotter.close();
      } finally {
        await store.close();
      }
    },
  };
}

/**
 * Positions skipped after a crash: more than one process captures within a snapshot interval (500,000 events a
 * second of interval, at least a million). Positions stay far below 2^53 however many crashes there are.
 */
export function lostPositionsFor(intervalMs: number): number {
  return Math.max(1_000_000, Math.ceil(intervalMs / 1000) * 500_000);
}

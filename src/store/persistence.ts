import type { Hub } from "../domain/hub.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { SnapshotStore } from "./snapshot-store.ts";
import { openSqliteStore } from "./sqlite.ts";
import { Snapshotter, type SnapshotMetrics, type SnapshotStatus } from "./snapshotter.ts";

/** A running persistence: the store and its snapshotter. */
export interface Persistence {
  readonly status: SnapshotStatus;
  /** Writes the final snapshot and closes the store; rejects (after closing the store) if the final write fails. */
  close(): Promise<void>;
}

/** Opens the snapshot store of `databaseUrl` (migrated, ready). One place to add engines (PostgreSQL). */
export function openSnapshotStore(databaseUrl: string, log: Logger): Promise<SnapshotStore> {
  return openSqliteStore(databaseUrl, { log });
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
}): Promise<Persistence> {
  const { hub, databaseUrl, intervalMs, log, metrics } = options;
  const started = performance.now();
  const store = await openSnapshotStore(databaseUrl, log);
  let snapshotter: Snapshotter;
  try {
    const snapshot = await store.load({ events: hub.options.bufferSize, persons: hub.options.personsCapacity });
    hub.restore(snapshot.events, snapshot.evictedThroughSeq, snapshot.persons);
    if (snapshot.takenAt !== null) metrics?.snapshotRestored(snapshot.takenAt);
    snapshotter = new Snapshotter({ hub, store, intervalMs, evictedThroughSeq: snapshot.evictedThroughSeq, log, metrics });
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
    async close() {
      try {
        await snapshotter.close();
      } finally {
        await store.close();
      }
    },
  };
}

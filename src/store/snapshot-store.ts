import type { StoredEvent } from "../domain/event.ts";
import type { Person } from "../domain/persons.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { Migration } from "./migrations.ts";

/** What a restart loads from the store. */
export interface Snapshot {
  /** The newest stored events (at most the `events` limit), oldest first. */
  readonly events: StoredEvent[];
  /**
   * Every position at or below this has left the buffer: the stored value, raised to the newest stored event left
   * out by the `events` limit (when PULSE_BUFFER_SIZE shrank since the snapshot was written).
   */
  readonly evictedThroughSeq: number;
  /** The most recently seen persons (at most the `persons` limit), least recently seen first. */
  readonly persons: Person[];
  /** The in-memory time the snapshot reflects (epoch ms); null for a store never written. */
  readonly takenAt: number | null;
  /**
   * Whether the run that wrote it stopped cleanly (its final snapshot); false after a crash, `kill -9` or power cut:
   * positions handed out after `takenAt` may have been lost. Null for a store never written.
   */
  readonly cleanStop: boolean | null;
}

/** What changed in memory since the previous snapshot: the store applies it atomically. */
export interface SnapshotDelta {
  /** Events appended since, oldest first, every one above `evictedThroughSeq`. May repeat events of a failed earlier write. */
  readonly appended: readonly StoredEvent[];
  /** Remove every stored event at or below this position. */
  readonly evictedThroughSeq: number;
  /** The current state of every person touched since. */
  readonly persons: readonly Person[];
  /** Persons to keep at most (PULSE_PERSONS_MAX): the least recently seen beyond it may be dropped. */
  readonly personsMax: number;
  /** The in-memory time this delta reflects (epoch ms). */
  readonly takenAt: number;
  /** The final snapshot of a clean stop; every other write records that a Pulse is running on the store. */
  readonly cleanStop: boolean;
}

/** What every engine's `open…Store` takes. */
export interface StoreOptions {
  readonly log?: Logger;
  /** Migrations to apply (tests); default the engine's committed ones. */
  readonly migrations?: readonly Migration[];
}

/** Whether this instance writes the snapshots (see `SnapshotStore.claimWriter`). */
export type WriterClaim =
  | { readonly writer: true }
  /** Another instance writes; `storedAt` is the in-memory time its newest snapshot reflects (null: none yet). */
  | { readonly writer: false; readonly storedAt: number | null };

/**
 * Where snapshots live: one implementation per engine (`sqlite.ts`, `postgres.ts`), all passing the same contract
 * tests (test/store/snapshot-store.test.ts). A store is opened migrated and ready; one write at a time (the
 * snapshotter guarantees it).
 */
export interface SnapshotStore {
  /** For logs and errors: the engine and where the data is, never a password. */
  readonly description: string;
  /**
   * Asks to be the instance that writes snapshots, and answers whether this one is. Instances of a fleet share one
   * stream (Redis), so they hold the same events: one of them writing is enough, and several would write every
   * event several times. SQLite: always this instance (a file belongs to one process). PostgreSQL: the holder of an
   * advisory lock; when its connection ends (the process stopped or died), another instance gets it at its next
   * claim. Rejects when the database cannot be reached.
   */
  claimWriter(): Promise<WriterClaim>;
  /** Reads the snapshot: the newest `events` events and the `persons` most recently seen persons. */
  load(limits: { readonly events: number; readonly persons: number }): Promise<Snapshot>;
  /**
   * Applies a delta in one transaction: after a crash the store holds either the previous snapshot or this one,
   * never a mix. Writes in chunks and yields to the event loop between them, so a large delta does not stall live
   * delivery. Rejects (and stores nothing) when the database fails; the caller keeps the delta and retries.
   */
  write(delta: SnapshotDelta): Promise<void>;
  /**
   * Rejects with `StoreReplacedError` when what the store writes to is no longer where it was opened (SQLite: the
   * file deleted or replaced while Pulse ran); resolves otherwise. Asked when a snapshot has nothing to write, so an
   * idle Pulse notices too. Optional: an engine whose storage cannot vanish under it need not have it.
   */
  verify?(): Promise<void>;
  close(): Promise<void>;
}

/**
 * What the store wrote to has gone: the SQLite file was deleted, or another file put in its place, while Pulse ran.
 * Snapshots since the last check reached a file nobody will read. The store reopens the configured place (creating
 * and migrating the file) before it rejects with this, or at its next write; the snapshotter then writes a full
 * snapshot, so everything in memory is stored again.
 */
export class StoreReplacedError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StoreReplacedError";
  }
}

/**
 * The database cannot be used at all (a schema from a newer Pulse, a failed migration, a file that is not a Pulse
 * database, a file that cannot be opened): Pulse refuses to start rather than serve without its snapshot.
 */
export class StoreUnusableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StoreUnusableError";
  }
}

/**
 * The database server cannot be reached at start (refused, timed out, unknown host, starting up): unlike
 * `StoreUnusableError` this may pass, so Pulse exits 1 and a supervisor's restart can succeed.
 */
export class StoreUnreachableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StoreUnreachableError";
  }
}

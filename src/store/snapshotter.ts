import type { StoredEvent } from "../domain/event.ts";
import type { Hub } from "../domain/hub.ts";
import type { Person } from "../domain/persons.ts";
import type { Logger } from "../telemetry/logger.ts";
import { StoreReplacedError, type SnapshotDelta, type SnapshotStore, type WriterClaim } from "./snapshot-store.ts";

/** What `realtimeMetrics` shows about snapshots. */
export interface SnapshotStatus {
  /** Snapshot writes that failed since start (each retry that fails counts). */
  readonly failures: number;
  /** The in-memory time (epoch ms) reflected by the newest snapshot this process completed; null before the first. */
  readonly lastSnapshotAt: number | null;
}

/** The status of a memory-only server: nothing is written, nothing fails. */
export const NO_SNAPSHOTS: SnapshotStatus = Object.freeze({ failures: 0, lastSnapshotAt: null });

/** Where the snapshotter reports to (PulseMetrics: pulse_snapshot_duration_seconds, _failures_total, _age_seconds). */
export interface SnapshotMetrics {
  /** A snapshot was written in `seconds`; it reflects the in-memory state at `at` (epoch ms). */
  snapshotWritten(seconds: number, at: number): void;
  /** Nothing had changed: the store is current as of `at` without a write. */
  snapshotUpToDate(at: number): void;
  snapshotFailed(): void;
  /** Whether this instance writes the snapshots (false: another instance of the fleet does). */
  snapshotWriter?(writer: boolean): void;
}

export interface SnapshotterOptions {
  readonly hub: Hub;
  readonly store: SnapshotStore;
  /** PULSE_SNAPSHOT_INTERVAL_MS: time between snapshots while the database works. */
  readonly intervalMs: number;
  /** The evicted-through position the hub was restored with. */
  readonly evictedThroughSeq: number;
  readonly log: Logger;
  readonly metrics?: SnapshotMetrics;
}

/** Retries of a failing database wait twice as long each time, up to 16 intervals or 30 s, whichever is less. */
const MAX_BACKOFF_INTERVALS = 16;
const MAX_BACKOFF_MS = 30_000;
/** The final snapshot at shutdown is tried this many times (a lock may be released a moment later). */
const FINAL_ATTEMPTS = 3;
const FINAL_RETRY_DELAY_MS = 250;

/**
 * Writes the hub's changes to the store every interval: the events appended since the last good snapshot, the new
 * evicted-through position (the store drops everything at or below it) and the persons those events touched, never
 * the whole buffer. It watches the hub through `observe()`, holding the hub's own event objects (no copies) and
 * persons' ids, and forgets a pending event as soon as the hub evicts it: what it holds is bounded by the buffer
 * even while the database is down.
 *
 * A failed write keeps the delta for the next attempt (retried with backoff) and never disturbs the hub: Pulse serves
 * from memory while the database is in trouble. `close()` writes a final snapshot and rejects if it fails.
 *
 * In a fleet sharing one PostgreSQL database, only the instance the store names the writer (`claimWriter`, asked
 * before every write) writes; the others follow, and the first to claim the role after the writer is gone writes a
 * full snapshot.
 */
export class Snapshotter implements SnapshotStatus {
  private readonly hub: Hub;
  private readonly store: SnapshotStore;
  private readonly intervalMs: number;
  private readonly log: Logger;
  private readonly metrics: SnapshotMetrics | undefined;
  /** Appended events not yet in a completed snapshot, oldest first, from index `head`. */
  private pending: StoredEvent[] = [];
  private head = 0;
  private readonly touchedPersons = new Set<string>();
  private evictedThroughSeq: number;
  /**
   * The evicted-through position of the last completed snapshot. Starts at the restored one: rows a smaller buffer
   * left out of the restore stay in the store (ignored by the next restore) until a snapshot has something to write.
   */
  private storedEvictedThroughSeq: number;
  private failuresInRow = 0;
  /** Another instance of the fleet writes the snapshots (see `follow`). */
  private following = false;
  /** The next write holds the whole buffer and every person (after following). */
  private fullPending = false;
  /** A write of this run has recorded in the store that a Pulse runs on it (`cleanStop` false). */
  private markedRunning = false;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private readonly unobserve: () => void;
  failures = 0;
  lastSnapshotAt: number | null = null;

  constructor(options: SnapshotterOptions) {
    this.hub = options.hub;
    this.store = options.store;
    this.intervalMs = options.intervalMs;
    this.log = options.log;
    this.metrics = options.metrics;
    this.evictedThroughSeq = options.evictedThroughSeq;
    this.storedEvictedThroughSeq = options.evictedThroughSeq;
    this.unobserve = this.hub.stream.observe({
      appended: (event) => {
        this.pending.push(event);
        this.touchedPersons.add(event.distinctId);
      },
      evicted: (event) => {
        this.evictedThroughSeq = event.seq;
        // An event evicted before it was written need not be written at all.
        while (this.head < this.pending.length && this.pending[this.head]!.seq <= event.seq) this.head++;
        if (this.head > 1024 && this.head * 2 > this.pending.length) {
          this.pending = this.pending.slice(this.head);
          this.head = 0;
        }
      },
    });
    this.schedule(this.intervalMs);
  }

  /**
   * Writes what changed now (waiting for a write in progress first). Resolves when it is stored; rejects if the
   * store fails, keeping the delta for the next attempt.
   */
  async snapshotNow(final = false): Promise<void> {
    while (this.inFlight) await this.inFlight.catch(() => {});
    const write = this.writeDelta(final);
    this.inFlight = write;
    try {
      await write;
    } finally {
      this.inFlight = undefined;
    }
  }

  /**
   * Stops the interval and writes a final snapshot (after the server has stopped capturing). A final write that
   * still fails after a few attempts is logged as an error and rejects: what was captured since the last good
   * snapshot is lost, and the caller should exit non-zero.
   */
  close(): Promise<void> {
    return (this.closing ??= (async () => {
      clearTimeout(this.timer);
      this.timer = undefined;
      try {
        for (let attempt = 1; ; attempt++) {
          try {
            await this.snapshotNow(true);
            return;
          } catch (error) {
            if (attempt >= FINAL_ATTEMPTS) {
              const lost = this.pending.length - this.head;
              if (lost === 0 && this.touchedPersons.size === 0 && !this.fullPending) {
                // Only the clean stop itself was left to record: nothing is lost, but the next start will take this
                // stop for a crash and skip positions (harmless to clients, who are told of a gap).
                this.log.warn(
                  { store: this.store.description, reason: messageOf(error) },
                  `could not record the clean stop in the store (nothing else was left to write); the next start will treat it as a crash: ${messageOf(error)}`,
                );
                return;
              }
              const since = this.lastSnapshotAt === null ? "" : ` (${new Date(this.lastSnapshotAt).toISOString()})`;
              this.log.error(
                { store: this.store.description, lostEvents: lost, reason: messageOf(error) },
                `FINAL SNAPSHOT FAILED: ${lost} event(s) captured since the last good snapshot${since} are lost: ${messageOf(error)}`,
              );
              throw error;
            }
            await new Promise((resolve) => setTimeout(resolve, FINAL_RETRY_DELAY_MS));
          }
        }
      } finally {
        this.unobserve();
      }
    })());
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => void this.tick(), delayMs);
    // The server keeps the process alive, not a pending snapshot.
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    this.timer = undefined;
    try {
      await this.snapshotNow();
    } catch {
      // Counted and logged by writeDelta.
    }
    if (this.closing) return;
    this.schedule(this.failuresInRow === 0 ? this.intervalMs : this.backoffMs());
  }

  private backoffMs(): number {
    const cap = Math.max(this.intervalMs, Math.min(MAX_BACKOFF_INTERVALS * this.intervalMs, MAX_BACKOFF_MS));
    return Math.min(this.intervalMs * 2 ** this.failuresInRow, cap);
  }

  /**
   * `final`: the last snapshot of a clean stop, recorded as such. Every other write records that a Pulse runs on
   * the store, the first one (right after the restore) included, even with nothing new to write.
   */
  private async writeDelta(final: boolean): Promise<void> {
    const takenAt = this.hub.clock.now();
    let claim: WriterClaim;
    try {
      claim = await this.store.claimWriter();
    } catch (error) {
      this.failed(error);
      throw error;
    }
    this.metrics?.snapshotWriter?.(claim.writer);
    if (!claim.writer) {
      this.follow(claim.storedAt);
      return;
    }
    if (this.following) {
      this.log.info({ store: this.store.description }, "this instance now writes the snapshots (it holds the writer lock)");
      this.following = false;
      // While following, this instance dropped what it captured (the writer stored it); what the previous writer
      // stored last is unknown, so the first snapshot holds the whole buffer and every person.
      this.fullPending = true;
    }
    const full = this.fullPending;
    const appended = full ? this.hub.stream.bufferedEvents() : this.head === 0 ? this.pending : this.pending.slice(this.head);
    const personIds = full ? null : [...this.touchedPersons];
    const evictedThroughSeq = this.evictedThroughSeq;
    const unchanged = !full && appended.length === 0 && personIds!.length === 0 && evictedThroughSeq === this.storedEvictedThroughSeq;
    if (unchanged && !final && this.markedRunning) {
      // Nothing to write: the store is current as of now, if it is still there.
      try {
        await this.store.verify?.();
      } catch (error) {
        this.failed(error);
        throw error;
      }
      this.lastSnapshotAt = takenAt;
      this.metrics?.snapshotUpToDate(takenAt);
      return;
    }
    // Cut: what arrives from now on goes to the next snapshot.
    this.dropPending();
    let persons: Person[];
    if (personIds === null) {
      persons = this.hub.views.allPersons();
    } else {
      persons = [];
      for (const id of personIds) {
        const person = this.hub.views.person(id);
        // A person the hub has dropped since (PULSE_PERSONS_MAX) is trimmed from the store by its own rule.
        if (person) persons.push(person);
      }
    }
    const delta: SnapshotDelta = { appended, evictedThroughSeq, persons, personsMax: this.hub.personsCapacity, takenAt, cleanStop: final };
    const started = performance.now();
    try {
      await this.store.write(delta);
    } catch (error) {
      // A full snapshot is simply tried again in full; a delta is put back in front of what arrived meanwhile.
      if (!full) this.restorePending(appended, personIds!);
      this.failed(error);
      throw error;
    }
    this.fullPending = false;
    this.markedRunning = true;
    const seconds = (performance.now() - started) / 1000;
    this.storedEvictedThroughSeq = evictedThroughSeq;
    this.lastSnapshotAt = takenAt;
    this.metrics?.snapshotWritten(seconds, takenAt);
    if (this.failuresInRow > 0) {
      this.log.info(
        {
          store: this.store.description,
          failuresInRow: this.failuresInRow,
          events: appended.length,
          durationMs: Math.round(seconds * 1000),
        },
        `snapshot succeeded again after ${this.failuresInRow} failure(s)`,
      );
    }
    this.failuresInRow = 0;
  }

  /**
   * Another instance of the fleet writes the snapshots: what this one holds is the same stream, stored by that
   * writer, so it is dropped rather than kept (memory stays bounded however long this instance follows). The age
   * of the snapshot is the writer's.
   */
  private follow(storedAt: number | null): void {
    if (!this.following) {
      this.log.info(
        { store: this.store.description },
        "another instance writes the snapshots (it holds the writer lock); this one follows",
      );
      this.following = true;
    }
    this.dropPending();
    this.failuresInRow = 0;
    if (storedAt !== null) {
      this.lastSnapshotAt = storedAt;
      this.metrics?.snapshotUpToDate(storedAt);
    }
  }

  /** Forgets the events and persons waiting for the next snapshot (taken into a delta, or stored by another writer). */
  private dropPending(): void {
    this.pending = [];
    this.head = 0;
    this.touchedPersons.clear();
  }

  private failed(error: unknown): void {
    // What the store held is gone (its file deleted): only everything in memory makes it whole again.
    if (error instanceof StoreReplacedError) this.fullPending = true;
    this.failures++;
    this.failuresInRow++;
    this.metrics?.snapshotFailed();
    this.log.warn(
      {
        store: this.store.description,
        failuresInRow: this.failuresInRow,
        failures: this.failures,
        keptEvents: this.fullPending ? this.hub.stream.size : this.pending.length - this.head,
        retryInMs: this.backoffMs(),
        reason: messageOf(error),
      },
      `snapshot failed (${this.failuresInRow} in a row); serving from memory, retrying: ${messageOf(error)}`,
    );
  }

  /** Puts a failed delta back in front of what arrived meanwhile, minus what the hub has evicted since. */
  private restorePending(appended: readonly StoredEvent[], personIds: readonly string[]): void {
    const kept = appended.filter((event) => event.seq > this.evictedThroughSeq);
    this.pending = kept.concat(this.head === 0 ? this.pending : this.pending.slice(this.head));
    this.head = 0;
    for (const id of personIds) this.touchedPersons.add(id);
    // Ids of persons the hub no longer holds would pile up during a long outage; they need no write.
    if (this.touchedPersons.size > 2 * this.hub.personsCapacity) {
      for (const id of this.touchedPersons) if (!this.hub.views.person(id)) this.touchedPersons.delete(id);
    }
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message.trim() : String(error);
}

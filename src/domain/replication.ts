import { newEventId } from "./ids.ts";
import { peekCursor } from "./cursor.ts";
import { PulseError } from "./errors.ts";
import type { CapturedEvent } from "./event.ts";
import type { EventLog } from "./event-log.ts";
import type { EventStream, StoreOutcome } from "./event-stream.ts";

/** Told after every store: what it stored and what it found duplicate (metrics). */
export type StoreListener = (outcome: { readonly accepted: number; readonly duplicates: number }) => void;

/** How long a capture waits to read its own write back from a shared stream before answering UNAVAILABLE. */
const OWN_WRITE_TIMEOUT_MS = 5000;
/** How long a resume waits for a cursor another instance issued before this one has read that far. */
const CURSOR_WAIT_MS = 2000;

/**
 * Where validated events are stored: straight into this process's stream, or, with a shared log (Redis, `useLog`),
 * appended to the log, whose reader applies every entry to the stream of each instance, this one included. It also
 * knows how far this instance has read (`reachPosition`), which a fleet needs to read its own writes and to resume
 * a cursor issued elsewhere. Every capture path stores through `store`, so none can skip the fleet's log.
 */
export class Replication {
  private log: EventLog | undefined;
  /** Captures and resumes waiting for a position the shared stream has not delivered here yet. */
  private positionWaiters: { seq: number; resolve: () => void }[] = [];
  private readonly listeners = new Set<StoreListener>();

  constructor(private readonly stream: EventStream) {
    stream.observe({ appended: (event) => this.reached(event.seq) });
  }

  /** Puts a shared log in front of the stream. Set before serving. */
  useLog(log: EventLog): void {
    this.log = log;
  }

  get shared(): boolean {
    return this.log !== undefined;
  }

  /** Stores validated events and resolves once this instance holds them (read your own writes). */
  async store(captured: readonly CapturedEvent[]): Promise<StoreOutcome> {
    const outcome = this.log ? await this.appendToLog(this.log, captured) : this.stream.append(captured);
    for (const listener of this.listeners) listener(outcome);
    return outcome;
  }

  private async appendToLog(log: EventLog, captured: readonly CapturedEvent[]): Promise<StoreOutcome> {
    const withIds = captured.map((input) => ({ ...input, id: input.id ?? newEventId() }));
    const appended = await log.append(withIds);
    const newest = Math.max(0, ...appended.map((a) => a.seq));
    if (!(await this.reachPosition(newest, OWN_WRITE_TIMEOUT_MS))) {
      throw new PulseError(
        "UNAVAILABLE",
        `stored at position ${newest} but not yet delivered back from the shared stream; retrying is safe`,
      );
    }
    const events = appended.map((a, i) => this.stream.byEventId(a.id) ?? { ...withIds[i]!, seq: a.seq });
    const duplicateIndexes = appended.flatMap((a, index) => (a.duplicate ? [index] : []));
    return { events, accepted: events.length - duplicateIndexes.length, duplicates: duplicateIndexes.length, duplicateIndexes };
  }

  /**
   * Resolves true once position `seq` has been applied here, false after `timeoutMs`. Across instances a position
   * may be known to the shared log before this instance has read it.
   */
  reachPosition(seq: number, timeoutMs: number): Promise<boolean> {
    if (seq <= this.stream.lastPosition) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = {
        seq,
        resolve: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
      const timer = setTimeout(() => {
        this.positionWaiters = this.positionWaiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      this.positionWaiters.push(waiter);
    });
  }

  /** With a shared log, a cursor issued by another instance may be ahead of this one: wait briefly for it. */
  async awaitCursor(cursor: string | null | undefined): Promise<void> {
    const seq = cursor == null ? null : peekCursor(cursor);
    if (seq !== null && this.log) await this.reachPosition(seq, CURSOR_WAIT_MS);
  }

  /** Calls `listener` after every store; returns the function that stops it. */
  observeStores(listener: StoreListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private reached(seq: number): void {
    if (this.positionWaiters.length === 0) return;
    const due = this.positionWaiters.filter((w) => w.seq <= seq);
    this.positionWaiters = this.positionWaiters.filter((w) => w.seq > seq);
    for (const waiter of due) waiter.resolve();
  }
}

import { newEventId } from "./ids.ts";
import { decodeCursor } from "./cursor.ts";
import { badInput } from "./errors.ts";
import type { CapturedEvent, StoredEvent } from "./event.ts";
import { SharedFilters, type EventFilter, type FilterLimits } from "./filter.ts";
import { RingBuffer } from "./ring-buffer.ts";
import { EventSubscriber } from "./subscriber.ts";
import { SubscriberIndex } from "./subscriber-index.ts";

export interface EventStreamOptions {
  /** Events kept in the ring buffer (PULSE_BUFFER_SIZE). */
  readonly bufferSize: number;
  /** Live events held per subscriber before it is ended with LAGGED (PULSE_SUBSCRIBER_QUEUE). */
  readonly subscriberQueue: number;
  /** Size bounds on each filter of a query or subscription (PULSE_MAX_FILTER_*; DEFAULT_FILTER_LIMITS). */
  readonly filterLimits?: FilterLimits | undefined;
}

/** What one store did: for every input, in order, the stored event (the earlier one, for a duplicate). */
export interface StoreOutcome {
  readonly events: readonly StoredEvent[];
  readonly accepted: number;
  readonly duplicates: number;
  /** Where the duplicates are among the inputs (their `events` entry is the earlier event). */
  readonly duplicateIndexes: readonly number[];
}

export interface SubscribeOptions {
  readonly filter?: EventFilter | null;
  /** Resume after this cursor: every buffered matching event after it, then live ones. */
  readonly after?: string | null;
  /** Start with the newest N buffered matching events (oldest first), then live ones. */
  readonly replay?: number | null;
}

/**
 * Watches the stream in order: the live views index every event, the snapshot writer keeps what to store.
 * `restored` sees the events a snapshot brings back (never delivered to subscribers, never stored again).
 */
export interface StreamObserver {
  appended?(event: StoredEvent): void;
  evicted?(event: StoredEvent): void;
  restored?(event: StoredEvent): void;
}

/** Lost stretches a stream remembers (crashes, Redis resets, trimmed log entries): a handful in a process's life. */
const MAX_LOST_STRETCHES = 32;

/**
 * The ordered stream of events: positions, the ring buffer, duplicate ids and the `events` subscribers. It owns
 * all of them; the live views and the snapshot writer watch it (`observe`), replication feeds it (`apply`).
 * Everything here is synchronous, so a subscriber that registers between two events sees a consistent buffer: no
 * gap and no duplicate between its backlog and its live events. Validation is not its job: what reaches `append`
 * and `apply` was validated by the application's one ingest path (src/app/ingest.ts).
 */
export class EventStream {
  readonly capacity: number;
  private readonly queueSize: number;
  private readonly buffer: RingBuffer<StoredEvent>;
  private readonly byId = new Map<string, StoredEvent>();
  private readonly subscribers = new SubscriberIndex();
  /** Equal filters share one predicate (and its answer for the event being offered). */
  private readonly filters: SharedFilters;
  private readonly observers = new Set<StreamObserver>();
  /**
   * Every subscriber's `onClose`: one function for the stream rather than a closure per subscriber (idle
   * subscriptions are what memory_idle_10k measures).
   */
  private readonly unsubscribe = (subscriber: EventSubscriber): void => {
    this.subscribers.remove(subscriber);
  };
  private lastSeq = 0;
  /** The highest position ever evicted (or never restored): a resume at or before it has lost events. */
  private evictedThroughSeq = 0;
  /**
   * Stretches of positions that may belong to events this stream never got (`from` is the newest it had before
   * them): after a crash (`restore`), or a jump in a shared log (`markLost`). A resume from within is told of a gap.
   */
  private lost: { readonly from: number; readonly through: number }[] = [];
  private appliedTotal = 0;
  private subscriptionsTotal = 0;
  private closed = false;

  constructor(options: EventStreamOptions) {
    this.capacity = options.bufferSize;
    this.queueSize = options.subscriberQueue;
    this.buffer = new RingBuffer(options.bufferSize);
    this.filters = new SharedFilters(options.filterLimits);
  }

  /**
   * Stores validated events in this process, synchronously: the single-instance stream. An input whose id is
   * buffered already, or repeats an earlier id of the batch, is a duplicate: not stored nor delivered again.
   */
  append(captured: readonly CapturedEvent[]): StoreOutcome {
    const events: StoredEvent[] = [];
    const inBatch = new Map<string, StoredEvent>();
    const duplicateIndexes: number[] = [];
    for (let index = 0; index < captured.length; index++) {
      const input = captured[index]!;
      const existing = input.id ? (inBatch.get(input.id) ?? this.byId.get(input.id)) : undefined;
      if (existing) {
        duplicateIndexes.push(index);
        events.push(existing);
        continue;
      }
      const event = this.apply({ ...input, id: input.id ?? newEventId(), seq: this.lastSeq + 1 });
      inBatch.set(event.id, event);
      events.push(event);
    }
    return { events, accepted: events.length - duplicateIndexes.length, duplicates: duplicateIndexes.length, duplicateIndexes };
  }

  /** Puts one positioned event into the buffer, tells the observers and offers it to the subscribers. */
  apply(event: StoredEvent): StoredEvent {
    this.lastSeq = event.seq;
    const evicted = this.buffer.push(event);
    if (evicted) {
      this.byId.delete(evicted.id);
      this.evictedThroughSeq = evicted.seq;
      for (const observer of this.observers) observer.evicted?.(evicted);
    }
    this.byId.set(event.id, event);
    this.appliedTotal++;
    for (const observer of this.observers) observer.appended?.(event);
    this.subscribers.offer(event);
    return event;
  }

  /** The buffered event with this id, if any (how a fleet's duplicate finds the earlier event). */
  byEventId(id: string): StoredEvent | undefined {
    return this.byId.get(id);
  }

  /**
   * Loads events from a snapshot (oldest first) without delivering them; observers see each as `restored`.
   * `evictedThroughSeq` is what the snapshot had dropped. `lostPositions`: the run that wrote the snapshot crashed,
   * and may have handed out positions past it to events lost with it. New positions start that many further on, so
   * a cursor a client holds from a lost event never points at a new one (it would skip new events up to it); a
   * resume from the newest restored position or from within the skipped stretch gets `gap`.
   */
  restore(events: readonly StoredEvent[], evictedThroughSeq = 0, options: { readonly lostPositions?: number } = {}): void {
    for (const event of events) {
      const evicted = this.buffer.push(event);
      if (evicted) {
        this.byId.delete(evicted.id);
        evictedThroughSeq = Math.max(evictedThroughSeq, evicted.seq);
      }
      this.byId.set(event.id, event);
      this.lastSeq = Math.max(this.lastSeq, event.seq);
      for (const observer of this.observers) observer.restored?.(event);
    }
    this.evictedThroughSeq = Math.max(this.evictedThroughSeq, evictedThroughSeq);
    this.lastSeq = Math.max(this.lastSeq, this.evictedThroughSeq);
    if (options.lostPositions) {
      const from = this.lastSeq;
      this.lastSeq = from + options.lostPositions;
      this.markLost(from, this.lastSeq);
    }
  }

  /**
   * Positions after `from` up to `through` may belong to events this stream never received: a shared log skipped
   * them (Redis lost its data, or trimmed entries before this instance read them). A resume from a cursor in
   * `from..through` is told of a gap. At most MAX_LOST_STRETCHES are kept: past it the two oldest merge into one
   * (a few more resumes flagged, never one fewer).
   */
  markLost(from: number, through: number): void {
    this.lost.push({ from, through });
    if (this.lost.length > MAX_LOST_STRETCHES) {
      const [first, second] = this.lost.splice(0, 2) as [{ from: number; through: number }, { from: number; through: number }];
      this.lost.unshift({ from: first.from, through: second.through });
    }
  }

  /** Newest first. A limit above the buffer size returns the whole buffer; a negative one is BAD_USER_INPUT. */
  recent(limit: number, filter?: EventFilter | null): StoredEvent[] {
    if (!Number.isInteger(limit) || limit < 0) throw badInput(`limit must be zero or more, got ${limit}`, { field: "limit" });
    const matches = this.filters.compile(filter);
    const out: StoredEvent[] = [];
    if (limit === 0) return out;
    for (const event of this.buffer.newestFirst()) {
      if (matches(event)) out.push(event);
      if (out.length >= limit) break;
    }
    return out;
  }

  /**
   * Starts an `events` subscription. Validation (filter, cursor, replay) throws BAD_USER_INPUT before anything is
   * registered. The backlog is taken and the subscriber registered in the same synchronous step.
   */
  subscribe(options: SubscribeOptions): EventSubscriber {
    const predicate = this.filters.compile(options.filter);
    const replay = options.replay ?? 0;
    if (!Number.isInteger(replay) || replay < 0) throw badInput(`replay must be zero or more, got ${replay}`, { field: "replay" });
    if (options.after != null && replay > 0) {
      throw badInput("after and replay cannot be used together: after resumes a stream, replay starts a new one", { field: "after" });
    }
    let backlog: StoredEvent[] = [];
    let gap = false;
    let afterSeq: number | null = null;
    if (options.after != null) {
      const after = decodeCursor(options.after, this.lastSeq);
      afterSeq = after;
      gap = after < this.evictedThroughSeq || this.lost.some((lost) => after >= lost.from && after <= lost.through);
      const from = this.buffer.firstIndexWhere((e) => e.seq > after);
      for (let i = from; i < this.buffer.size; i++) {
        const event = this.buffer.at(i)!;
        if (predicate(event)) backlog.push(event);
      }
    } else if (replay > 0) {
      for (const event of this.buffer.newestFirst()) {
        if (predicate(event)) backlog.push(event);
        if (backlog.length >= replay) break;
      }
      backlog = backlog.reverse();
    }
    const subscriber = new EventSubscriber({ predicate, backlog, gap, afterSeq, queueSize: this.queueSize, onClose: this.unsubscribe });
    if (this.closed) {
      subscriber.end();
      return subscriber;
    }
    this.subscribers.add(subscriber, options.filter);
    this.subscriptionsTotal++;
    return subscriber;
  }

  observe(observer: StreamObserver): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  /** Buffered events, newest first, without copying the buffer. */
  newestFirst(): IterableIterator<StoredEvent> {
    return this.buffer.newestFirst();
  }

  /**
   * The receive time from which the buffer holds every event this stream applied: -Infinity while nothing was ever
   * dropped from it (by eviction, or before a restored snapshot), else its oldest event's. What is computed from the
   * buffer over a window reaching further back may miss events.
   */
  get completeFrom(): number {
    if (this.evictedThroughSeq === 0) return -Infinity;
    return this.buffer.oldest()?.receivedAt ?? Infinity;
  }

  /** Buffered events, oldest first (for snapshots). */
  bufferedEvents(): StoredEvent[] {
    return this.buffer.toArray();
  }

  /** Events buffered now. */
  get size(): number {
    return this.buffer.size;
  }

  /** The position of the newest event in the stream (0 before any). */
  get lastPosition(): number {
    return this.lastSeq;
  }

  /** Events applied since start (restored ones not counted). */
  get appliedCount(): number {
    return this.appliedTotal;
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  get subscriptionsStarted(): number {
    return this.subscriptionsTotal;
  }

  /** Ends every subscription normally; later subscriptions end at once. */
  close(): void {
    this.closed = true;
    for (const subscriber of this.subscribers.all()) subscriber.end();
  }
}

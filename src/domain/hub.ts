import { v7 as uuidv7 } from "uuid";
import { systemClock, type Clock } from "./clock.ts";
import { decodeCursor, peekCursor } from "./cursor.ts";
import { DashboardWindows } from "./dashboard.ts";
import { badInput, PulseError } from "./errors.ts";
import type { EventLog } from "./event-log.ts";
import { currentUrl, validateCapture, type CapturedEvent, type StoredEvent } from "./event.ts";
import type { EventLimits } from "./event-limits.ts";
import { SharedFilters, type EventFilter, type FilterLimits } from "./filter.ts";
import { LiveUsers, type LiveUser } from "./live-users.ts";
import { Persons, type Person } from "./persons.ts";
import { RingBuffer } from "./ring-buffer.ts";
import type { TimelinePoint } from "./timeline.ts";
import { SlidingCounts } from "./sliding-counts.ts";
import { EventSubscriber } from "./subscriber.ts";
import { SubscriberIndex } from "./subscriber-index.ts";
import { Ticker } from "./ticker.ts";

export interface HubOptions {
  /** Events kept in the ring buffer (PULSE_BUFFER_SIZE, default 10000). */
  readonly bufferSize: number;
  /** A user is live while their latest event is younger than this (PULSE_LIVE_WINDOW_SECONDS, default 60). */
  readonly liveWindowSeconds: number;
  /** The dashboard's sliding window (PULSE_DASHBOARD_WINDOW_SECONDS, default 60). */
  readonly dashboardWindowSeconds: number;
  /** Live events held per subscriber before it is ended with LAGGED (PULSE_SUBSCRIBER_QUEUE, default 2000). */
  readonly subscriberQueue: number;
  /** Persons kept; the least recently seen are dropped past it (PULSE_PERSONS_MAX, default 100000). */
  readonly personsCapacity: number;
  /** Size, shape and age bounds on each captured event (defaults: DEFAULT_EVENT_LIMITS). */
  readonly eventLimits?: EventLimits;
  /** Size bounds on each filter of a query or subscription (defaults: DEFAULT_FILTER_LIMITS). */
  readonly filterLimits?: FilterLimits;
  readonly clock?: Clock;
}

/** What one capture did: for every input, in order, the stored event (the earlier one, for a duplicate). */
export interface CaptureOutcome {
  readonly events: readonly StoredEvent[];
  readonly accepted: number;
  readonly duplicates: number;
}

export interface SubscribeOptions {
  readonly filter?: EventFilter | null;
  /** Resume after this cursor: every buffered matching event after it, then live ones. */
  readonly after?: string | null;
  /** Start with the newest N buffered matching events (oldest first), then live ones. */
  readonly replay?: number | null;
}

/** Observes the buffer, for the snapshot store: every appended event and every evicted one, in order. */
export interface BufferObserver {
  appended(event: StoredEvent): void;
  evicted(event: StoredEvent): void;
}

/** Told after every capture (all capture paths go through `store`): what it stored and what it found duplicate. */
export type CaptureListener = (outcome: { readonly accepted: number; readonly duplicates: number }) => void;

export interface HubMetrics {
  readonly totalSubscriptions: number;
  readonly activeSubscriptions: number;
  readonly eventsPerSecond: number;
  readonly eventsTotal: number;
}

const RATE_WINDOW_SECONDS = 10;

/**
 * Pulse's in-memory state and the one way events enter it. `capture` validates and de-duplicates, then `apply`
 * puts each event in the ring buffer, the live users, the dashboard windows and the persons, and offers it to every
 * subscriber, in stream order. Everything here is synchronous, so a subscriber that registers between two events
 * sees a consistent buffer: no gap and no duplicate between its backlog and its live events.
 */
export class Hub {
  readonly clock: Clock;
  readonly options: HubOptions;
  private readonly buffer: RingBuffer<StoredEvent>;
  private readonly byId = new Map<string, StoredEvent>();
  private readonly liveUsers: LiveUsers;
  private readonly dashboard: DashboardWindows;
  private readonly persons: Persons;
  private readonly rate = new SlidingCounts(RATE_WINDOW_SECONDS);
  private readonly subscribers = new SubscriberIndex();
  private readonly filters: SharedFilters;
  /**
   * Every subscriber's `onClose`: one function for the hub rather than a closure per subscriber. Under `npm start`
   * (tsx, esbuild's keepNames) each named closure also gets its own 256-byte property dictionary from `__name`, and
   * idle subscriptions are what memory_idle_10k measures.
   */
  private readonly unsubscribe = (subscriber: EventSubscriber): void => {
    this.subscribers.remove(subscriber);
  };
  private readonly tickers = new Set<Ticker<unknown>>();
  private readonly observers = new Set<BufferObserver>();
  private readonly captureListeners = new Set<CaptureListener>();
  private lastSeq = 0;
  /** The highest position ever evicted (or never restored): a resume at or before it has lost events. */
  private evictedThroughSeq = 0;
  /**
   * After a crash: positions the previous run may have handed out to events lost with it (`from` is the newest
   * restored one). New positions start after `through`; a resume from within is told of a gap.
   */
  private lost: { readonly from: number; readonly through: number } | null = null;
  private eventsTotal = 0;
  private totalSubscriptions = 0;
  private lastSweep = 0;
  private closed = false;
  private log: EventLog | undefined;
  /** Captures and resumes waiting for a position the shared stream has not delivered here yet. */
  private positionWaiters: { seq: number; resolve: () => void }[] = [];

  constructor(options: HubOptions) {
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.buffer = new RingBuffer(options.bufferSize);
    this.liveUsers = new LiveUsers(options.liveWindowSeconds * 1000);
    this.dashboard = new DashboardWindows(options.dashboardWindowSeconds);
    this.persons = new Persons(options.personsCapacity);
    this.filters = new SharedFilters(options.filterLimits);
  }

  /**
   * Captures a batch: all inputs are validated first, and one invalid input (BAD_USER_INPUT naming its index)
   * stores nothing. An input whose id is buffered already, or repeats an earlier id of the batch, is a duplicate:
   * not stored nor delivered again. Async so that a shared stream (Redis) can stand behind it.
   */
  async capture(inputs: readonly unknown[], options: { batch: boolean } = { batch: true }): Promise<CaptureOutcome> {
    const receivedAt = this.clock.now();
    const captured = inputs.map((input, index) =>
      validateCapture(input, receivedAt, options.batch ? index : undefined, this.options.eventLimits),
    );
    return this.storeValidated(captured);
  }

  /**
   * Stores already-validated events through the shared stream when there is one (`useLog`), else in memory.
   * Every capture path comes through here, so none can skip the fleet's stream.
   */
  async storeValidated(captured: readonly CapturedEvent[]): Promise<CaptureOutcome> {
    if (!this.log) return this.storeInMemory(captured);
    const withIds = captured.map((input) => ({ ...input, id: input.id ?? uuidv7() }));
    const appended = await this.log.append(withIds);
    // Read our own writes: answer once this instance has applied what it appended, so `recentEvents` shows it.
    const newest = Math.max(0, ...appended.map((a) => a.seq));
    if (!(await this.reachPosition(newest, 5000))) {
      throw new PulseError("UNAVAILABLE", `stored at position ${newest} but not yet delivered back from the shared stream; retrying is safe`);
    }
    const events = appended.map((a, i) => this.byId.get(a.id) ?? { ...withIds[i]!, seq: a.seq });
    const duplicates = appended.filter((a) => a.duplicate).length;
    const outcome = { events, accepted: events.length - duplicates, duplicates };
    for (const listener of this.captureListeners) listener(outcome);
    return outcome;
  }

  /**
   * Puts a shared stream (Redis) in front of `apply`: captures are appended to it, and whoever reads it calls
   * `apply` for every entry, here included. Set before serving.
   */
  useLog(log: EventLog): void {
    this.log = log;
  }

  /**
   * Resolves true once position `seq` has been applied here, false after `timeoutMs`. Across instances a position
   * may be known to the stream before this instance has read it.
   */
  reachPosition(seq: number, timeoutMs: number): Promise<boolean> {
    if (seq <= this.lastSeq) return Promise.resolve(true);
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

  /** With a shared stream, a cursor issued by another instance may be ahead of this one: wait briefly for it. */
  async awaitCursor(cursor: string | null | undefined, timeoutMs = 2000): Promise<void> {
    const seq = cursor == null ? null : peekCursor(cursor);
    if (seq !== null && this.log) await this.reachPosition(seq, timeoutMs);
  }

  /** Stores already-validated events in this hub only, synchronously: the single-instance stream. */
  private storeInMemory(captured: readonly CapturedEvent[]): CaptureOutcome {
    const events: StoredEvent[] = [];
    const inBatch = new Map<string, StoredEvent>();
    let duplicates = 0;
    for (const input of captured) {
      const existing = input.id ? (inBatch.get(input.id) ?? this.byId.get(input.id)) : undefined;
      if (existing) {
        duplicates++;
        events.push(existing);
        continue;
      }
      const event = this.apply({ ...input, id: input.id ?? uuidv7(), seq: this.lastSeq + 1 });
      inBatch.set(event.id, event);
      events.push(event);
    }
    const outcome = { events, accepted: events.length - duplicates, duplicates };
    for (const listener of this.captureListeners) listener(outcome);
    return outcome;
  }

  /** Puts one positioned event into every structure and offers it to the subscribers. */
  apply(event: StoredEvent): StoredEvent {
    this.lastSeq = event.seq;
    const evicted = this.buffer.push(event);
    if (evicted) {
      this.byId.delete(evicted.id);
      this.evictedThroughSeq = evicted.seq;
      for (const observer of this.observers) observer.evicted(evicted);
    }
    this.byId.set(event.id, event);
    this.index(event);
    this.eventsTotal++;
    this.rate.record("*", event.receivedAt);
    for (const observer of this.observers) observer.appended(event);
    this.subscribers.offer(event);
    this.sweepNow(event.receivedAt);
    if (this.positionWaiters.length > 0) {
      const due = this.positionWaiters.filter((w) => w.seq <= event.seq);
      this.positionWaiters = this.positionWaiters.filter((w) => w.seq > event.seq);
      for (const waiter of due) waiter.resolve();
    }
    return event;
  }

  /**
   * Loads events from a snapshot (oldest first) without delivering them: the buffer, positions, live users,
   * dashboard windows and persons come back as they were. `evictedThroughSeq` is what the snapshot had dropped.
   * `persons` (least recently seen first) are put back before the events are replayed over them, so a person whose
   * early events left the buffer keeps their first-seen time and properties; replaying `$set`/`$set_once` of the
   * buffered events over that state changes nothing, since the snapshot already holds their effect.
   * `lostPositions`: the run that wrote the snapshot crashed, and may have handed out positions past it to events
   * lost with it. New positions start that many further on, so a cursor a client holds from a lost event never
   * points at a new one (it would skip new events up to it); a resume from the newest restored position or from
   * within the skipped stretch gets `gap`.
   */
  restore(
    events: readonly StoredEvent[],
    evictedThroughSeq = 0,
    persons: readonly Person[] = [],
    options: { readonly lostPositions?: number } = {},
  ): void {
    for (const person of persons) this.persons.restore(person);
    for (const event of events) {
      const evicted = this.buffer.push(event);
      if (evicted) {
        this.byId.delete(evicted.id);
        evictedThroughSeq = Math.max(evictedThroughSeq, evicted.seq);
      }
      this.byId.set(event.id, event);
      this.index(event);
      this.lastSeq = Math.max(this.lastSeq, event.seq);
      this.rate.record("*", event.receivedAt);
    }
    this.evictedThroughSeq = Math.max(this.evictedThroughSeq, evictedThroughSeq);
    this.lastSeq = Math.max(this.lastSeq, this.evictedThroughSeq);
    if (options.lostPositions) {
      this.lost = { from: this.lastSeq, through: this.lastSeq + options.lostPositions };
      this.lastSeq = this.lost.through;
    }
  }

  private index(event: StoredEvent): void {
    this.liveUsers.touch(event.environment, {
      distinctId: event.distinctId,
      at: event.receivedAt,
      sessionId: event.sessionId,
      currentUrl: currentUrl(event),
    });
    this.dashboard.record(event);
    this.persons.touch(event.distinctId, event.receivedAt, event.properties);
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
      afterSeq = decodeCursor(options.after, this.lastSeq);
      gap = afterSeq < this.evictedThroughSeq || (this.lost !== null && afterSeq >= this.lost.from && afterSeq <= this.lost.through);
      const from = this.buffer.firstIndexWhere((e) => e.seq > afterSeq!);
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
    const subscriber = new EventSubscriber({
      predicate,
      backlog,
      gap,
      afterSeq,
      queueSize: this.options.subscriberQueue,
      onClose: this.unsubscribe,
    });
    if (this.closed) {
      subscriber.end();
      return subscriber;
    }
    this.subscribers.add(subscriber, options.filter);
    this.totalSubscriptions++;
    return subscriber;
  }

  /** A `liveDashboard` subscription: `produce()` now, then every `intervalMs` (raised to at least 250). */
  tick<T>(intervalMs: number, produce: () => T): Ticker<T> {
    const ticker: Ticker<T> = new Ticker(Math.max(250, intervalMs), produce, () => {
      this.tickers.delete(ticker as Ticker<unknown>);
    });
    if (this.closed) {
      ticker.end();
      return ticker;
    }
    this.tickers.add(ticker as Ticker<unknown>);
    this.totalSubscriptions++;
    return ticker;
  }

  liveUserCount(environment?: string | null): number {
    return this.liveUsers.count(this.clock.now(), environment);
  }

  liveUserList(limit: number, environment?: string | null): LiveUser[] {
    if (!Number.isInteger(limit) || limit < 0) throw badInput(`limit must be zero or more, got ${limit}`, { field: "limit" });
    return this.liveUsers.list(this.clock.now(), limit, environment);
  }

  eventCounts(environment?: string | null): { event: string; count: number }[] {
    return this.dashboard.eventCounts(this.clock.now(), environment);
  }

  topPages(limit: number, environment?: string | null): { path: string; count: number }[] {
    if (!Number.isInteger(limit) || limit < 0) throw badInput(`limit must be zero or more, got ${limit}`, { field: "limit" });
    return this.dashboard.topPages(this.clock.now(), limit, environment);
  }

  /** Per-minute events and distinct users over the last `minutes` (1..60, else BAD_USER_INPUT), oldest first. */
  timeline(minutes: number, environment?: string | null): TimelinePoint[] {
    return this.dashboard.timeline(this.clock.now(), minutes, environment);
  }

  person(distinctId: string): Person | undefined {
    return this.persons.get(distinctId);
  }

  /** Every person the hub holds, least recently seen first (for a full snapshot). */
  allPersons(): Person[] {
    return this.persons.all();
  }

  metrics(): HubMetrics {
    return {
      totalSubscriptions: this.totalSubscriptions,
      activeSubscriptions: this.subscribers.size + this.tickers.size,
      eventsPerSecond: this.rate.total(this.clock.now()) / RATE_WINDOW_SECONDS,
      eventsTotal: this.eventsTotal,
    };
  }

  /** Buffered events, oldest first (for snapshots). */
  bufferedEvents(): StoredEvent[] {
    return this.buffer.toArray();
  }

  get bufferSize(): number {
    return this.buffer.size;
  }

  /** The position of the newest event in the stream (0 before any). */
  get lastPosition(): number {
    return this.lastSeq;
  }

  observe(observer: BufferObserver): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  /** Calls `listener` after every capture (metrics); returns the function that stops it. */
  observeCaptures(listener: CaptureListener): () => void {
    this.captureListeners.add(listener);
    return () => this.captureListeners.delete(listener);
  }

  /** Ends every subscription normally; later subscriptions end at once. */
  close(): void {
    this.closed = true;
    for (const subscriber of this.subscribers.all()) subscriber.end();
    for (const ticker of [...this.tickers]) ticker.end();
  }

  private sweepNow(now: number): void {
    if (now - this.lastSweep < this.options.liveWindowSeconds * 1000) return;
    this.lastSweep = now;
    this.liveUsers.sweep(now);
    this.dashboard.sweep(now);
  }
}

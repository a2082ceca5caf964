import type { StoredEvent } from "./event.ts";
import type { EventPredicate } from "./filter.ts";
import { RingBuffer } from "./ring-buffer.ts";

/** What a subscriber's iterator yields: an event (flagged `gap` when events before it were lost), or its end by lag. */
export type Delivery =
  | { readonly kind: "event"; readonly event: StoredEvent; readonly gap: boolean }
  | {
      readonly kind: "lagged";
      readonly lastDeliveredSeq: number | null;
      /** Matching events this subscriber threw away when it fell behind: its queue, unsent backlog and the overflow. */
      readonly dropped: number;
    };

export interface SubscriberOptions {
  readonly predicate: EventPredicate;
  /** Buffered events to send before live ones (oldest first); does not count against the queue. */
  readonly backlog: readonly StoredEvent[];
  /** Mark the first delivery: events the client asked for were already evicted. */
  readonly gap: boolean;
  /** Live events held for a consumer that reads slower than events arrive. */
  readonly queueSize: number;
  /** The cursor the client resumed after, reported in `LAGGED` if nothing was delivered since. */
  readonly afterSeq: number | null;
  /** Called once, when the subscriber ends for any reason. */
  readonly onClose: (subscriber: EventSubscriber) => void;
}

/**
 * Where a pushed subscriber hands its deliveries (see `EventSubscriber.push`), synchronously, in order.
 */
export interface DeliverySink {
  /** Takes one delivery; false when it cannot take another yet: the subscriber queues until `resume()`. */
  deliver(delivery: Delivery): boolean;
  /** The subscriber has ended, after its last delivery (the end by lag included) or when closed. */
  end(): void;
}

/**
 * One `events` subscription: its backlog, then live matching events through a bounded queue.
 * When the queue overflows the subscriber does not block the hub or grow: it drops its queue and ends with one
 * `lagged` delivery carrying the last delivered position, so the client resumes with `after` and loses nothing
 * still buffered. Never throws from `next()`: a throw would tear down a whole graphql-ws socket.
 *
 * Read it either by pulling (`next()`, the async iterator) or, once `push(sink)` is called, by having each
 * delivery handed to the sink as the event arrives: no promise per delivery. A sink that is backed up says so
 * (`deliver` returns false); the subscriber then queues, within the same bound, until the sink calls `resume()`.
 */
export class EventSubscriber implements AsyncIterableIterator<Delivery> {
  readonly predicate: EventPredicate;
  private backlog: readonly StoredEvent[];
  private backlogIndex = 0;
  private readonly queue: RingBuffer<StoredEvent>;
  private state: "open" | "lagged" | "done" = "open";
  private waiting: ((result: IteratorResult<Delivery>) => void) | null = null;
  private sink: DeliverySink | null = null;
  /** Push mode: the sink took the last delivery and can take the next one at once. */
  private sinkReady = false;
  private lastDeliveredSeq: number | null;
  private dropped = 0;
  private gapPending: boolean;
  private readonly onClose: (subscriber: EventSubscriber) => void;

  constructor(options: SubscriberOptions) {
    this.predicate = options.predicate;
    this.backlog = options.backlog;
    this.gapPending = options.gap;
    this.queue = new RingBuffer(options.queueSize);
    this.lastDeliveredSeq = options.afterSeq;
    this.onClose = options.onClose;
  }

  /** The hub offers every new event; the subscriber keeps those that match. */
  offer(event: StoredEvent): void {
    if (this.state !== "open" || !this.predicate(event)) return;
    if (this.sinkReady && this.queue.size === 0) {
      this.sinkReady = this.sink!.deliver(this.deliver(event));
      return;
    }
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = null;
      resolve({ done: false, value: this.deliver(event) });
      return;
    }
    if (this.queue.isFull) {
      this.state = "lagged";
      this.dropped = this.queue.size + (this.backlog.length - this.backlogIndex) + 1;
      this.queue.clear();
      this.backlog = [];
      return;
    }
    this.queue.push(event);
  }

  /**
   * Switches to push mode: what is waiting (backlog, queue) goes to `sink` now, as far as it takes it, and every
   * later delivery as it comes. Not to be mixed with `next()`.
   */
  push(sink: DeliverySink): void {
    this.sink = sink;
    this.resume();
  }

  /** Push mode: the sink can take deliveries again; hands it what waits until it is backed up again or all is sent. */
  resume(): void {
    const sink = this.sink;
    if (!sink) return;
    this.sinkReady = true;
    while (this.sinkReady) {
      if (this.state === "done") return;
      if (this.state === "lagged") {
        sink.deliver({ kind: "lagged", lastDeliveredSeq: this.lastDeliveredSeq, dropped: this.dropped });
        return this.finish();
      }
      const event = this.backlogIndex < this.backlog.length ? this.backlog[this.backlogIndex++]! : this.queue.shift();
      if (!event) return;
      this.sinkReady = sink.deliver(this.deliver(event));
    }
  }

  next(): Promise<IteratorResult<Delivery>> {
    if (this.state === "done") return Promise.resolve({ done: true, value: undefined });
    if (this.state === "lagged") {
      this.finish();
      return Promise.resolve({ done: false, value: { kind: "lagged", lastDeliveredSeq: this.lastDeliveredSeq, dropped: this.dropped } });
    }
    if (this.backlogIndex < this.backlog.length) {
      return Promise.resolve({ done: false, value: this.deliver(this.backlog[this.backlogIndex++]!) });
    }
    const queued = this.queue.shift();
    if (queued) return Promise.resolve({ done: false, value: this.deliver(queued) });
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  return(): Promise<IteratorResult<Delivery>> {
    this.finish();
    return Promise.resolve({ done: true, value: undefined });
  }

  /** Ends the subscription normally (server shutdown): a pending `next()` resolves as done. */
  end(): void {
    this.finish();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private deliver(event: StoredEvent): Delivery {
    const gap = this.gapPending;
    this.gapPending = false;
    this.lastDeliveredSeq = event.seq;
    return { kind: "event", event, gap };
  }

  private finish(): void {
    if (this.state === "done") return;
    this.state = "done";
    this.queue.clear();
    this.backlog = [];
    const waiting = this.waiting;
    this.waiting = null;
    waiting?.({ done: true, value: undefined });
    this.sinkReady = false;
    this.sink?.end();
    this.onClose(this);
  }
}

/** Whether `value` is a stream subscriber (what the `events` resolver must return for its results to be pushed). */
export function isEventSubscriber(value: unknown): value is EventSubscriber {
  return value instanceof EventSubscriber;
}

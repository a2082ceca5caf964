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
 * One `events` subscription: its backlog, then live matching events through a bounded queue.
 * When the queue overflows the subscriber does not block the hub or grow: it drops its queue and ends with one
 * `lagged` delivery carrying the last delivered position, so the client resumes with `after` and loses nothing
 * still buffered. Never throws from `next()`: a throw would tear down a whole graphql-ws socket.
 */
export class EventSubscriber implements AsyncIterableIterator<Delivery> {
  readonly predicate: EventPredicate;
  private backlog: readonly StoredEvent[];
  private backlogIndex = 0;
  private readonly queue: RingBuffer<StoredEvent>;
  private state: "open" | "lagged" | "done" = "open";
  private waiting: ((result: IteratorResult<Delivery>) => void) | null = null;
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
    this.onClose(this);
  }
}

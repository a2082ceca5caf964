import { describe, expect, it } from "vitest";
import type { StoredEvent } from "../../src/domain/event.ts";
import type { EventPredicate } from "../../src/domain/filter.ts";
import { EventSubscriber, type Delivery } from "../../src/domain/subscriber.ts";
import { isSettled, storedEvent } from "./helpers.ts";

interface Setup {
  predicate?: EventPredicate;
  backlog?: StoredEvent[];
  gap?: boolean;
  queueSize?: number;
  afterSeq?: number | null;
}

function subscriber(setup: Setup = {}) {
  const closes: EventSubscriber[] = [];
  const sub = new EventSubscriber({
    predicate: setup.predicate ?? (() => true),
    backlog: setup.backlog ?? [],
    gap: setup.gap ?? false,
    queueSize: setup.queueSize ?? 10,
    afterSeq: setup.afterSeq ?? null,
    onClose: (s) => closes.push(s),
  });
  return { sub, closes };
}

const at = (seq: number) => storedEvent({ seq });

/** The next `n` deliveries, as [kind, seq, gap] or [kind, lastDeliveredSeq, dropped]. */
async function take(sub: EventSubscriber, n: number): Promise<unknown[]> {
  const out: unknown[] = [];
  for (let i = 0; i < n; i++) {
    const result = await sub.next();
    out.push(result.done ? "done" : describeDelivery(result.value));
  }
  return out;
}

function describeDelivery(delivery: Delivery): unknown[] {
  return delivery.kind === "event" ? ["event", delivery.event.seq, delivery.gap] : ["lagged", delivery.lastDeliveredSeq, delivery.dropped];
}

describe("EventSubscriber: order", () => {
  it("delivers the backlog first, then queued live events, in order", async () => {
    const { sub } = subscriber({ backlog: [at(1), at(2)] });
    sub.offer(at(3));
    sub.offer(at(4));
    expect(await take(sub, 4)).toEqual([
      ["event", 1, false],
      ["event", 2, false],
      ["event", 3, false],
      ["event", 4, false],
    ]);
  });

  it("keeps only live events that match its predicate", async () => {
    const { sub } = subscriber({ predicate: (e) => e.seq % 2 === 0 });
    for (let seq = 1; seq <= 6; seq++) sub.offer(at(seq));
    expect(await take(sub, 3)).toEqual([
      ["event", 2, false],
      ["event", 4, false],
      ["event", 6, false],
    ]);
    expect(await isSettled(sub.next())).toBe(false);
    sub.end();
  });

  it("a pending next() resolves when a matching event is offered, not before", async () => {
    const { sub } = subscriber({ predicate: (e) => e.event === "wanted" });
    const pending = sub.next();
    expect(await isSettled(pending)).toBe(false);
    sub.offer(storedEvent({ seq: 10, event: "other" }));
    expect(await isSettled(pending)).toBe(false);
    sub.offer(storedEvent({ seq: 11, event: "wanted" }));
    const result = await pending;
    expect(result.done).toBe(false);
    expect(describeDelivery(result.value as Delivery)).toEqual(["event", 11, false]);
    sub.end();
  });

  it("is its own async iterator", async () => {
    const { sub, closes } = subscriber({ backlog: [at(1), at(2), at(3)] });
    expect(sub[Symbol.asyncIterator]()).toBe(sub);
    const seen: number[] = [];
    for await (const delivery of sub) {
      if (delivery.kind === "event") seen.push(delivery.event.seq);
      if (seen.length === 2) break;
    }
    expect(seen).toEqual([1, 2]);
    expect(closes).toEqual([sub]);
  });
});

describe("EventSubscriber: gap", () => {
  it("marks only the first delivery, from the backlog", async () => {
    const { sub } = subscriber({ backlog: [at(1), at(2)], gap: true });
    sub.offer(at(3));
    expect(await take(sub, 3)).toEqual([
      ["event", 1, true],
      ["event", 2, false],
      ["event", 3, false],
    ]);
  });

  it("marks the first live delivery when the backlog is empty", async () => {
    const { sub } = subscriber({ gap: true });
    const pending = sub.next();
    sub.offer(at(5));
    sub.offer(at(6));
    expect(describeDelivery((await pending).value as Delivery)).toEqual(["event", 5, true]);
    expect(await take(sub, 1)).toEqual([["event", 6, false]]);
  });

  it("marks nothing without a gap", async () => {
    const { sub } = subscriber({ backlog: [at(1)] });
    sub.offer(at(2));
    expect(await take(sub, 2)).toEqual([
      ["event", 1, false],
      ["event", 2, false],
    ]);
  });
});

describe("EventSubscriber: overflow (LAGGED)", () => {
  it("absorbs exactly queueSize events without lagging", async () => {
    const { sub } = subscriber({ queueSize: 3 });
    for (let seq = 1; seq <= 3; seq++) sub.offer(at(seq));
    expect(await take(sub, 3)).toEqual([
      ["event", 1, false],
      ["event", 2, false],
      ["event", 3, false],
    ]);
    expect(await isSettled(sub.next())).toBe(false);
    sub.end();
  });

  it("one more ends it: one lagged delivery with the last delivered position (none yet), then done", async () => {
    const { sub, closes } = subscriber({ queueSize: 3 });
    for (let seq = 1; seq <= 4; seq++) sub.offer(at(seq));
    sub.offer(at(5)); // ignored once lagged
    expect(await take(sub, 3)).toEqual([["lagged", null, 4], "done", "done"]);
    expect(closes).toEqual([sub]);
  });

  it("reports the last delivered position and drops the unsent backlog and the queue", async () => {
    const { sub, closes } = subscriber({ queueSize: 2, backlog: [at(1), at(2), at(3)] });
    expect(await take(sub, 1)).toEqual([["event", 1, false]]);
    for (let seq = 4; seq <= 6; seq++) sub.offer(at(seq));
    // Dropped: backlog 2 and 3, queued 4 and 5, and 6 that overflowed.
    expect(await take(sub, 2)).toEqual([["lagged", 1, 5], "done"]);
    expect(closes).toHaveLength(1);
  });

  it("reports the resume cursor when nothing was delivered since", async () => {
    const { sub } = subscriber({ queueSize: 1, afterSeq: 41 });
    sub.offer(at(42));
    sub.offer(at(43));
    expect(await take(sub, 1)).toEqual([["lagged", 41, 2]]);
  });

  it("events that do not match never count against the queue", async () => {
    const { sub } = subscriber({ queueSize: 1, predicate: (e) => e.seq === 3 });
    for (let seq = 1; seq <= 5; seq++) sub.offer(at(seq));
    expect(await take(sub, 1)).toEqual([["event", 3, false]]);
    sub.end();
  });

  it("a reader keeping up is never lagged, however many events pass", async () => {
    const { sub } = subscriber({ queueSize: 1 });
    const seen: number[] = [];
    for (let seq = 1; seq <= 100; seq++) {
      const pending = sub.next();
      sub.offer(at(seq));
      const result = await pending;
      if (!result.done && result.value.kind === "event") seen.push(result.value.event.seq);
    }
    expect(seen).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    sub.end();
  });
});

describe("EventSubscriber: ending", () => {
  it("return() ends it, resolves as done, and calls onClose once however often it ends", async () => {
    const { sub, closes } = subscriber({ backlog: [at(1)] });
    sub.offer(at(2));
    expect(await sub.return()).toEqual({ done: true, value: undefined });
    expect(await sub.next()).toEqual({ done: true, value: undefined });
    await sub.return();
    sub.end();
    expect(closes).toEqual([sub]);
  });

  it("return() resolves a pending next() as done", async () => {
    const { sub, closes } = subscriber();
    const pending = sub.next();
    await sub.return();
    expect(await pending).toEqual({ done: true, value: undefined });
    expect(closes).toHaveLength(1);
  });

  it("end() (shutdown) resolves a pending next() as done and ignores later offers", async () => {
    const { sub, closes } = subscriber();
    const pending = sub.next();
    sub.end();
    expect(await pending).toEqual({ done: true, value: undefined });
    sub.offer(at(1));
    expect(await sub.next()).toEqual({ done: true, value: undefined });
    expect(closes).toHaveLength(1);
  });

  it("return() on a lagged subscriber ends it without the lagged delivery", async () => {
    const { sub, closes } = subscriber({ queueSize: 1 });
    sub.offer(at(1));
    sub.offer(at(2));
    await sub.return();
    expect(await sub.next()).toEqual({ done: true, value: undefined });
    expect(closes).toHaveLength(1);
  });
});

/** A sink that records deliveries as `describeDelivery` does and takes `room` of them before it is backed up. */
function recordingSink(room = Infinity) {
  const deliveries: unknown[] = [];
  const sink = {
    room,
    ended: 0,
    deliver(delivery: Delivery): boolean {
      deliveries.push(describeDelivery(delivery));
      return --sink.room > 0;
    },
    end(): void {
      sink.ended++;
    },
  };
  return { sink, deliveries };
}

describe("EventSubscriber: push", () => {
  it("hands over the backlog and the queue at push, then each live event as it is offered, the gap on the first", () => {
    const { sub } = subscriber({ backlog: [at(1), at(2)], gap: true });
    sub.offer(at(3));
    const { sink, deliveries } = recordingSink();
    sub.push(sink);
    expect(deliveries).toEqual([
      ["event", 1, true],
      ["event", 2, false],
      ["event", 3, false],
    ]);
    sub.offer(at(4));
    expect(deliveries.at(-1)).toEqual(["event", 4, false]);
  });

  it("queues while the sink is backed up and hands the rest over, in order, on resume", () => {
    const { sub } = subscriber({ queueSize: 10 });
    const { sink, deliveries } = recordingSink(1);
    sub.push(sink);
    sub.offer(at(1)); // taken; the sink is now backed up
    sub.offer(at(2));
    sub.offer(at(3));
    expect(deliveries).toEqual([["event", 1, false]]);
    sink.room = Infinity;
    sub.resume();
    expect(deliveries).toEqual([
      ["event", 1, false],
      ["event", 2, false],
      ["event", 3, false],
    ]);
    sub.offer(at(4));
    expect(deliveries.at(-1)).toEqual(["event", 4, false]);
  });

  it("ends LAGGED with the last delivered position once a backed-up sink resumes, then ends the sink", () => {
    const { sub, closes } = subscriber({ queueSize: 2 });
    const { sink, deliveries } = recordingSink(1);
    sub.push(sink);
    for (const seq of [1, 2, 3, 4, 5]) sub.offer(at(seq));
    // 1 taken; 2 and 3 queued; 4 overflows (dropped with the queue); 5 is no longer offered.
    expect(deliveries).toEqual([["event", 1, false]]);
    expect(closes).toEqual([]);
    sink.room = Infinity;
    sub.resume();
    expect(deliveries).toEqual([
      ["event", 1, false],
      ["lagged", 1, 3],
    ]);
    expect(sink.ended).toBe(1);
    expect(closes).toEqual([sub]);
  });

  it("ends the sink once when the subscriber is ended or returned", async () => {
    const { sub } = subscriber();
    const { sink, deliveries } = recordingSink();
    sub.push(sink);
    sub.end();
    await sub.return();
    expect(sink.ended).toBe(1);
    sub.offer(at(1));
    expect(deliveries).toEqual([]);
  });
});

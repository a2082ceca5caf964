import { describe, expect, it } from "vitest";
import type { StoredEvent } from "../../src/domain/event.ts";
import { compileFilter, type EventFilter } from "../../src/domain/filter.ts";
import { RingBuffer } from "../../src/domain/ring-buffer.ts";
import { EventSubscriber } from "../../src/domain/subscriber.ts";
import { SubscriberIndex } from "../../src/domain/subscriber-index.ts";

let seq = 0;
function event(name: string, properties: StoredEvent["properties"] = {}): StoredEvent {
  seq++;
  return {
    id: `id-${seq}`,
    event: name,
    distinctId: "u",
    timestamp: 0,
    receivedAt: 0,
    properties,
    sessionId: null,
    environment: "production",
    seq,
  };
}

/** A subscriber that records what the index offered it and what its own filter kept. */
function subscriber(filter: EventFilter | null) {
  const offered: StoredEvent[] = [];
  const s = new EventSubscriber({
    predicate: compileFilter(filter),
    backlog: [],
    gap: false,
    afterSeq: null,
    queueSize: 100,
    onClose: () => {},
  });
  const offer = s.offer.bind(s);
  s.offer = (e) => {
    offered.push(e);
    offer(e);
  };
  return { s, offered };
}

describe("SubscriberIndex", () => {
  const events = [
    event("$pageview", { bucket: 1, plan: "pro" }),
    event("$pageview", { bucket: 2 }),
    event("signup", { bucket: 1 }),
    event("signup", { bucket: "1" }),
    event("$pageview", { bucket: null }),
    event("$pageview", {}),
    event("purchase", { bucket: { nested: 1 } }),
  ];
  const filters: (EventFilter | null)[] = [
    null,
    { events: ["signup"] },
    { events: ["signup", "purchase", "signup"] },
    { properties: [{ property: "bucket", operator: "EQUALS", value: 1 }] },
    { properties: [{ property: "bucket", operator: "EQUALS", value: "1" }] },
    { properties: [{ property: "bucket", operator: "EQUALS", value: null }] },
    { properties: [{ property: "bucket", operator: "EQUALS", value: { nested: 1 } }] },
    { properties: [{ property: "bucket", operator: "NOT_EQUALS", value: 1 }] },
    {
      properties: [
        { property: "plan", operator: "IS_SET" },
        { property: "bucket", operator: "EQUALS", value: 1 },
      ],
    },
    { environment: "production", properties: [{ property: "bucket", operator: "GT", value: 1 }] },
  ];

  it("offers every event a filter matches, exactly once, and narrows the others", () => {
    const index = new SubscriberIndex();
    const subscribers = filters.map((filter) => {
      const sub = subscriber(filter);
      index.add(sub.s, filter);
      return { ...sub, filter };
    });
    for (const e of events) index.offer(e);
    for (const { offered, filter } of subscribers) {
      const predicate = compileFilter(filter);
      const expected = events.filter(predicate);
      // Nothing that matches is missed, nothing is offered twice.
      expect(offered.filter(predicate), JSON.stringify(filter)).toEqual(expected);
      expect(new Set(offered).size, JSON.stringify(filter)).toBe(offered.length);
    }
    // The keyed subscribers were not offered events that cannot match them.
    expect(subscribers[1]!.offered.map((e) => e.event)).toEqual(["signup", "signup"]);
    expect(subscribers[3]!.offered).toEqual([events[0], events[2]]);
    expect(subscribers[4]!.offered).toEqual([events[3]]);
    expect(subscribers[5]!.offered).toEqual([events[4]]);
  });

  it("forgets a removed subscriber", () => {
    const index = new SubscriberIndex();
    const filters: EventFilter[] = [{ properties: [{ property: "bucket", operator: "EQUALS", value: 1 }] }, { events: ["signup"] }, {}];
    const [keyed, named, plain] = filters.map((filter) => {
      const sub = subscriber(filter);
      index.add(sub.s, filter);
      return sub;
    }) as [ReturnType<typeof subscriber>, ReturnType<typeof subscriber>, ReturnType<typeof subscriber>];
    expect(index.size).toBe(3);
    for (const { s } of [keyed, named, plain]) index.remove(s);
    expect(index.size).toBe(0);
    index.offer(event("signup", { bucket: 1 }));
    expect([keyed, named, plain].map((x) => x.offered.length)).toEqual([0, 0, 0]);
  });
});

describe("RingBuffer growth", () => {
  it("keeps FIFO order and the bound while its storage grows and wraps", () => {
    const ring = new RingBuffer<number>(100);
    const model: number[] = [];
    for (let n = 0; n < 1000; n++) {
      const evicted = ring.push(n);
      model.push(n);
      expect(evicted).toBe(model.length > 100 ? model.shift() : undefined);
      if (n % 7 === 3) expect(ring.shift()).toBe(model.shift());
      expect(ring.size).toBe(model.length);
    }
    expect(ring.toArray()).toEqual(model);
    expect(ring.isFull).toBe(model.length === 100);
    ring.clear();
    expect(ring.size).toBe(0);
    ring.push(1);
    expect(ring.toArray()).toEqual([1]);
  });
});

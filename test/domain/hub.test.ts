import { describe, expect, it } from "vitest";
import { encodeCursor } from "../../src/domain/cursor.ts";
import type { StoredEvent } from "../../src/domain/event.ts";
import type { Hub } from "../../src/domain/hub.ts";
import type { Delivery, EventSubscriber } from "../../src/domain/subscriber.ts";
import { captureInto, createHub, expectBadInput, expectBadInputAsync, isSettled, storedEvent, T0 } from "./helpers.ts";

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ID_A = "0190a5b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b";
const ID_B = "0190a5b2-7c3d-7e4f-8a9b-0c1d2e3f4a5c";

/** Captures one event per name, in one batch. */
function captureNames(hub: Hub, names: string[], extra: Record<string, unknown> = {}) {
  return captureInto(
    hub,
    names.map((event) => ({ event, distinctId: "alice", ...extra })),
  );
}

/** Event names of the next `n` deliveries (or "lagged"/"done"), with a `!` after a gap-marked one. */
async function take(sub: EventSubscriber, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const result = await sub.next();
    out.push(result.done ? "done" : show(result.value));
  }
  return out;
}

function show(delivery: Delivery): string {
  return delivery.kind === "event" ? delivery.event.event + (delivery.gap ? "!" : "") : `lagged@${delivery.lastDeliveredSeq}`;
}

const names = (events: readonly StoredEvent[]) => events.map((e) => e.event);

describe("Hub.capture", () => {
  it("stores a single event with its defaults, a generated UUIDv7 and the next position", async () => {
    const { hub } = createHub();
    const outcome = await captureInto(hub, [{ event: "$pageview", distinctId: "alice" }], { batch: false });
    expect(outcome.accepted).toBe(1);
    expect(outcome.duplicates).toBe(0);
    const [event] = outcome.events;
    expect(event!.id).toMatch(UUID_V7);
    expect(event).toEqual({
      id: event!.id,
      event: "$pageview",
      distinctId: "alice",
      timestamp: T0,
      receivedAt: T0,
      properties: {},
      sessionId: null,
      environment: "production",
      seq: 1,
    });
    expect([hub.stream.size, hub.stream.lastPosition]).toEqual([1, 1]);
  });

  it("gives a batch consecutive positions in input order, keeping client ids (lower-cased)", async () => {
    const { hub } = createHub();
    const outcome = await captureInto(hub, [
      { event: "a", distinctId: "u", id: ID_A.toUpperCase() },
      { event: "b", distinctId: "u" },
      { event: "c", distinctId: "u", id: ID_B },
    ]);
    expect(outcome.events.map((e) => [e.event, e.seq])).toEqual([
      ["a", 1],
      ["b", 2],
      ["c", 3],
    ]);
    expect([outcome.events[0]!.id, outcome.events[2]!.id]).toEqual([ID_A, ID_B]);
    expect(outcome.events[1]!.id).toMatch(UUID_V7);
  });

  it("receive time comes from the clock, the event time from the input", async () => {
    const { hub, clock } = createHub();
    clock.advance(5000);
    const { events } = await captureInto(hub, [{ event: "e", distinctId: "u", timestamp: new Date(T0 - 60_000).toISOString() }]);
    expect([events[0]!.timestamp, events[0]!.receivedAt]).toEqual([T0 - 60_000, T0 + 5000]);
  });

  describe("duplicates by id", () => {
    it("a repeated id inside a batch is a duplicate of the first occurrence", async () => {
      const { hub } = createHub();
      const outcome = await captureInto(hub, [
        { event: "first", distinctId: "u", id: ID_A },
        { event: "second", distinctId: "u", id: ID_A.toUpperCase() },
        { event: "other", distinctId: "u", id: ID_B },
      ]);
      expect([outcome.accepted, outcome.duplicates]).toEqual([2, 1]);
      // The duplicate's entry is the caller's own input under the first occurrence's id and position.
      expect(outcome.events.map((e) => [e.id, e.event, e.seq])).toEqual([
        [ID_A, "first", 1],
        [ID_A, "second", 1],
        [ID_B, "other", 2],
      ]);
      expect(names(hub.stream.recent(10))).toEqual(["other", "first"]);
    });

    it("a repeated id inside a batch is a duplicate even when the batch itself evicted the first occurrence", async () => {
      const { hub } = createHub({ bufferSize: 2 });
      const outcome = await captureInto(hub, [
        { event: "first", distinctId: "u", id: ID_A },
        { event: "x", distinctId: "u" },
        { event: "y", distinctId: "u" },
        { event: "again", distinctId: "u", id: ID_A },
      ]);
      expect([outcome.accepted, outcome.duplicates]).toEqual([3, 1]);
      expect([outcome.events[3]!.id, outcome.events[3]!.seq, outcome.events[3]!.event]).toEqual([ID_A, outcome.events[0]!.seq, "again"]);
      expect(names(hub.stream.bufferedEvents())).toEqual(["x", "y"]);
    });

    it("an id already buffered is a duplicate: its id and position are returned (not its content), nothing is stored or delivered again", async () => {
      const { hub } = createHub();
      const stored = (await captureInto(hub, [{ event: "original", distinctId: "u", id: ID_A }])).events[0]!;
      const sub = hub.stream.subscribe({});
      const again = await captureInto(hub, [{ event: "replacement", distinctId: "other", id: ID_A }], { batch: false });
      expect([again.accepted, again.duplicates]).toEqual([0, 1]);
      expect(again.events[0]).toMatchObject({ id: stored.id, seq: stored.seq, event: "replacement", distinctId: "other" });
      expect([hub.stream.size, hub.stream.lastPosition, hub.metrics().eventsTotal]).toEqual([1, 1, 1]);
      await captureNames(hub, ["next"]);
      expect(await take(sub, 1)).toEqual(["next"]);
      await sub.return();
    });

    it("an id evicted from the buffer is accepted again", async () => {
      const { hub } = createHub({ bufferSize: 2 });
      await captureInto(hub, [{ event: "old", distinctId: "u", id: ID_A }]);
      await captureNames(hub, ["x", "y"]);
      const outcome = await captureInto(hub, [{ event: "new", distinctId: "u", id: ID_A }]);
      expect([outcome.accepted, outcome.duplicates, outcome.events[0]!.seq]).toEqual([1, 0, 4]);
    });
  });

  it("validates the whole batch first: one invalid item stores and delivers nothing", async () => {
    const { hub } = createHub();
    const sub = hub.stream.subscribe({});
    const error = await expectBadInputAsync(
      () =>
        captureInto(hub, [
          { event: "good", distinctId: "u" },
          { event: "also good", distinctId: "u" },
          { event: "", distinctId: "u" },
        ]),
      "inputs[2].event",
      "event",
    );
    expect(error.extensions["index"]).toBe(2);
    expect([hub.stream.size, hub.stream.lastPosition, hub.metrics().eventsTotal]).toEqual([0, 0, 0]);
    expect(hub.views.liveUserCount()).toBe(0);
    expect(hub.views.person("u")).toBeUndefined();
    const pending = sub.next();
    expect(await isSettled(pending)).toBe(false);
    await sub.return();
  });

  it("a single capture's error names the field without an index", async () => {
    const { hub } = createHub();
    const error = await expectBadInputAsync(() => captureInto(hub, [{ event: "e", distinctId: "" }], { batch: false }), "distinctId");
    expect(error.message).toBe("distinctId must not be empty");
  });

  it("tells capture listeners what each capture stored and found duplicate", async () => {
    const { hub } = createHub();
    const seen: [number, number][] = [];
    const stop = hub.replication.observeStores(({ accepted, duplicates }) => seen.push([accepted, duplicates]));
    await captureInto(hub, [
      { event: "a", distinctId: "u", id: ID_A },
      { event: "a", distinctId: "u", id: ID_A },
    ]);
    stop();
    await captureNames(hub, ["b"]);
    expect(seen).toEqual([[1, 1]]);
  });
});

describe("Hub: the buffer", () => {
  it("keeps the newest bufferSize events and tells observers what it appends and evicts, in order", async () => {
    const { hub } = createHub({ bufferSize: 3 });
    const log: string[] = [];
    hub.stream.observe({ appended: (e) => log.push(`+${e.event}`), evicted: (e) => log.push(`-${e.event}`) });
    await captureNames(hub, ["a", "b", "c", "d", "e"]);
    expect(names(hub.stream.bufferedEvents())).toEqual(["c", "d", "e"]);
    expect(log).toEqual(["+a", "+b", "+c", "-a", "+d", "-b", "+e"]);
    expect([hub.stream.size, hub.stream.lastPosition]).toEqual([3, 5]);
  });
});

describe("Hub.stream.recent", () => {
  it("is newest first, limited, and filtered", async () => {
    const { hub } = createHub({ bufferSize: 10 });
    await captureInto(hub, [
      { event: "a", distinctId: "alice" },
      { event: "b", distinctId: "bob" },
      { event: "c", distinctId: "alice" },
      { event: "d", distinctId: "bob" },
      { event: "e", distinctId: "alice" },
    ]);
    expect(names(hub.stream.recent(100))).toEqual(["e", "d", "c", "b", "a"]);
    expect(names(hub.stream.recent(2))).toEqual(["e", "d"]);
    expect(names(hub.stream.recent(2, { distinctId: "alice" }))).toEqual(["e", "c"]);
    expect(names(hub.stream.recent(10, { events: ["b", "c"] }))).toEqual(["c", "b"]);
    expect(hub.stream.recent(0)).toEqual([]);
  });

  it("a limit above the buffer size returns the whole buffer", async () => {
    const { hub } = createHub({ bufferSize: 3 });
    await captureNames(hub, ["a", "b", "c", "d"]);
    expect(names(hub.stream.recent(1_000_000))).toEqual(["d", "c", "b"]);
  });

  it.each([-1, 1.5, Number.NaN])("a limit of %s is BAD_USER_INPUT", (limit) => {
    const { hub } = createHub();
    const error = expectBadInput(() => hub.stream.recent(limit), "limit");
    expect(error.message).toBe(`limit must be zero or more, got ${limit}`);
  });

  it("a bad filter is BAD_USER_INPUT", () => {
    const { hub } = createHub();
    expectBadInput(
      () => hub.stream.recent(10, { properties: [{ property: "n", operator: "GT", value: "many" }] }),
      "filter.properties[0].value",
    );
  });
});

describe("Hub.stream.subscribe", () => {
  it("without replay or after, delivers only live matching events, in capture order", async () => {
    const { hub } = createHub();
    await captureNames(hub, ["before"]);
    const sub = hub.stream.subscribe({ filter: { events: ["keep"] } });
    await captureNames(hub, ["keep", "skip", "keep"], { properties: { n: 1 } });
    await captureNames(hub, ["keep"]);
    const delivered: number[] = [];
    for (let i = 0; i < 3; i++) {
      const result = await sub.next();
      if (!result.done && result.value.kind === "event") delivered.push(result.value.event.seq);
    }
    expect(delivered).toEqual([2, 4, 5]);
    await sub.return();
  });

  describe("replay", () => {
    it("sends the newest N buffered matching events, oldest first, then live ones", async () => {
      const { hub } = createHub();
      await captureNames(hub, ["a1", "b1", "a2", "a3", "b2"]);
      const sub = hub.stream.subscribe({ replay: 2, filter: { events: ["a1", "a2", "a3", "a4"] } });
      await captureNames(hub, ["b3", "a4"]);
      expect(await take(sub, 3)).toEqual(["a2", "a3", "a4"]);
      await sub.return();
    });

    it("replay larger than the matches sends them all; replay 0 sends none", async () => {
      const { hub } = createHub();
      await captureNames(hub, ["a", "b", "c"]);
      const all = hub.stream.subscribe({ replay: 100 });
      expect(await take(all, 3)).toEqual(["a", "b", "c"]);
      const none = hub.stream.subscribe({ replay: 0 });
      expect(await isSettled(none.next())).toBe(false);
      await Promise.all([all.return(), none.return()]);
    });

    it.each([-1, 2.5])("replay %s is BAD_USER_INPUT", (replay) => {
      const { hub } = createHub();
      expectBadInput(() => hub.stream.subscribe({ replay }), "replay");
    });
  });

  describe("after", () => {
    it("sends exactly the buffered matching events after the cursor, then live ones, no gap", async () => {
      const { hub } = createHub({ bufferSize: 10 });
      const { events } = await captureNames(hub, ["a", "b", "c", "d"]);
      const sub = hub.stream.subscribe({ after: encodeCursor(events[1]!.seq) });
      await captureNames(hub, ["e"]);
      expect(await take(sub, 3)).toEqual(["c", "d", "e"]);
      expect(await isSettled(sub.next())).toBe(false);
      await sub.return();
    });

    it("applies the filter to the backlog too", async () => {
      const { hub } = createHub({ bufferSize: 10 });
      const { events } = await captureInto(hub, [
        { event: "x", distinctId: "alice" },
        { event: "y", distinctId: "bob" },
        { event: "z", distinctId: "alice" },
      ]);
      const sub = hub.stream.subscribe({ after: encodeCursor(events[0]!.seq), filter: { distinctId: "alice" } });
      expect(await take(sub, 1)).toEqual(["z"]);
      await sub.return();
    });

    it("after the newest event sends only live ones", async () => {
      const { hub } = createHub();
      await captureNames(hub, ["a", "b"]);
      const sub = hub.stream.subscribe({ after: encodeCursor(hub.stream.lastPosition) });
      const pending = sub.next();
      expect(await isSettled(pending)).toBe(false);
      await captureNames(hub, ["c"]);
      const result = await pending;
      expect(show(result.value as Delivery)).toBe("c");
      await sub.return();
    });

    it("resumes with no gap and no duplicate while capture continues", async () => {
      const { hub } = createHub({ bufferSize: 100 });
      const received: number[] = [];
      let sub = hub.stream.subscribe({});
      let lastSeq = 0;
      for (let round = 0; round < 5; round++) {
        // Each round: capture a batch, read part of it, drop the subscription and resume after what was read.
        await captureNames(hub, ["a", "b", "c", "d"]);
        for (let i = 0; i < 2; i++) {
          const result = await sub.next();
          if (!result.done && result.value.kind === "event") {
            received.push(result.value.event.seq);
            lastSeq = result.value.event.seq;
          }
        }
        await sub.return();
        sub = hub.stream.subscribe({ after: encodeCursor(lastSeq) });
      }
      await captureNames(hub, ["z"]);
      for (let i = 0; i < 11; i++) {
        const result = await sub.next();
        if (!result.done && result.value.kind === "event") received.push(result.value.event.seq);
      }
      expect(received).toEqual(Array.from({ length: 21 }, (_, i) => i + 1));
      await sub.return();
    });

    it("a cursor older than the oldest buffered event resumes from the oldest, gap marked on the first delivery only", async () => {
      const { hub } = createHub({ bufferSize: 3 });
      const { events } = await captureNames(hub, ["e1", "e2", "e3", "e4", "e5"]); // e1 and e2 evicted
      const sub = hub.stream.subscribe({ after: encodeCursor(events[0]!.seq) });
      await captureNames(hub, ["e6"]);
      expect(await take(sub, 4)).toEqual(["e3!", "e4", "e5", "e6"]);
      await sub.return();
    });

    it("a cursor at the newest evicted event has lost nothing: no gap", async () => {
      const { hub } = createHub({ bufferSize: 3 });
      const { events } = await captureNames(hub, ["e1", "e2", "e3", "e4", "e5"]);
      const sub = hub.stream.subscribe({ after: encodeCursor(events[1]!.seq) });
      expect(await take(sub, 3)).toEqual(["e3", "e4", "e5"]);
      await sub.return();
    });

    it("with a gap and nothing buffered matching, the first live delivery carries the gap", async () => {
      const { hub } = createHub({ bufferSize: 2 });
      const { events } = await captureNames(hub, ["e1", "e2", "e3", "e4"]);
      const sub = hub.stream.subscribe({ after: encodeCursor(events[0]!.seq), filter: { events: ["live"] } });
      await captureNames(hub, ["live", "live"]);
      expect(await take(sub, 2)).toEqual(["live!", "live"]);
      await sub.return();
    });

    it("after together with replay is BAD_USER_INPUT (after with replay 0 is fine)", async () => {
      const { hub } = createHub();
      await captureNames(hub, ["a"]);
      const error = expectBadInput(() => hub.stream.subscribe({ after: encodeCursor(1), replay: 1 }), "after");
      expect(error.message).toContain("replay");
      const ok = hub.stream.subscribe({ after: encodeCursor(1), replay: 0 });
      await ok.return();
    });

    it.each(["", "garbage", "c1_0", "c1_2", encodeCursor(99)])("an unknown cursor %j is BAD_USER_INPUT", async (after) => {
      const { hub } = createHub();
      await captureNames(hub, ["a"]);
      const error = expectBadInput(() => hub.stream.subscribe({ after }), "after");
      expect(error.message).toContain(JSON.stringify(after));
    });
  });

  it("nothing is registered when validation fails", () => {
    const { hub } = createHub();
    expectBadInput(
      () => hub.stream.subscribe({ filter: { properties: [{ property: "p", operator: "REGEX", value: "(?=a)b" }] } }),
      "filter.properties[0].value",
    );
    expectBadInput(() => hub.stream.subscribe({ after: "nope" }), "after");
    expectBadInput(() => hub.stream.subscribe({ replay: -3 }), "replay");
    expect(hub.metrics()).toMatchObject({ totalSubscriptions: 0, activeSubscriptions: 0 });
  });

  it("a subscriber that falls behind ends with LAGGED at its last delivered position, and stops counting as active", async () => {
    const { hub } = createHub({ bufferSize: 50, subscriberQueue: 3 });
    const slow = hub.stream.subscribe({});
    const fast = hub.stream.subscribe({});
    await captureNames(hub, ["a"]);
    expect(await take(slow, 1)).toEqual(["a"]);
    expect(await take(fast, 1)).toEqual(["a"]);
    await captureNames(hub, ["b", "c", "d"]); // fills both queues exactly
    expect(await take(fast, 3)).toEqual(["b", "c", "d"]);
    await captureNames(hub, ["e"]); // one too many for the slow one only
    expect(hub.metrics().activeSubscriptions).toBe(2);
    expect(await take(slow, 2)).toEqual(["lagged@1", "done"]);
    expect(hub.metrics().activeSubscriptions).toBe(1);
    expect(await take(fast, 1)).toEqual(["e"]);
    await fast.return();
    // Resuming with `after` from the lagged position loses nothing still buffered.
    const resumed = hub.stream.subscribe({ after: encodeCursor(1) });
    expect(await take(resumed, 4)).toEqual(["b", "c", "d", "e"]);
    await resumed.return();
  });
});

describe("Hub.metrics", () => {
  it("counts subscriptions started, and open ones going up and down", async () => {
    const { hub } = createHub();
    const counts = () => [hub.metrics().totalSubscriptions, hub.metrics().activeSubscriptions];
    expect(counts()).toEqual([0, 0]);
    const a = hub.stream.subscribe({});
    const b = hub.stream.subscribe({ filter: { events: ["x"] } });
    expect(counts()).toEqual([2, 2]);
    await a.return();
    expect(counts()).toEqual([2, 1]);
    await a.return();
    expect(counts()).toEqual([2, 1]);
    const ticker = hub.views.tick(1000, () => "dashboard");
    expect(counts()).toEqual([3, 2]);
    expect(await ticker.next()).toEqual({ done: false, value: "dashboard" });
    await ticker.return();
    expect(counts()).toEqual([3, 1]);
    b.end();
    expect(counts()).toEqual([3, 0]);
  });

  it("close() ends every subscription; later ones end at once and are not counted", async () => {
    const { hub } = createHub();
    const sub = hub.stream.subscribe({});
    const pending = sub.next();
    const ticker = hub.views.tick(250, () => 1);
    hub.close();
    expect(await pending).toEqual({ done: true, value: undefined });
    expect(await ticker.next()).toEqual({ done: true, value: undefined });
    expect(hub.metrics()).toMatchObject({ totalSubscriptions: 2, activeSubscriptions: 0 });
    const late = hub.stream.subscribe({});
    expect(await late.next()).toEqual({ done: true, value: undefined });
    expect(hub.metrics()).toMatchObject({ totalSubscriptions: 2, activeSubscriptions: 0 });
  });

  it("eventsPerSecond is the mean over the last 10 s; eventsTotal counts stored events", async () => {
    const { hub, clock } = createHub({ bufferSize: 100 });
    await captureNames(
      hub,
      Array.from({ length: 15 }, () => "e"),
    );
    clock.advance(5000);
    await captureNames(
      hub,
      Array.from({ length: 5 }, () => "e"),
    );
    expect(hub.metrics()).toMatchObject({ eventsPerSecond: 2, eventsTotal: 20 });
    clock.advance(5000); // the first 15 are now 10 s old
    expect(hub.metrics()).toMatchObject({ eventsPerSecond: 0.5, eventsTotal: 20 });
    clock.advance(5000);
    expect(hub.metrics()).toMatchObject({ eventsPerSecond: 0, eventsTotal: 20 });
  });
});

describe("Hub: live users, dashboard and persons", () => {
  it("counts live users by receive time, per environment or all together", async () => {
    const { hub, clock } = createHub();
    await captureInto(hub, [
      {
        event: "e",
        distinctId: "alice",
        timestamp: new Date(T0 - 3_600_000).toISOString(),
        properties: { $current_url: "https://x.test/a" },
      },
      { event: "e", distinctId: "bob", environment: "staging", sessionId: "s-bob" },
    ]);
    expect([
      hub.views.liveUserCount(),
      hub.views.liveUserCount("production"),
      hub.views.liveUserCount("staging"),
      hub.views.liveUserCount("dev"),
    ]).toEqual([2, 1, 1, 0]);
    expect(hub.views.liveUserList(10)).toEqual([
      { distinctId: "bob", sessionId: "s-bob", currentUrl: null, lastSeen: T0 },
      { distinctId: "alice", sessionId: null, currentUrl: "https://x.test/a", lastSeen: T0 },
    ]);
    expect(hub.views.liveUserList(1).map((u) => u.distinctId)).toEqual(["bob"]);
    clock.advance(30_000);
    await captureInto(hub, [{ event: "e", distinctId: "alice" }]);
    clock.advance(40_000);
    expect([hub.views.liveUserCount(), hub.views.liveUserCount("staging")]).toEqual([1, 0]);
    expect(hub.views.liveUserList(10)).toEqual([
      { distinctId: "alice", sessionId: null, currentUrl: "https://x.test/a", lastSeen: T0 + 30_000 },
    ]);
    expectBadInput(() => hub.views.liveUserList(-1), "limit");
  });

  it("keeps the dashboard windows", async () => {
    const { hub, clock } = createHub({ bufferSize: 20 });
    await captureInto(hub, [
      { event: "$pageview", distinctId: "a", properties: { $current_url: "https://x.test/pricing?x=1" } },
      { event: "$pageview", distinctId: "b", properties: { $pathname: "/pricing" } },
      { event: "$pageview", distinctId: "c", properties: { $pathname: "/docs" }, environment: "staging" },
      { event: "click", distinctId: "a", properties: { $pathname: "/ignored" } },
    ]);
    expect(hub.views.eventCounts(50)).toEqual([
      { event: "$pageview", count: 3 },
      { event: "click", count: 1 },
    ]);
    expect(hub.views.eventCounts(50, "staging")).toEqual([{ event: "$pageview", count: 1 }]);
    expect(hub.views.topPages(10)).toEqual([
      { path: "/pricing", count: 2 },
      { path: "/docs", count: 1 },
    ]);
    expect(hub.views.topPages(1)).toEqual([{ path: "/pricing", count: 2 }]);
    expect(hub.views.topPages(10, "production")).toEqual([{ path: "/pricing", count: 2 }]);
    expectBadInput(() => hub.views.topPages(-1), "limit");
    clock.advance(60_000);
    expect([hub.views.eventCounts(50), hub.views.topPages(10)]).toEqual([[], []]);
  });

  it("merges persons from $set and $set_once, with first and last seen by receive time", async () => {
    const { hub, clock } = createHub();
    await captureInto(hub, [{ event: "e", distinctId: "alice", properties: { $set: { plan: "free" }, $set_once: { referrer: "ad" } } }]);
    clock.advance(1000);
    await captureInto(hub, [{ event: "e", distinctId: "alice", properties: { $set: { plan: "pro" }, $set_once: { referrer: "other" } } }]);
    expect(hub.views.person("alice")).toEqual({
      distinctId: "alice",
      properties: { plan: "pro", referrer: "ad" },
      firstSeen: T0,
      lastSeen: T0 + 1000,
    });
    expect(hub.views.person("nobody")).toBeUndefined();
  });

  it("drops the least recently seen person past personsCapacity", async () => {
    const { hub } = createHub({ personsCapacity: 2 });
    await captureInto(
      hub,
      ["a", "b", "c"].map((distinctId) => ({ event: "e", distinctId })),
    );
    expect(["a", "b", "c"].map((id) => hub.views.person(id)?.distinctId ?? null)).toEqual([null, "b", "c"]);
  });
});

describe("Hub.restore", () => {
  const restored = [
    storedEvent({ seq: 11, id: ID_A, event: "r1", distinctId: "alice", receivedAt: T0 - 10_000, properties: { $set: { plan: "pro" } } }),
    storedEvent({ seq: 12, id: ID_B, event: "r2", distinctId: "bob", receivedAt: T0 - 5000, environment: "staging" }),
  ];

  it("brings back the buffer, positions, live users, windows and persons without delivering anything", async () => {
    const { hub } = createHub();
    const sub = hub.stream.subscribe({});
    const pending = sub.next();
    hub.restore(restored, 10);
    expect(await isSettled(pending)).toBe(false);
    expect(names(hub.stream.recent(10))).toEqual(["r2", "r1"]);
    expect(hub.stream.lastPosition).toBe(12);
    expect([hub.views.liveUserCount(), hub.views.liveUserCount("staging")]).toEqual([2, 1]);
    expect(hub.views.eventCounts(50)).toEqual([
      { event: "r1", count: 1 },
      { event: "r2", count: 1 },
    ]);
    expect(hub.views.person("alice")).toEqual({
      distinctId: "alice",
      properties: { plan: "pro" },
      firstSeen: T0 - 10_000,
      lastSeen: T0 - 10_000,
    });
    // Capture continues after the restored positions, and the live subscriber gets only the new event.
    const { events } = await captureNames(hub, ["new"]);
    expect(events[0]!.seq).toBe(13);
    expect(show((await pending).value as Delivery)).toBe("new");
    await sub.return();
  });

  it("restored ids are duplicates, and restored cursors resume", async () => {
    const { hub } = createHub();
    hub.restore(restored, 10);
    const outcome = await captureInto(hub, [{ event: "again", distinctId: "alice", id: ID_A }]);
    expect([outcome.accepted, outcome.duplicates, outcome.events[0]!.seq]).toEqual([0, 1, 11]);
    const sub = hub.stream.subscribe({ after: encodeCursor(11) });
    expect(await take(sub, 1)).toEqual(["r2"]);
    await sub.return();
  });

  it("a cursor the snapshot had already dropped resumes with a gap; one at its edge without", async () => {
    const { hub } = createHub();
    hub.restore(restored, 10);
    const lost = hub.stream.subscribe({ after: encodeCursor(9) });
    expect(await take(lost, 2)).toEqual(["r1!", "r2"]);
    const edge = hub.stream.subscribe({ after: encodeCursor(10) });
    expect(await take(edge, 2)).toEqual(["r1", "r2"]);
    await Promise.all([lost.return(), edge.return()]);
  });

  it("after a crash, skips the positions lost events may hold: their cursors resume at the new events, with a gap", async () => {
    const { hub } = createHub();
    hub.restore(restored, 10, [], { lostPositions: 1000 });
    expect(hub.stream.lastPosition).toBe(1012);
    const { events } = await captureNames(hub, ["new"]);
    expect(events[0]!.seq).toBe(1013);
    // A client that had received a lost event (position 14), one at the newest restored event, one from before it.
    const fromLost = hub.stream.subscribe({ after: encodeCursor(14) });
    const fromNewest = hub.stream.subscribe({ after: encodeCursor(12) });
    const fromBefore = hub.stream.subscribe({ after: encodeCursor(11) });
    expect(await take(fromLost, 1)).toEqual(["new!"]);
    expect(await take(fromNewest, 1)).toEqual(["new!"]);
    expect(await take(fromBefore, 2)).toEqual(["r2", "new"]);
    await Promise.all([fromLost.return(), fromNewest.return(), fromBefore.return()]);
  });

  it("remembers every lost stretch (a crash, then jumps in a shared stream): a cursor in any of them resumes with a gap", async () => {
    const { hub } = createHub({ bufferSize: 100 });
    hub.restore(restored, 10, [], { lostPositions: 1000 });
    // A shared stream that skipped more often than the stream keeps separate stretches: the oldest merge.
    for (let i = 0; i < 40; i++) {
      const from = hub.stream.lastPosition;
      hub.stream.markLost(from, from + 100);
      hub.stream.apply(storedEvent({ seq: from + 101, event: `j${i}` }));
    }
    const fromCrash = hub.stream.subscribe({ after: encodeCursor(14) });
    const fromFirstJump = hub.stream.subscribe({ after: encodeCursor(1012 + 50) });
    const fromLastJump = hub.stream.subscribe({ after: encodeCursor(hub.stream.lastPosition - 1) });
    const fromLastEvent = hub.stream.subscribe({ after: encodeCursor(hub.stream.lastPosition) });
    await captureNames(hub, ["new"]);
    expect((await take(fromCrash, 1))[0]).toBe("j0!");
    expect((await take(fromFirstJump, 1))[0]).toBe("j0!");
    expect(await take(fromLastJump, 1)).toEqual(["j39!"]);
    expect(await take(fromLastEvent, 1)).toEqual(["new"]);
    await Promise.all([fromCrash.return(), fromFirstJump.return(), fromLastJump.return(), fromLastEvent.return()]);
  });

  it("restoring more than the buffer holds keeps the newest and records the evicted positions", async () => {
    const { hub } = createHub({ bufferSize: 2 });
    hub.restore([1, 2, 3, 4].map((seq) => storedEvent({ seq, event: `s${seq}` })));
    expect(names(hub.stream.bufferedEvents())).toEqual(["s3", "s4"]);
    expect(hub.stream.lastPosition).toBe(4);
    const sub = hub.stream.subscribe({ after: encodeCursor(1) });
    expect(await take(sub, 2)).toEqual(["s3!", "s4"]);
    await sub.return();
  });

  it("an empty snapshot that had dropped events still issues positions after them", async () => {
    const { hub } = createHub();
    hub.restore([], 7);
    expect(hub.stream.lastPosition).toBe(7);
    const { events } = await captureNames(hub, ["a"]);
    expect(events[0]!.seq).toBe(8);
    const sub = hub.stream.subscribe({ after: encodeCursor(3) });
    expect(await take(sub, 1)).toEqual(["a!"]);
    await sub.return();
  });
});

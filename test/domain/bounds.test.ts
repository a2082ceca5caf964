import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_VIEW_BOUNDS } from "../../src/domain/bounds.ts";
import { ManualClock } from "../../src/domain/clock.ts";
import { DashboardWindows } from "../../src/domain/dashboard.ts";
import type { JsonObject } from "../../src/domain/event.ts";
import { LiveUsers } from "../../src/domain/live-users.ts";
import { Persons } from "../../src/domain/persons.ts";
import { RecentlyActive } from "../../src/domain/recently-active.ts";
import { SlidingCounts } from "../../src/domain/sliding-counts.ts";
import { captureInto, createHub, storedEvent, T0 } from "./helpers.ts";

/** Memory must stay at the bounds whatever stream of new keys comes in: 20,000 of each kind here. */
const FLOOD = 20_000;

describe("environments: at most PULSE_MAX_ENVIRONMENTS have their own views", () => {
  it("20,000 new environment names through the hub keep 1,000 per-environment views; all-environments totals stay exact", async () => {
    const { hub, clock } = createHub({ bufferSize: 100, personsCapacity: 100_000 });
    for (let batch = 0; batch < FLOOD / 1000; batch++) {
      const inputs = Array.from({ length: 1000 }, (_, i) => ({
        event: "flood",
        distinctId: `u${batch * 1000 + i}`,
        environment: `env-${batch * 1000 + i}`,
      }));
      await captureInto(hub, inputs);
      clock.advance(1000);
    }
    const { dashboard, liveUsers } = hub.views.stats();
    expect(dashboard.environments).toBe(DEFAULT_VIEW_BOUNDS.maxEnvironments);
    expect(dashboard.environmentsEvicted).toBe(FLOOD - DEFAULT_VIEW_BOUNDS.maxEnvironments);
    expect(liveUsers.environments).toBe(DEFAULT_VIEW_BOUNDS.maxEnvironments);
    expect(liveUsers.environmentsEvicted).toBe(FLOOD - DEFAULT_VIEW_BOUNDS.maxEnvironments);
    // The least recently active environment's views are gone; the newest are whole; all together are exact.
    expect(hub.views.eventCounts(50, "env-0")).toEqual([]);
    expect(hub.views.liveUserCount("env-0")).toBe(0);
    expect(hub.views.eventCounts(50, `env-${FLOOD - 1}`)).toEqual([{ event: "flood", count: 1 }]);
    expect(hub.views.liveUserCount(`env-${FLOOD - 1}`)).toBe(1);
    expect(hub.views.eventCounts(50)).toEqual([{ event: "flood", count: FLOOD }]);
    expect(hub.views.liveUserCount()).toBe(FLOOD);
    expect(hub.views.timeline(1)[0]?.events).toBe(FLOOD);
    // An evicted environment that comes back starts from its next event.
    await captureInto(hub, [{ event: "back", distinctId: "u0", environment: "env-0" }]);
    expect(hub.views.eventCounts(50, "env-0")).toEqual([{ event: "back", count: 1 }]);
    expect(hub.views.stats().dashboard.environments).toBe(DEFAULT_VIEW_BOUNDS.maxEnvironments);
  });

  it("evicts the least recently active environment, not the oldest created, and reads are not activity", () => {
    const windows = new DashboardWindows(60, { maxEnvironments: 2, maxTrackedNames: 10 });
    windows.record(storedEvent({ event: "a", environment: "production", receivedAt: T0 }));
    windows.record(storedEvent({ event: "a", environment: "staging", receivedAt: T0 }));
    windows.record(storedEvent({ event: "b", environment: "production", receivedAt: T0 + 1 }));
    expect(windows.eventCounts(T0 + 1, "staging")).toHaveLength(1); // a read: staging stays the least recently active
    windows.record(storedEvent({ event: "a", environment: "dev", receivedAt: T0 + 2 }));
    expect(windows.eventCounts(T0 + 2, "staging")).toEqual([]);
    expect(windows.eventCounts(T0 + 2, "production")).toEqual([
      { event: "a", count: 1 },
      { event: "b", count: 1 },
    ]);
    expect(windows.stats()).toMatchObject({ environments: 2, environmentsEvicted: 1 });
  });

  it("live users: the same bound, the same order", () => {
    const users = new LiveUsers(60_000, { maxEnvironments: 2 });
    for (const [i, environment] of ["a", "b", "a", "c"].entries()) {
      users.touch(environment, { distinctId: `u${i}`, at: T0 + i, sessionId: null, currentUrl: null });
    }
    expect([users.count(T0 + 4, "a"), users.count(T0 + 4, "b"), users.count(T0 + 4, "c")]).toEqual([2, 0, 1]);
    expect(users.count(T0 + 4)).toBe(4);
    expect(users.stats()).toMatchObject({ environments: 2, environmentsEvicted: 1 });
  });

  it("RecentlyActive refuses a capacity that is not a positive integer", () => {
    for (const capacity of [0, -1, 1.5, Number.NaN]) expect(() => new RecentlyActive(capacity, () => 0)).toThrow(RangeError);
  });
});

describe("event names and paths: at most PULSE_MAX_TRACKED_NAMES per window", () => {
  it("20,000 new event names keep 10,000 counted; the rest are counted as untracked until names leave the window", () => {
    const clock = new ManualClock(T0);
    const windows = new DashboardWindows(60);
    for (let i = 0; i < FLOOD; i++) windows.record(storedEvent({ event: `name-${i}`, receivedAt: clock.now(), environment: "production" }));
    const stats = windows.stats();
    expect(stats.maxEventNamesPerWindow).toBe(DEFAULT_VIEW_BOUNDS.maxTrackedNames);
    expect(stats.untrackedEvents).toBe(FLOOD - DEFAULT_VIEW_BOUNDS.maxTrackedNames);
    // Names already counted keep counting past the bound.
    windows.record(storedEvent({ event: "name-0", receivedAt: clock.now() }));
    expect(windows.eventCounts(clock.now(), null, 1)).toEqual([{ event: "name-0", count: 2 }]);
    expect(windows.eventCounts(clock.now(), "production", 50)).toHaveLength(50);
    // Once the window has passed, new names are counted again.
    clock.advance(60_000);
    windows.record(storedEvent({ event: "fresh", receivedAt: clock.now() }));
    expect(windows.eventCounts(clock.now())).toEqual([{ event: "fresh", count: 1 }]);
    expect(windows.stats().maxEventNamesPerWindow).toBe(1);
  });

  it("20,000 new page paths keep 10,000 counted", () => {
    const windows = new DashboardWindows(60);
    for (let i = 0; i < FLOOD; i++)
      windows.record(storedEvent({ event: "$pageview", receivedAt: T0, properties: { $pathname: `/p/${i}` } }));
    const stats = windows.stats();
    expect(stats.maxPathsPerWindow).toBe(DEFAULT_VIEW_BOUNDS.maxTrackedNames);
    expect(stats.untrackedPageviews).toBe(FLOOD - DEFAULT_VIEW_BOUNDS.maxTrackedNames);
    expect(windows.eventCounts(T0)).toEqual([{ event: "$pageview", count: FLOOD }]);
    expect(windows.topPages(T0, 3).map((p) => p.path)).toEqual(["/p/0", "/p/1", "/p/10"]);
  });

  it("ranked(limit) is the first `limit` of the fully sorted counts", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom("a", "b", "c", "d", "e", "f", "g"), fc.integer({ min: 1, max: 3 }))),
        fc.nat(9),
        (records, limit) => {
          const counts = new SlidingCounts(60);
          for (const [key, amount] of records) counts.record(key, T0, amount);
          expect(counts.ranked(T0, limit)).toEqual(counts.ranked(T0).slice(0, limit));
        },
      ),
    );
  });
});

describe("live users: at most PULSE_PERSONS_MAX per view", () => {
  it("20,000 new users keep the bound, the most recently seen first", () => {
    const users = new LiveUsers(60_000, { maxUsers: 1000 });
    for (let i = 0; i < FLOOD; i++) users.touch("production", { distinctId: `u${i}`, at: T0 + i, sessionId: null, currentUrl: null });
    expect(users.stats().maxUsersPerView).toBe(1000);
    expect(users.count(T0 + FLOOD)).toBe(1000);
    expect(users.list(T0 + FLOOD, 1)[0]?.distinctId).toBe(`u${FLOOD - 1}`);
  });
});

describe("person properties: PULSE_MAX_PERSON_PROPERTIES and PULSE_MAX_PERSON_BYTES", () => {
  const keys = (from: number, count: number): JsonObject =>
    Object.fromEntries(Array.from({ length: count }, (_, i) => [`k${from + i}`, i]));

  it("a person sent 20,000 keys keeps 1,000; new keys past it are dropped and counted, existing ones still update", () => {
    const persons = new Persons(10);
    for (let from = 0; from < FLOOD; from += 1000) persons.touch("alice", T0, { $set: keys(from, 1000) });
    expect(persons.footprint("alice")?.properties).toBe(DEFAULT_VIEW_BOUNDS.maxPersonProperties);
    expect(Object.keys(persons.get("alice")!.properties)).toHaveLength(1000);
    expect(persons.stats()).toEqual({ persons: 1, droppedPropertyWrites: FLOOD - 1000, personsAtPropertyLimit: 1 });
    persons.touch("alice", T0 + 1, { $set: { k0: "updated", brandNew: 1 }, $set_once: { k1: "ignored", alsoNew: 2 } });
    const properties = persons.get("alice")!.properties;
    expect([properties["k0"], properties["k1"], "brandNew" in properties, "alsoNew" in properties]).toEqual(["updated", 1, false, false]);
    expect(persons.stats().personsAtPropertyLimit).toBe(1); // once per person
  });

  it("keeps the properties' JSON within maxPersonBytes, exactly measured; a shrinking write still applies", () => {
    const persons = new Persons(10, { maxPersonBytes: 1024 });
    for (let i = 0; i < 20; i++) persons.touch("bob", T0, { $set: { [`big${i}`]: "é".repeat(100) } });
    const footprint = persons.footprint("bob")!;
    const json = JSON.stringify(persons.get("bob")!.properties);
    expect(footprint.bytes).toBe(Buffer.byteLength(json));
    expect(footprint.bytes).toBeLessThanOrEqual(1024);
    expect(persons.stats().droppedPropertyWrites).toBeGreaterThan(0);
    persons.touch("bob", T0, { $set: { big0: "x".repeat(5000) } });
    expect(persons.get("bob")!.properties["big0"]).toBe("é".repeat(100)); // would grow past the bound: dropped
    persons.touch("bob", T0, { $set: { big0: "small" } });
    expect(persons.get("bob")!.properties["big0"]).toBe("small");
    expect(persons.footprint("bob")!.bytes).toBe(Buffer.byteLength(JSON.stringify(persons.get("bob")!.properties)));
  });

  it("__proto__, constructor and toString are stored and returned like any key, and pollute nothing", () => {
    const persons = new Persons(10);
    const sent = '{"__proto__": {"polluted": true}, "constructor": "c", "toString": "t", "hasOwnProperty": 1}';
    const $set = JSON.parse(sent) as JsonObject;
    persons.touch("eve", T0, { $set });
    persons.touch("eve", T0 + 1, { $set_once: JSON.parse('{"__proto__": "second", "valueOf": "v"}') as JsonObject });
    const properties = persons.get("eve")!.properties;
    expect(Object.keys(properties).sort()).toEqual(["__proto__", "constructor", "hasOwnProperty", "toString", "valueOf"]);
    expect(Object.getOwnPropertyDescriptor(properties, "__proto__")?.value).toEqual({ polluted: true });
    expect(JSON.stringify(properties)).toBe(
      '{"__proto__":{"polluted":true},"constructor":"c","toString":"t","hasOwnProperty":1,"valueOf":"v"}',
    );
    expect(Object.getPrototypeOf(properties)).toBeNull();
    expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined();
  });

  it("a restored person keeps those keys and stays bounded", () => {
    const persons = new Persons(10, { maxPersonProperties: 3 });
    const properties = JSON.parse('{"__proto__": 1, "constructor": 2, "toString": 3, "extra": 4}') as JsonObject;
    persons.restore({ distinctId: "eve", properties, firstSeen: T0, lastSeen: T0 });
    expect(Object.keys(persons.get("eve")!.properties).sort()).toEqual(["__proto__", "constructor", "extra", "toString"]);
    persons.touch("eve", T0 + 1, { $set: { more: 5, toString: 30 } });
    expect(Object.getOwnPropertyDescriptor(persons.get("eve")!.properties, "toString")?.value).toBe(30);
    expect("more" in persons.get("eve")!.properties).toBe(false);
  });
});

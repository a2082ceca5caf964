import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  breakdownOfEvents,
  breakdownValue,
  ENTRY_SESSIONS_PER_VALUE,
  MAX_BREAKDOWN_VALUE_LENGTH,
  TRACKED_PROPERTIES,
  type BreakdownRow,
} from "../../src/domain/breakdown.ts";
import { DashboardWindows } from "../../src/domain/dashboard.ts";
import type { JsonObject, StoredEvent } from "../../src/domain/event.ts";
import { SpaceSaving } from "../../src/domain/space-saving.ts";
import { countUsers, hashUser, USER_SKETCH_SIZE, UserSketch } from "../../src/domain/user-sketch.ts";
import { storedEvent, T0 } from "./helpers.ts";

const MINUTE = 60_000;

function event(overrides: Partial<StoredEvent> & { properties?: JsonObject }): StoredEvent {
  return storedEvent({ receivedAt: T0, ...overrides });
}

/** The breakdown counted by hand: every event with a value, in the window, exact. */
function bruteForce(events: readonly StoredEvent[], property: string, nowMs: number, minutes: number): BreakdownRow[] {
  const from = (Math.floor(nowMs / MINUTE) - minutes + 1) * MINUTE;
  const inWindow = events.filter((e) => e.receivedAt >= from && e.receivedAt < (Math.floor(nowMs / MINUTE) + 1) * MINUTE);
  const rows = new Map<string, { events: number; users: Set<string> }>();
  const count = (value: string, distinctId: string) => {
    const row = rows.get(value) ?? { events: 0, users: new Set<string>() };
    row.events++;
    row.users.add(distinctId);
    rows.set(value, row);
  };
  if (property === "$entry_pathname") {
    const seen = new Set<string>();
    for (const e of [...inWindow].sort((a, b) => a.receivedAt - b.receivedAt || a.seq - b.seq)) {
      const path = breakdownValue(e, "$pathname");
      if (e.event !== "$pageview" || e.sessionId === null || path === null || seen.has(e.sessionId)) continue;
      seen.add(e.sessionId);
      count(path, e.distinctId);
    }
  } else {
    for (const e of inWindow) {
      const value = breakdownValue(e, property);
      if (value !== null) count(value, e.distinctId);
    }
  }
  return [...rows]
    .map(([value, row]) => ({ value, events: row.events, users: row.users.size, approximate: false }))
    .sort((a, b) => b.events - a.events || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
}

describe("breakdownValue", () => {
  it("shows strings as they are, numbers and booleans as strings, and nothing for absent, null, objects and lists", () => {
    const e = event({
      properties: { s: "pro", n: 3, f: 1.5, t: true, no: false, nil: null, o: { a: 1 }, l: [1], empty: "", inf: "Infinity" },
    });
    expect(["s", "n", "f", "t", "no", "empty", "inf"].map((p) => breakdownValue(e, p))).toEqual([
      "pro",
      "3",
      "1.5",
      "true",
      "false",
      "",
      "Infinity",
    ]);
    expect(["nil", "o", "l", "absent", "toString", "__proto__", "constructor"].map((p) => breakdownValue(e, p))).toEqual([
      null,
      null,
      null,
      null,
      null,
      null,
      null,
    ]);
  });

  it("reads event, distinctId and environment from the event itself, before any property of that name", () => {
    const e = event({ event: "signup", distinctId: "ada", environment: "staging", properties: { event: "x", environment: "y" } });
    expect(["event", "distinctId", "environment"].map((p) => breakdownValue(e, p))).toEqual(["signup", "ada", "staging"]);
  });

  it("takes $pathname, else the path of $current_url, as topPages does", () => {
    expect(breakdownValue(event({ properties: { $pathname: "/a", $current_url: "https://x.test/b" } }), "$pathname")).toBe("/a");
    expect(breakdownValue(event({ properties: { $current_url: "https://x.test/b/c?q=1#h" } }), "$pathname")).toBe("/b/c");
    expect(breakdownValue(event({ properties: { $pathname: "" } }), "$pathname")).toBeNull();
  });

  it(`cuts values to ${MAX_BREAKDOWN_VALUE_LENGTH} characters`, () => {
    const long = "x".repeat(10_000);
    expect(breakdownValue(event({ properties: { p: long } }), "p")).toBe("x".repeat(MAX_BREAKDOWN_VALUE_LENGTH));
  });
});

describe("DashboardWindows.breakdown: tracked at capture", () => {
  it("counts events and distinct users per value, most events first, ties by value", () => {
    const windows = new DashboardWindows(60);
    const browsers: [string, string][] = [
      ["Chrome", "ada"],
      ["Chrome", "ada"],
      ["Chrome", "bob"],
      ["Firefox", "cy"],
      ["Safari", "di"],
      ["Edge", "ed"],
    ];
    for (const [$browser, distinctId] of browsers) windows.record(event({ distinctId, properties: { $browser } }));
    windows.record(event({ properties: {} }));
    expect(windows.breakdown(T0, "$browser", 1, 10)).toEqual([
      { value: "Chrome", events: 3, users: 2, approximate: false },
      { value: "Edge", events: 1, users: 1, approximate: false },
      { value: "Firefox", events: 1, users: 1, approximate: false },
      { value: "Safari", events: 1, users: 1, approximate: false },
    ]);
    expect(windows.breakdown(T0, "$browser", 1, 2)?.map((r) => r.value)).toEqual(["Chrome", "Edge"]);
    expect(windows.breakdown(T0, "$browser", 1, 0)).toEqual([]);
    expect(windows.breakdown(T0, "plan", 1, 10)).toBeUndefined();
  });

  it("sums whole minutes ending with the current one, as the timeline does, and forgets minutes past 60", () => {
    const windows = new DashboardWindows(60);
    windows.record(event({ receivedAt: T0, properties: { $os: "Linux" } }));
    windows.record(event({ receivedAt: T0 + 2 * MINUTE + 59_999, properties: { $os: "Linux" } }));
    windows.record(event({ receivedAt: T0 + 3 * MINUTE, properties: { $os: "Mac OS X" } }));
    const now = T0 + 3 * MINUTE + 30_000;
    expect(windows.breakdown(now, "$os", 1, 10)).toEqual([{ value: "Mac OS X", events: 1, users: 1, approximate: false }]);
    expect(windows.breakdown(now, "$os", 2, 10)?.map((r) => [r.value, r.events])).toEqual([
      ["Linux", 1],
      ["Mac OS X", 1],
    ]);
    expect(windows.breakdown(now, "$os", 4, 10)?.map((r) => [r.value, r.events])).toEqual([
      ["Linux", 2],
      ["Mac OS X", 1],
    ]);
    expect(windows.breakdown(T0 + 60 * MINUTE, "$os", 60, 10)?.map((r) => [r.value, r.events])).toEqual([
      ["Linux", 1],
      ["Mac OS X", 1],
    ]);
    expect(windows.breakdown(T0 + 63 * MINUTE, "$os", 60, 10)).toEqual([]);
  });

  it("keeps each environment's own breakdowns, and answers environment from the all-environments view", () => {
    const windows = new DashboardWindows(60);
    windows.record(event({ environment: "production", distinctId: "a", properties: { $source: "Google" } }));
    windows.record(event({ environment: "production", distinctId: "b", properties: { $source: "Google" } }));
    windows.record(event({ environment: "staging", distinctId: "a", properties: { $source: "Direct" } }));
    expect(windows.breakdown(T0, "$source", 1, 10, "staging")?.map((r) => r.value)).toEqual(["Direct"]);
    expect(windows.breakdown(T0, "$source", 1, 10)?.map((r) => [r.value, r.events])).toEqual([
      ["Google", 2],
      ["Direct", 1],
    ]);
    expect(windows.breakdown(T0, "environment", 1, 10)).toEqual([
      { value: "production", events: 2, users: 2, approximate: false },
      { value: "staging", events: 1, users: 1, approximate: false },
    ]);
    expect(windows.breakdown(T0, "environment", 1, 10, "staging")).toEqual([{ value: "staging", events: 1, users: 1, approximate: false }]);
    expect(windows.breakdown(T0, "$source", 1, 10, "nowhere")).toEqual([]);
  });

  it("counts each session once at the path of its first $pageview in the window ($entry_pathname)", () => {
    const windows = new DashboardWindows(60);
    const pageview = (sessionId: string | null, path: string, receivedAt: number, distinctId = "u") =>
      windows.record(
        event({ event: "$pageview", sessionId, distinctId, receivedAt, properties: { $current_url: `https://x.test${path}` } }),
      );
    pageview("s1", "/", T0);
    pageview("s1", "/pricing", T0 + 1000);
    pageview("s2", "/blog", T0 + 2000, "v");
    pageview("s1", "/docs", T0 + MINUTE);
    pageview("s3", "/docs", T0 + MINUTE, "w");
    pageview(null, "/no-session", T0 + MINUTE);
    windows.record(event({ event: "click", sessionId: "s4", receivedAt: T0 + MINUTE, properties: { $pathname: "/clicked" } }));
    expect(windows.breakdown(T0 + MINUTE, "$entry_pathname", 2, 10)).toEqual([
      { value: "/", events: 1, users: 1, approximate: false },
      { value: "/blog", events: 1, users: 1, approximate: false },
      { value: "/docs", events: 1, users: 1, approximate: false },
    ]);
    // Over the last minute alone, s1 entered at /docs.
    expect(windows.breakdown(T0 + MINUTE, "$entry_pathname", 1, 10)).toEqual([{ value: "/docs", events: 2, users: 2, approximate: false }]);
  });

  it("equals a brute-force count over the same events while under the bounds", () => {
    const property = fc.constantFrom(...TRACKED_PROPERTIES, "$entry_pathname");
    const anEvent = fc.record({
      minute: fc.integer({ min: 0, max: 70 }),
      second: fc.integer({ min: 0, max: 59_999 }),
      event: fc.constantFrom("$pageview", "click", "signup"),
      distinctId: fc.constantFrom("a", "b", "c", "d", "e"),
      sessionId: fc.option(fc.constantFrom("s1", "s2", "s3", "s4"), { nil: null }),
      environment: fc.constantFrom("production", "staging"),
      properties: fc.record(
        {
          $pathname: fc.constantFrom("/", "/a", "/b", "/c"),
          $current_url: fc.constantFrom("https://x.test/u", "https://x.test/v?q"),
          $source: fc.constantFrom("Google", "Direct", "GitHub"),
          $browser: fc.constantFrom("Chrome", "Firefox", 3, true),
          $geoip_country_code: fc.constantFrom("US", "FR", "DE", null),
          utm_source: fc.constantFrom("newsletter", { nested: 1 }),
          $device_type: fc.constantFrom("Desktop", "Mobile", "Tablet"),
        },
        { requiredKeys: [] },
      ),
    });
    fc.assert(
      fc.property(
        fc.array(anEvent, { maxLength: 80 }),
        property,
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 0, max: 15 }),
        fc.option(fc.constantFrom("production", "staging"), { nil: null }),
        (inputs, property, minutes, later, environment) => {
          const events = inputs
            .map((input, seq) => storedEvent({ ...input, seq: seq + 1, receivedAt: T0 + input.minute * MINUTE + input.second }))
            .sort((a, b) => a.receivedAt - b.receivedAt);
          const windows = new DashboardWindows(60);
          for (const e of events) windows.record(e);
          // Time only moves forward: the dashboard is read at or after its newest event.
          const now = T0 + (Math.max(0, ...inputs.map((input) => input.minute)) + later) * MINUTE + 59_999;
          const recorded = events.filter((e) => environment === null || e.environment === environment);
          const expected = bruteForce(recorded, property, now, minutes);
          expect(windows.breakdown(now, property, minutes, 100, environment)).toEqual(expected);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("stays within Space-Saving's error bound past PULSE_BREAKDOWN_MAX_VALUES, and says approximate", () => {
    const maxValues = 4;
    fc.assert(
      fc.property(
        fc.array(fc.record({ minute: fc.integer({ min: 0, max: 4 }), value: fc.integer({ min: 0, max: 12 }), user: fc.nat(30) }), {
          minLength: 1,
          maxLength: 300,
        }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 8 }),
        (inputs, minutes, limit) => {
          const windows = new DashboardWindows(60, { maxBreakdownValues: maxValues });
          const events = inputs
            .map((input, i) =>
              storedEvent({
                seq: i + 1,
                distinctId: `u${input.user}`,
                receivedAt: T0 + input.minute * MINUTE,
                properties: { $os: `os-${input.value}` },
              }),
            )
            .sort((a, b) => a.receivedAt - b.receivedAt);
          for (const e of events) windows.record(e);
          const now = T0 + 4 * MINUTE;
          const truth = bruteForce(events, "$os", now, minutes);
          const total = truth.reduce((sum, row) => sum + row.events, 0);
          const bound = total / maxValues;
          const rows = windows.breakdown(now, "$os", minutes, limit)!;
          const trueCount = (value: string) => truth.find((row) => row.value === value)?.events ?? 0;
          const distinctPerMinute = new Map<number, Set<string>>();
          for (const e of events.filter((e) => e.receivedAt >= now - (minutes - 1) * MINUTE)) {
            const set = distinctPerMinute.get(e.receivedAt) ?? new Set<string>();
            set.add(e.properties["$os"] as string);
            distinctPerMinute.set(e.receivedAt, set);
          }
          const overflowed = [...distinctPerMinute.values()].some((set) => set.size > maxValues);
          for (const row of rows) {
            expect(Math.abs(row.events - trueCount(row.value))).toBeLessThanOrEqual(bound);
            expect(row.users).toBeLessThanOrEqual(row.events);
            expect(row.approximate).toBe(overflowed);
          }
          if (!overflowed) expect(rows).toEqual(truth.slice(0, limit));
          // Whatever was left out was counted at most 2 × bound more often than anything shown.
          const shown = new Set(rows.map((row) => row.value));
          const leastShown = Math.min(...rows.map((row) => trueCount(row.value)));
          if (rows.length === limit) {
            for (const row of truth) if (!shown.has(row.value)) expect(row.events).toBeLessThanOrEqual(leastShown + 2 * bound);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("keeps breakdowns for PULSE_BREAKDOWN_MAX_ENVIRONMENTS environments, and leaves older windows of a re-made one to the buffer", () => {
    const windows = new DashboardWindows(60, { maxBreakdownEnvironments: 2 });
    const visit = (environment: string, at: number) =>
      windows.record(event({ event: "$pageview", distinctId: "u", environment, receivedAt: at, properties: { $browser: "Chrome" } }));
    visit("a", T0);
    visit("b", T0);
    expect(windows.breakdown(T0, "$browser", 1, 10, "a")).toEqual([{ value: "Chrome", events: 1, users: 1, approximate: false }]);
    visit("c", T0 + MINUTE);
    expect(windows.stats().breakdownEnvironments).toBe(2);
    // a was the least recently active: dropped, its rows now come from the buffer (undefined here).
    expect(windows.breakdown(T0 + MINUTE, "$browser", 2, 10, "a")).toBeUndefined();
    expect(windows.breakdown(T0 + MINUTE, "$browser", 2, 10, "b")).toEqual([{ value: "Chrome", events: 1, users: 1, approximate: false }]);
    // a again, five minutes on: its new breakdowns answer windows from that minute, not the ones before.
    visit("a", T0 + 5 * MINUTE);
    expect(windows.breakdown(T0 + 5 * MINUTE, "$browser", 1, 10, "a")).toEqual([
      { value: "Chrome", events: 1, users: 1, approximate: false },
    ]);
    expect(windows.breakdown(T0 + 5 * MINUTE, "$browser", 6, 10, "a")).toBeUndefined();
    // The all-environments view keeps everything.
    expect(windows.breakdown(T0 + 5 * MINUTE, "$browser", 6, 10)).toEqual([{ value: "Chrome", events: 4, users: 1, approximate: false }]);
  });

  it("keeps memory at the bound under a flood of 100,000 distinct values and sessions", () => {
    const maxValues = 200;
    const windows = new DashboardWindows(60, { maxBreakdownValues: maxValues });
    for (let i = 0; i < 100_000; i++) {
      windows.record(
        event({
          event: "$pageview",
          distinctId: `user-${i}`,
          sessionId: `session-${i}`,
          receivedAt: T0 + Math.floor(i / 25_000) * MINUTE,
          properties: { $pathname: `/p/${i}`, $browser: `b${i}`, $source: "Google" },
        }),
      );
    }
    const stats = windows.stats();
    expect(stats.maxBreakdownValuesPerMinute).toBe(maxValues);
    expect(stats.maxEntrySessionsPerMinute).toBe(ENTRY_SESSIONS_PER_VALUE * maxValues);
    expect(stats.breakdownEvictions).toBe(4 * 2 * (25_000 - maxValues));
    const now = T0 + 3 * MINUTE;
    const rows = windows.breakdown(now, "$pathname", 4, 1000)!;
    expect(rows).toHaveLength(4 * maxValues);
    expect(rows.every((row) => row.approximate)).toBe(true);
    // The one frequent value is exact in events and estimated in users.
    const google = windows.breakdown(now, "$source", 4, 10)!;
    expect(google).toHaveLength(1);
    expect(google[0]!.events).toBe(100_000);
    expect(google[0]!.approximate).toBe(true);
    expect(Math.abs(google[0]!.users - 100_000) / 100_000).toBeLessThan(0.4);
    const entries = windows.breakdown(now, "$entry_pathname", 4, 10_000_000)!;
    expect(entries).toHaveLength(4 * ENTRY_SESSIONS_PER_VALUE * maxValues);
    expect(entries.every((row) => row.approximate)).toBe(true);
  });
});

describe("SpaceSaving", () => {
  it("counts exactly up to its capacity, then keeps the total and at most capacity values", () => {
    const counter = new SpaceSaving(3);
    for (const value of ["a", "b", "a", "c", "a"]) counter.add(value, hashUser(value));
    expect([...counter.values()].map((c) => [c.value, c.events])).toEqual([
      ["a", 3],
      ["b", 1],
      ["c", 1],
    ]);
    expect(counter.evictions).toBe(0);
    // A flood of one-off values, with "a" every other event: more than total / capacity, so "a" is always held.
    for (let i = 0; i < 10_000; i++) counter.add(i % 2 === 0 ? "a" : `new-${i}`, i);
    expect(counter.size).toBe(3);
    expect(counter.evictions).toBe(5_000);
    expect([...counter.values()].reduce((sum, c) => sum + c.events, 0)).toBe(10_005);
    expect(counter.get("a")?.events).toBe(5_003);
  });
});

describe("UserSketch", () => {
  it(`counts exactly up to ${USER_SKETCH_SIZE} users, and estimates within about 13 % past it`, () => {
    const sketch = new UserSketch();
    for (let i = 0; i < USER_SKETCH_SIZE; i++) for (let repeat = 0; repeat < 3; repeat++) sketch.add(hashUser(`user-${i}`));
    expect(countUsers([sketch])).toEqual({ users: USER_SKETCH_SIZE, estimated: false });
    for (const n of [1_000, 20_000, 200_000]) {
      const big = new UserSketch();
      for (let i = 0; i < n; i++) big.add(hashUser(`visitor-${n}-${i}`));
      const { users, estimated } = countUsers([big]);
      expect(estimated).toBe(true);
      expect(Math.abs(users - n) / n).toBeLessThan(0.3);
    }
  });

  it("merges sketches into the count of their union", () => {
    const a = new UserSketch();
    const b = new UserSketch();
    for (let i = 0; i < 40; i++) a.add(hashUser(`u${i}`));
    for (let i = 20; i < 60; i++) b.add(hashUser(`u${i}`));
    expect(countUsers([a, b])).toEqual({ users: 60, estimated: false });
    const big = [0, 1, 2].map((part) => {
      const sketch = new UserSketch();
      for (let i = part * 5_000; i < part * 5_000 + 10_000; i++) sketch.add(hashUser(`v${i}`));
      return sketch;
    });
    const { users, estimated } = countUsers(big);
    expect(estimated).toBe(true);
    expect(Math.abs(users - 20_000) / 20_000).toBeLessThan(0.3);
  });
});

describe("breakdownOfEvents: computed from the buffer", () => {
  it("counts exactly from the window's start, newest first in, and passes the caller's approximate on", () => {
    const events = [
      event({ distinctId: "a", receivedAt: T0 + 2 * MINUTE, properties: { plan: "pro" } }),
      event({ distinctId: "b", receivedAt: T0 + MINUTE, properties: { plan: "pro" } }),
      event({ distinctId: "a", receivedAt: T0 + MINUTE, properties: { plan: 1 } }),
      event({ distinctId: "c", receivedAt: T0, properties: { plan: "free" } }),
    ];
    expect(breakdownOfEvents(events, "plan", T0 + MINUTE, 10, true)).toEqual([
      { value: "pro", events: 2, users: 2, approximate: true },
      { value: "1", events: 1, users: 1, approximate: true },
    ]);
    expect(breakdownOfEvents(events, "distinctId", T0, 1, false)).toEqual([{ value: "a", events: 2, users: 1, approximate: false }]);
  });
});

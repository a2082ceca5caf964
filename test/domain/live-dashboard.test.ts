import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { breakdownValue } from "../../src/domain/breakdown.ts";
import { compileFilter, type EventFilter } from "../../src/domain/filter.ts";
import type { DashboardView } from "../../src/domain/live-dashboard.ts";
import type { Ticks } from "../../src/domain/ticker.ts";
import { captureInto, createHub, expectBadInput, isSettled, T0 } from "./helpers.ts";

const MINUTE = 60_000;

/** A pageview with the dashboard's usual properties. */
function visit(distinctId: string, properties: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return { event: "$pageview", distinctId, properties, ...extra };
}

const CHROME: EventFilter = { properties: [{ property: "$browser", operator: "EQUALS", value: "Chrome" }] };

describe("LiveDashboards without a filter", () => {
  it("answers the existing fields from the incremental structures, as before", async () => {
    const { hub } = createHub({ bufferSize: 100 });
    await captureInto(hub, [
      visit("a", { $pathname: "/" }),
      visit("b", { $pathname: "/" }, { environment: "staging" }),
      { event: "click", distinctId: "a" },
    ]);
    for (const environment of [null, "staging"]) {
      const view = hub.dashboards.view(environment);
      expect(view.liveUsers()).toBe(hub.views.liveUserCount(environment));
      expect(view.eventCounts(50)).toEqual(hub.views.eventCounts(50, environment));
      expect(view.topPages(10)).toEqual(hub.views.topPages(10, environment));
      expect(view.timeline(3)).toEqual(hub.views.timeline(3, environment));
      expect(view.recentEvents(10)).toEqual(hub.stream.recent(10, environment === null ? null : { environment }));
    }
    expect(hub.dashboards.stats().bufferScans).toBe(0);
  });

  it("reads tracked breakdowns without touching the buffer, and counts any other property from it", async () => {
    const { hub } = createHub({ bufferSize: 100 });
    await captureInto(hub, [visit("a", { $browser: "Chrome", plan: "pro" }), visit("b", { $browser: "Firefox", plan: "pro" })]);
    const view = hub.dashboards.view(null);
    expect(view.breakdown("$browser", 10, null).map((row) => row.value)).toEqual(["Chrome", "Firefox"]);
    expect(hub.dashboards.stats().bufferScans).toBe(0);
    expect(view.breakdown("plan", 10, null)).toEqual([{ value: "pro", events: 2, users: 2, approximate: false }]);
    expect(hub.dashboards.stats().bufferScans).toBe(1);
  });

  it("treats a filter that only names the environment as no filter", async () => {
    const { hub } = createHub({ bufferSize: 100 });
    await captureInto(hub, [visit("a", {}, { environment: "staging" }), visit("b", {})]);
    expect(hub.dashboards.view(null, { environment: "staging", events: [] }).eventCounts(10)).toEqual([{ event: "$pageview", count: 1 }]);
    expect(hub.dashboards.view("staging", { environment: "staging" }).liveUsers()).toBe(1);
    expect(hub.dashboards.stats().bufferScans).toBe(0);
    // Two different environments: nothing matches both.
    expect(hub.dashboards.view("production", { environment: "staging" }).eventCounts(10)).toEqual([]);
  });
});

describe("LiveDashboards with a filter", () => {
  it("counts matching events only, in every field", async () => {
    const { hub, clock } = createHub({ bufferSize: 100 });
    await captureInto(hub, [
      visit("a", { $browser: "Chrome", $pathname: "/", $session_id: "s1" }),
      visit("b", { $browser: "Firefox", $pathname: "/pricing", $session_id: "s2" }),
    ]);
    clock.advance(MINUTE);
    await captureInto(hub, [
      visit("a", { $browser: "Chrome", $pathname: "/pricing", $session_id: "s1" }),
      { event: "click", distinctId: "c", properties: { $browser: "Chrome" } },
      visit("d", { $browser: "Chrome", $current_url: "https://x.test/docs?q=1", $session_id: "s4" }, { environment: "staging" }),
    ]);
    const view = hub.dashboards.view(null, CHROME);
    expect(view.liveUsers()).toBe(3);
    expect(view.eventCounts(10)).toEqual([
      { event: "$pageview", count: 2 },
      { event: "click", count: 1 },
    ]);
    expect(view.topPages(10)).toEqual([
      { path: "/docs", count: 1 },
      { path: "/pricing", count: 1 },
    ]);
    expect(view.timeline(2)).toEqual([
      { minute: T0, events: 1, uniqueUsers: 1 },
      { minute: T0 + MINUTE, events: 3, uniqueUsers: 3 },
    ]);
    expect(view.recentEvents(10).map((e) => e.distinctId)).toEqual(["d", "c", "a", "a"]);
    expect(view.breakdown("$entry_pathname", 10, 2)).toEqual([
      { value: "/", events: 1, users: 1, approximate: false },
      { value: "/docs", events: 1, users: 1, approximate: false },
    ]);
    expect(view.breakdown("environment", 10, 2)).toEqual([
      { value: "production", events: 3, users: 2, approximate: false },
      { value: "staging", events: 1, users: 1, approximate: false },
    ]);
    const staging = hub.dashboards.view("staging", CHROME);
    expect(staging.recentEvents(10).map((e) => e.distinctId)).toEqual(["d"]);
    expect(staging.liveUsers()).toBe(1);
  });

  it("equals a brute-force count over the matching buffered events", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            gap: fc.integer({ min: 0, max: 20_000 }),
            event: fc.constantFrom("$pageview", "click"),
            distinctId: fc.constantFrom("a", "b", "c"),
            environment: fc.constantFrom("production", "staging"),
            properties: fc.record(
              {
                $browser: fc.constantFrom("Chrome", "Firefox"),
                $pathname: fc.constantFrom("/", "/a", "/b"),
                $session_id: fc.constantFrom("s1", "s2", "s3"),
                plan: fc.constantFrom("pro", "free", 2),
              },
              { requiredKeys: [] },
            ),
          }),
          { maxLength: 40 },
        ),
        fc.constantFrom("$browser", "$pathname", "$entry_pathname", "plan", "distinctId", "event", "environment"),
        fc.integer({ min: 1, max: 5 }),
        fc.constantFrom<EventFilter>(
          CHROME,
          { events: ["$pageview"] },
          { distinctId: "a" },
          { properties: [{ property: "plan", operator: "IS_SET" }] },
        ),
        async (inputs, property, minutes, filter) => {
          const { hub, clock } = createHub({ bufferSize: 1000 });
          for (const { gap, ...input } of inputs) {
            clock.advance(gap);
            await captureInto(hub, [input]);
          }
          const now = clock.now();
          const matches = compileFilter(filter);
          const from = (Math.floor(now / MINUTE) - minutes + 1) * MINUTE;
          const events = hub.stream.bufferedEvents().filter((e) => matches(e) && e.receivedAt >= from);
          const rows = new Map<string, { events: number; users: Set<string> }>();
          const sessions = new Set<string>();
          for (const e of events) {
            let value = breakdownValue(e, property === "$entry_pathname" ? "$pathname" : property);
            if (property === "$entry_pathname") {
              if (e.event !== "$pageview" || e.sessionId === null || sessions.has(e.sessionId)) value = null;
              else if (value !== null) sessions.add(e.sessionId);
            }
            if (value === null) continue;
            const row = rows.get(value) ?? { events: 0, users: new Set<string>() };
            row.events++;
            row.users.add(e.distinctId);
            rows.set(value, row);
          }
          const expected = [...rows]
            .map(([value, row]) => ({ value, events: row.events, users: row.users.size, approximate: false }))
            .sort((a, b) => b.events - a.events || (a.value < b.value ? -1 : 1));
          expect(hub.dashboards.view(null, filter).breakdown(property, 100, minutes)).toEqual(expected);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("says approximate when the window reaches back past the oldest buffered event", async () => {
    const { hub, clock } = createHub({ bufferSize: 3 });
    for (let i = 0; i < 5; i++) {
      await captureInto(hub, [visit(`u${i}`, { $browser: "Chrome" })]);
      clock.advance(20_000);
    }
    // Five events over 80 s, three buffered (from T0 + 40 s on).
    expect(hub.dashboards.view(null, CHROME).breakdown("$browser", 10, 2)).toEqual([
      { value: "Chrome", events: 3, users: 3, approximate: true },
    ]);
    // The current minute (from T0 + 60 s) is all in the buffer.
    expect(hub.dashboards.view(null, CHROME).breakdown("$browser", 10, 1)).toEqual([
      { value: "Chrome", events: 2, users: 2, approximate: false },
    ]);
    // Without a filter, the tracked breakdown saw every event.
    expect(hub.dashboards.view(null).breakdown("$browser", 10, 2)).toEqual([{ value: "Chrome", events: 5, users: 5, approximate: false }]);
  });

  it("scans the buffer once per view, whatever its fields and readers ask", async () => {
    const { hub } = createHub({ bufferSize: 100 });
    await captureInto(hub, [visit("a", { $browser: "Chrome", $pathname: "/" })]);
    const view = hub.dashboards.view(null, CHROME);
    const first = view.breakdown("$pathname", 10, 5);
    for (let reader = 0; reader < 3; reader++) {
      view.liveUsers();
      view.eventCounts(1);
      view.topPages(5);
      view.timeline(30);
      view.recentEvents(5);
      expect(view.breakdown("$pathname", 10, 5)).toBe(first);
    }
    expect(hub.dashboards.stats().bufferScans).toBe(1);
  });
});

describe("LiveDashboards: arguments", () => {
  it("refuses out-of-range arguments with BAD_USER_INPUT, with and without a filter", () => {
    const { hub } = createHub();
    for (const view of [hub.dashboards.view(null), hub.dashboards.view(null, CHROME)]) {
      expectBadInput(() => view.breakdown("$browser", 10, 0), "minutes");
      expectBadInput(() => view.breakdown("$browser", 10, 61), "minutes");
      expectBadInput(() => view.breakdown("$browser", 10, 1.5), "minutes");
      expectBadInput(() => view.breakdown("$browser", -1, 5), "limit");
      expectBadInput(() => view.breakdown("", 10, 5), "property");
      expectBadInput(() => view.breakdown("p".repeat(257), 10, 5), "property");
      expectBadInput(() => view.timeline(61), "minutes");
      expectBadInput(() => view.eventCounts(-1), "limit");
      expectBadInput(() => view.topPages(-1), "limit");
      expectBadInput(() => view.recentEvents(-1), "limit");
    }
    expectBadInput(
      () => hub.dashboards.view(null, { properties: [{ property: "n", operator: "GT", value: "x" }] }),
      "filter.properties[0].value",
    );
  });

  it("defaults the breakdown window to the dashboard window in whole minutes, at most 60", async () => {
    for (const [seconds, minutes] of [
      [60, 1],
      [61, 2],
      [150, 3],
      [7200, 60],
    ] as const) {
      const { hub, clock } = createHub({ bufferSize: 100, dashboardWindowSeconds: seconds });
      await captureInto(hub, [visit("a", { $browser: "Chrome" })]);
      clock.advance(minutes * MINUTE - 1);
      expect(hub.dashboards.view(null).breakdown("$browser", 10, null), `${seconds} s`).toHaveLength(1);
      clock.advance(1);
      expect(hub.dashboards.view(null).breakdown("$browser", 10, null), `${seconds} s`).toEqual([]);
    }
  });
});

/** The view of a tick that must not be the end. */
async function nextView(ticks: Ticks<DashboardView>): Promise<DashboardView> {
  const result = await ticks.next();
  if (result.done === true) throw new Error("the subscription ended");
  return result.value;
}

/** Timers faked, but not setImmediate (isSettled waits for it). */
const TIMERS: Parameters<typeof vi.useFakeTimers>[0] = { toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval"] };

describe("LiveDashboards.ticks", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("gives identical filtered subscriptions one view per tick, and others their own", async () => {
    vi.useFakeTimers(TIMERS);
    const { hub } = createHub({ bufferSize: 100 });
    await captureInto(hub, [visit("a", { $browser: "Chrome" })]);
    const a = hub.dashboards.ticks(null, CHROME, 1000);
    const b = hub.dashboards.ticks(null, { properties: [{ property: "$browser", operator: "EQUALS", value: "Chrome" }] }, 1000);
    const other = hub.dashboards.ticks(null, CHROME, 2000);
    // Each first value is the subscription's own.
    const firsts = await Promise.all([nextView(a), nextView(b), nextView(other)]);
    expect(new Set(firsts).size).toBe(3);
    expect(hub.dashboards.stats().tickGroups).toBe(2);
    for (let tick = 0; tick < 3; tick++) {
      const pending = [nextView(a), nextView(b)];
      await vi.advanceTimersByTimeAsync(1000);
      const [fromA, fromB] = await Promise.all(pending);
      expect(fromA).toBe(fromB);
      expect([fromA!.liveUsers(), fromB!.liveUsers()]).toEqual([1, 1]);
    }
    // 3 first views + 3 group ticks, each scanned once however many members read it.
    for (const first of firsts) first.liveUsers();
    expect(hub.dashboards.stats().bufferScans).toBe(6);
    await a.return();
    await b.return();
    expect(hub.dashboards.stats().tickGroups).toBe(1);
    await other.return();
    expect(hub.dashboards.stats().tickGroups).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("hands a slow member the newest view, not a backlog, and ends members when the hub closes", async () => {
    vi.useFakeTimers(TIMERS);
    const { hub, clock } = createHub({ bufferSize: 100 });
    const ticks = hub.dashboards.ticks(null, CHROME, 250);
    expect((await nextView(ticks)).at).toBe(T0);
    for (let tick = 0; tick < 3; tick++) {
      clock.advance(250);
      await vi.advanceTimersByTimeAsync(250);
    }
    expect((await nextView(ticks)).at).toBe(T0 + 750);
    const pending = ticks.next();
    expect(await isSettled(pending)).toBe(false);
    hub.close();
    expect(await pending).toEqual({ done: true, value: undefined });
    expect(vi.getTimerCount()).toBe(0);
  });

  it("keeps unfiltered subscriptions on their own tickers", async () => {
    vi.useFakeTimers(TIMERS);
    const { hub } = createHub();
    const a = hub.dashboards.ticks(null, null, 1000);
    const b = hub.dashboards.ticks(null, null, 1000);
    expect(await nextView(a)).not.toBe(await nextView(b));
    expect(hub.dashboards.stats().tickGroups).toBe(0);
    await a.return();
    await b.return();
  });
});

import { describe, expect, it } from "vitest";
import { ManualClock } from "../../src/domain/clock.ts";
import { DashboardWindows } from "../../src/domain/dashboard.ts";
import type { JsonObject } from "../../src/domain/event.ts";
import { storedEvent, T0 } from "./helpers.ts";

function event(name: string, receivedAt: number, properties: JsonObject = {}, environment = "production") {
  return storedEvent({ event: name, receivedAt, properties, environment });
}

describe("DashboardWindows: eventsPerMinute", () => {
  it("counts every event by name, most first, ties by name", () => {
    const windows = new DashboardWindows(60);
    for (const name of ["signup", "$pageview", "click", "$pageview", "click", "$pageview", "buy"]) windows.record(event(name, T0));
    expect(windows.eventCounts(T0)).toEqual([
      { event: "$pageview", count: 3 },
      { event: "click", count: 2 },
      { event: "buy", count: 1 },
      { event: "signup", count: 1 },
    ]);
  });

  it("drops events once the window has passed, by receive time", () => {
    const clock = new ManualClock(T0);
    const windows = new DashboardWindows(60);
    windows.record(event("old", clock.now()));
    clock.advance(45_000);
    windows.record(event("new", clock.now()));
    clock.advance(14_999);
    expect(windows.eventCounts(clock.now())).toEqual([
      { event: "new", count: 1 },
      { event: "old", count: 1 },
    ]);
    clock.advance(1);
    expect(windows.eventCounts(clock.now())).toEqual([{ event: "new", count: 1 }]);
    clock.advance(45_000);
    expect(windows.eventCounts(clock.now())).toEqual([]);
  });

  it("counts by receive time, not by the event's own timestamp", () => {
    const windows = new DashboardWindows(60);
    windows.record(storedEvent({ event: "skewed", timestamp: T0 - 86_400_000, receivedAt: T0 }));
    windows.record(storedEvent({ event: "future", timestamp: T0 + 86_400_000, receivedAt: T0 }));
    expect(windows.eventCounts(T0 + 59_000)).toEqual([
      { event: "future", count: 1 },
      { event: "skewed", count: 1 },
    ]);
    expect(windows.eventCounts(T0 + 60_000)).toEqual([]);
  });
});

describe("DashboardWindows: topPages", () => {
  it("counts $pageview events by $pathname, else the path of $current_url, most first, ties by path", () => {
    const windows = new DashboardWindows(60);
    windows.record(event("$pageview", T0, { $pathname: "/pricing", $current_url: "https://example.com/ignored" }));
    windows.record(event("$pageview", T0, { $current_url: "https://example.com/pricing?plan=pro#faq" }));
    windows.record(event("$pageview", T0, { $current_url: "https://example.com/docs/start" }));
    windows.record(event("$pageview", T0, { $pathname: "/about" }));
    windows.record(event("$pageview", T0, { $current_url: "/docs/start?x=1" }));
    expect(windows.topPages(T0, 10)).toEqual([
      { path: "/docs/start", count: 2 },
      { path: "/pricing", count: 2 },
      { path: "/about", count: 1 },
    ]);
  });

  it("counts only $pageview events", () => {
    const windows = new DashboardWindows(60);
    windows.record(event("$pageview", T0, { $pathname: "/a" }));
    windows.record(event("click", T0, { $pathname: "/a" }));
    windows.record(event("$pageleave", T0, { $pathname: "/b", $current_url: "https://x.test/b" }));
    windows.record(event("pageview", T0, { $pathname: "/c" }));
    expect(windows.topPages(T0, 10)).toEqual([{ path: "/a", count: 1 }]);
    expect(windows.eventCounts(T0)).toHaveLength(4);
  });

  it("skips a $pageview without a usable path", () => {
    const windows = new DashboardWindows(60);
    windows.record(event("$pageview", T0, {}));
    windows.record(event("$pageview", T0, { $pathname: "", $current_url: "" }));
    windows.record(event("$pageview", T0, { $pathname: 7, $current_url: ["https://x.test/"] }));
    windows.record(event("$pageview", T0, { $current_url: "http://[bad" }));
    expect(windows.topPages(T0, 10)).toEqual([]);
    expect(windows.eventCounts(T0)).toEqual([{ event: "$pageview", count: 4 }]);
  });

  it("falls back to $current_url when $pathname is empty", () => {
    const windows = new DashboardWindows(60);
    windows.record(event("$pageview", T0, { $pathname: "", $current_url: "https://x.test/from-url" }));
    expect(windows.topPages(T0, 10)).toEqual([{ path: "/from-url", count: 1 }]);
  });

  it("limits the list and expires pages with the window", () => {
    const windows = new DashboardWindows(60);
    for (const path of ["/a", "/b", "/b", "/c", "/c", "/c"]) windows.record(event("$pageview", T0, { $pathname: path }));
    expect(windows.topPages(T0, 2)).toEqual([
      { path: "/c", count: 3 },
      { path: "/b", count: 2 },
    ]);
    windows.record(event("$pageview", T0 + 30_000, { $pathname: "/a" }));
    expect(windows.topPages(T0 + 60_000, 10)).toEqual([{ path: "/a", count: 1 }]);
  });
});

describe("DashboardWindows: environments", () => {
  const windows = new DashboardWindows(60);
  windows.record(event("$pageview", T0, { $pathname: "/p" }, "production"));
  windows.record(event("$pageview", T0, { $pathname: "/s" }, "staging"));
  windows.record(event("click", T0, {}, "staging"));

  it("without an environment, counts all environments together", () => {
    expect(windows.eventCounts(T0)).toEqual([
      { event: "$pageview", count: 2 },
      { event: "click", count: 1 },
    ]);
    expect(windows.eventCounts(T0, null)).toEqual(windows.eventCounts(T0));
    expect(windows.topPages(T0, 10)).toEqual([
      { path: "/p", count: 1 },
      { path: "/s", count: 1 },
    ]);
  });

  it("with one, counts that environment only", () => {
    expect(windows.eventCounts(T0, "staging")).toEqual([
      { event: "$pageview", count: 1 },
      { event: "click", count: 1 },
    ]);
    expect(windows.topPages(T0, 10, "production")).toEqual([{ path: "/p", count: 1 }]);
    expect(windows.eventCounts(T0, "nowhere")).toEqual([]);
    expect(windows.topPages(T0, 10, "nowhere")).toEqual([]);
  });

  it("sweep forgets an environment whose window emptied, and it starts afresh when it comes back", () => {
    const swept = new DashboardWindows(60);
    swept.record(event("a", T0, {}, "once"));
    swept.sweep(T0 + 59_000);
    expect(swept.eventCounts(T0 + 59_000, "once")).toEqual([{ event: "a", count: 1 }]);
    swept.sweep(T0 + 60_000);
    expect(swept.eventCounts(T0 + 60_000, "once")).toEqual([]);
    swept.record(event("b", T0 + 61_000, {}, "once"));
    expect(swept.eventCounts(T0 + 61_000, "once")).toEqual([{ event: "b", count: 1 }]);
  });
});

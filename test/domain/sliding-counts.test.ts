import { describe, expect, it } from "vitest";
import { ManualClock } from "../../src/domain/clock.ts";
import { SlidingCounts } from "../../src/domain/sliding-counts.ts";
import { T0 } from "./helpers.ts";

describe("SlidingCounts", () => {
  it("counts by key within the window, most first", () => {
    const clock = new ManualClock(T0);
    const counts = new SlidingCounts(60);
    counts.record("a", clock.now());
    counts.record("b", clock.now());
    clock.advance(500);
    counts.record("b", clock.now());
    clock.advance(10_000);
    counts.record("b", clock.now(), 3);
    expect(counts.ranked(clock.now())).toEqual([
      { key: "b", count: 5 },
      { key: "a", count: 1 },
    ]);
    expect(counts.total(clock.now())).toBe(6);
  });

  it("expires a one-second bucket once the window has passed it, and not before", () => {
    const clock = new ManualClock(T0);
    const counts = new SlidingCounts(60);
    counts.record("early", clock.now()); // second 0
    clock.advance(30_000);
    counts.record("late", clock.now()); // second 30
    clock.set(T0 + 59_999); // still second 59: both within the 60 one-second buckets
    expect(counts.ranked(clock.now())).toEqual([
      { key: "early", count: 1 },
      { key: "late", count: 1 },
    ]);
    clock.set(T0 + 60_000); // second 60: second 0 has left the window
    expect(counts.ranked(clock.now())).toEqual([{ key: "late", count: 1 }]);
    clock.set(T0 + 89_999);
    expect(counts.total(clock.now())).toBe(1);
    clock.set(T0 + 90_000);
    expect(counts.ranked(clock.now())).toEqual([]);
    expect(counts.total(clock.now())).toBe(0);
    expect(counts.isEmpty).toBe(true);
  });

  it("breaks ties by key ascending, after count descending", () => {
    const counts = new SlidingCounts(60);
    for (const key of ["delta", "bravo", "charlie", "alpha", "charlie", "delta"]) counts.record(key, T0);
    expect(counts.ranked(T0)).toEqual([
      { key: "charlie", count: 2 },
      { key: "delta", count: 2 },
      { key: "alpha", count: 1 },
      { key: "bravo", count: 1 },
    ]);
  });

  it("orders keys by code unit, not by locale", () => {
    const counts = new SlidingCounts(60);
    for (const key of ["b", "B", "a", "A"]) counts.record(key, T0);
    expect(counts.ranked(T0).map((r) => r.key)).toEqual(["A", "B", "a", "b"]);
  });

  it("limits the ranking after sorting", () => {
    const counts = new SlidingCounts(60);
    for (const key of ["x", "y", "y", "z", "z", "z"]) counts.record(key, T0);
    expect(counts.ranked(T0, 2)).toEqual([
      { key: "z", count: 3 },
      { key: "y", count: 2 },
    ]);
    expect(counts.ranked(T0, 0)).toEqual([]);
  });

  it("ignores a record older than the window, and counts a late one still inside it", () => {
    const counts = new SlidingCounts(10);
    counts.record("now", T0 + 20_000); // head at second 20: the window is seconds 11..20
    counts.record("too-old", T0 + 10_999);
    counts.record("late", T0 + 11_000);
    expect(counts.ranked(T0 + 20_000)).toEqual([
      { key: "late", count: 1 },
      { key: "now", count: 1 },
    ]);
    // The late record lives in second 11's bucket and leaves with it.
    expect(counts.ranked(T0 + 21_000)).toEqual([{ key: "now", count: 1 }]);
  });

  it("never brings expired counts back when asked about an earlier time", () => {
    const counts = new SlidingCounts(10);
    counts.record("a", T0);
    expect(counts.total(T0 + 10_000)).toBe(0);
    expect(counts.total(T0)).toBe(0);
  });

  it("clears everything after a jump longer than the window, then counts afresh", () => {
    const counts = new SlidingCounts(5);
    for (let s = 0; s < 5; s++) counts.record("a", T0 + s * 1000);
    expect(counts.total(T0 + 4000)).toBe(5);
    counts.record("b", T0 + 3_600_000);
    expect(counts.ranked(T0 + 3_600_000)).toEqual([{ key: "b", count: 1 }]);
    // The re-used buckets hold nothing stale: each expires on time.
    expect(counts.total(T0 + 3_604_999)).toBe(1);
    expect(counts.total(T0 + 3_605_000)).toBe(0);
  });

  it("slides second by second: each bucket leaves exactly windowSeconds after it was filled", () => {
    const counts = new SlidingCounts(3);
    for (let s = 0; s < 6; s++) counts.record("k", T0 + s * 1000 + 999, s + 1); // second s holds s + 1
    expect(counts.total(T0 + 5000)).toBe(4 + 5 + 6);
    expect(counts.total(T0 + 6000)).toBe(5 + 6);
    expect(counts.total(T0 + 7000)).toBe(6);
    expect(counts.total(T0 + 8000)).toBe(0);
  });
});

import { describe, expect, it } from "vitest";
import { PulseError } from "../../src/domain/errors.ts";
import { Timeline, TIMELINE_MAX_MINUTES } from "../../src/domain/timeline.ts";

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const MIN = 60_000;

describe("Timeline", () => {
  it("counts events and distinct ids per minute, oldest first, empty minutes as zeros", () => {
    const t = new Timeline();
    t.record("a", T0);
    t.record("a", T0 + 10_000);
    t.record("b", T0 + 59_999);
    t.record("c", T0 + 2 * MIN);
    const points = t.points(T0 + 2 * MIN + 5_000, 3);
    expect(points).toEqual([
      { minute: T0, events: 3, uniqueUsers: 2 },
      { minute: T0 + MIN, events: 0, uniqueUsers: 0 },
      { minute: T0 + 2 * MIN, events: 1, uniqueUsers: 1 },
    ]);
  });

  it("forgets minutes older than the ring and ignores late records", () => {
    const t = new Timeline();
    t.record("a", T0);
    t.record("b", T0 + TIMELINE_MAX_MINUTES * MIN);
    t.record("late", T0);
    const points = t.points(T0 + TIMELINE_MAX_MINUTES * MIN, TIMELINE_MAX_MINUTES);
    expect(points[0]).toEqual({ minute: T0 + MIN, events: 0, uniqueUsers: 0 });
    expect(points.at(-1)).toEqual({ minute: T0 + TIMELINE_MAX_MINUTES * MIN, events: 1, uniqueUsers: 1 });
    expect(points.reduce((s, p) => s + p.events, 0)).toBe(1);
  });

  it.each([0, 61, 1.5, -3])("rejects minutes=%s as BAD_USER_INPUT naming the field", (minutes) => {
    const t = new Timeline();
    let error: unknown;
    try {
      t.points(T0, minutes);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PulseError);
    expect((error as PulseError).code).toBe("BAD_USER_INPUT");
    expect((error as PulseError).message).toContain(String(minutes));
  });
});

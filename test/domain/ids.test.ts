import fc from "fast-check";
import { validate, version } from "uuid";
import { describe, expect, it } from "vitest";
import { newEventId } from "../../src/domain/ids.ts";

/** The Unix milliseconds in a UUIDv7's first 48 bits. */
function timeOf(id: string): number {
  return Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}

describe("newEventId", () => {
  it("makes RFC 9562 version 7 UUIDs in lower case, with the time they were made", () => {
    const before = Date.now();
    const id = newEventId();
    expect(validate(id)).toBe(true);
    expect(version(id)).toBe(7);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(timeOf(id)).toBeGreaterThanOrEqual(before);
    expect(timeOf(id)).toBeLessThanOrEqual(Date.now());
  });

  it("sorts later ids after earlier ones, within one millisecond and when the clock goes back", () => {
    const base = Date.now() + 60_000;
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -5, max: 5 }), { minLength: 1, maxLength: 300 }), (steps) => {
        let previous = newEventId(base);
        let now = base;
        let newest = base;
        for (const step of steps) {
          now += step;
          newest = Math.max(newest, now);
          const id = newEventId(now);
          expect(validate(id) && version(id) === 7).toBe(true);
          expect(id > previous).toBe(true);
          // The time field never goes back, and only moves past the clock's newest reading by borrowing.
          expect(timeOf(id)).toBeGreaterThanOrEqual(timeOf(previous));
          expect(timeOf(id)).toBe(Math.max(newest, timeOf(previous)));
          previous = id;
        }
      }),
    );
  });

  it("makes no duplicates across pool refills", () => {
    const ids = new Set(Array.from({ length: 5000 }, () => newEventId()));
    expect(ids.size).toBe(5000);
  });
});

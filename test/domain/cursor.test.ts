import { describe, expect, it } from "vitest";
import { decodeCursor, encodeCursor } from "../../src/domain/cursor.ts";
import { expectBadInput } from "./helpers.ts";

describe("encodeCursor", () => {
  it("writes the position in base 36 behind a version prefix", () => {
    expect([encodeCursor(1), encodeCursor(35), encodeCursor(36), encodeCursor(1_000_000)]).toEqual(["c1_1", "c1_z", "c1_10", "c1_lfls"]);
  });

  it("round-trips through decodeCursor, up to the largest safe integer", () => {
    for (const seq of [1, 2, 36, 99_999, 2 ** 40, Number.MAX_SAFE_INTEGER]) {
      expect(decodeCursor(encodeCursor(seq), Number.MAX_SAFE_INTEGER)).toBe(seq);
    }
  });
});

describe("decodeCursor", () => {
  it("accepts the newest issued position", () => {
    expect(decodeCursor("c1_a", 10)).toBe(10);
  });

  it.each([
    ["", "is not a Pulse cursor"],
    ["abc", "is not a Pulse cursor"],
    ["c1_", "is not a Pulse cursor"],
    ["c1_A", "is not a Pulse cursor"],
    ["c2_1", "is not a Pulse cursor"],
    ["c1_-1", "is not a Pulse cursor"],
    [" c1_1", "is not a Pulse cursor"],
    ["c1_1 ", "is not a Pulse cursor"],
    ["c1_1.5", "is not a Pulse cursor"],
    ["c1_000000000001", "is not a Pulse cursor"],
    ["c1_0", "is not a cursor this server issued"],
    ["c1_b", "is not a cursor this server issued"],
    ["c1_zzzzzzzzzzz", "is not a cursor this server issued"],
  ])("refuses %j as BAD_USER_INPUT on after", (cursor, reason) => {
    const error = expectBadInput(() => decodeCursor(cursor, 10), "after");
    expect(error.message).toBe(`after: "${cursor}" ${reason}`);
  });

  it("refuses every cursor before anything was issued", () => {
    expectBadInput(() => decodeCursor(encodeCursor(1), 0), "after");
  });
});

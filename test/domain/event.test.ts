import { describe, expect, it } from "vitest";
import { PulseError } from "../../src/domain/errors.ts";
import { currentUrl, DEFAULT_ENVIRONMENT, MAX_FUTURE_SKEW_MS, pagePath, validateCapture, type JsonObject } from "../../src/domain/event.ts";
import type { EventLimits } from "../../src/domain/event-limits.ts";
import { EVENT_LIMITS } from "../support/settings.ts";
import { expectBadInput, T0 } from "./helpers.ts";

const NOW = T0;
const HOUR = 3_600_000;
const valid = { event: "$pageview", distinctId: "alice" };

describe("validateCapture: defaults and normalisation", () => {
  it("fills the defaults for a minimal input", () => {
    expect(validateCapture(valid, NOW, undefined, EVENT_LIMITS)).toEqual({
      id: null,
      event: "$pageview",
      distinctId: "alice",
      timestamp: NOW,
      receivedAt: NOW,
      properties: {},
      sessionId: null,
      environment: "production",
    });
    expect(DEFAULT_ENVIRONMENT).toBe("production");
  });

  it("treats null optional fields as absent; null properties become {}", () => {
    const captured = validateCapture(
      { ...valid, id: null, timestamp: null, properties: null, sessionId: null, environment: null },
      NOW,
      undefined,
      EVENT_LIMITS,
    );
    expect([captured.id, captured.timestamp, captured.properties, captured.sessionId, captured.environment]).toEqual([
      null,
      NOW,
      {},
      null,
      "production",
    ]);
  });

  it("keeps every given field, lower-cases the id and parses the timestamp with its offset", () => {
    const captured = validateCapture(
      {
        id: "0190A5B2-7C3D-7E4F-8A9B-0C1D2E3F4A5B",
        event: "signup",
        distinctId: "alice",
        timestamp: "2025-12-31T23:00:00+02:00",
        properties: { plan: "pro", nested: { list: [1, "two", null, true] } },
        sessionId: "sess-1",
        environment: "staging",
      },
      NOW,
      undefined,
      EVENT_LIMITS,
    );
    expect(captured).toEqual({
      id: "0190a5b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b",
      event: "signup",
      distinctId: "alice",
      timestamp: Date.UTC(2025, 11, 31, 21),
      receivedAt: NOW,
      properties: { plan: "pro", nested: { list: [1, "two", null, true] } },
      sessionId: "sess-1",
      environment: "staging",
    });
  });

  it("takes sessionId from properties.$session_id when it is a string and no sessionId is given", () => {
    expect(validateCapture({ ...valid, properties: { $session_id: "from-props" } }, NOW, undefined, EVENT_LIMITS).sessionId).toBe(
      "from-props",
    );
    expect(
      validateCapture({ ...valid, sessionId: "explicit", properties: { $session_id: "from-props" } }, NOW, undefined, EVENT_LIMITS)
        .sessionId,
    ).toBe("explicit");
    expect(validateCapture({ ...valid, properties: { $session_id: 42 } }, NOW, undefined, EVENT_LIMITS).sessionId).toBeNull();
    expect(validateCapture({ ...valid, properties: { $session_id: null } }, NOW, undefined, EVENT_LIMITS).sessionId).toBeNull();
    // Not a usable session id (the snapshot stores it as text), but the properties themselves are fine.
    const nul = validateCapture({ ...valid, properties: { $session_id: "s\u0000" } }, NOW, undefined, EVENT_LIMITS);
    expect(nul.sessionId).toBeNull();
    expect(nul.properties).toEqual({ $session_id: "s\u0000" });
  });
});

describe("validateCapture: timestamps", () => {
  const at = (ms: number) => validateCapture({ ...valid, timestamp: new Date(ms).toISOString() }, NOW, undefined, EVENT_LIMITS).timestamp;

  it("keeps a past timestamp and one up to 23 h ahead", () => {
    expect(MAX_FUTURE_SKEW_MS).toBe(23 * HOUR);
    expect(at(NOW - 48 * HOUR)).toBe(NOW - 48 * HOUR);
    expect(at(NOW + HOUR)).toBe(NOW + HOUR);
    expect(at(NOW + 23 * HOUR)).toBe(NOW + 23 * HOUR);
  });

  it("clamps a timestamp more than 23 h ahead to the receive time", () => {
    expect(at(NOW + 23 * HOUR + 1)).toBe(NOW);
    expect(at(NOW + 365 * 24 * HOUR)).toBe(NOW);
  });

  it("refuses one older than the maximum age, naming the field", () => {
    const limit = EVENT_LIMITS.maxEventAgeMs;
    expect(at(NOW - limit)).toBe(NOW - limit);
    const error = expectBadInput(() => at(NOW - limit - 1), "timestamp");
    expect(error.extensions["limit"]).toBe(limit / 1000);
  });

  it.each([
    ["yesterday"],
    ["2026-01-01"],
    ["2026-01-01T10:00:00"],
    ["2026-02-30T00:00:00Z"],
    ["2026-01-01T25:00:00Z"],
    [""],
    [1767225600000],
    [true],
  ])("refuses the timestamp %j as BAD_USER_INPUT", (timestamp) => {
    const error = expectBadInput(() => validateCapture({ ...valid, timestamp }, NOW, undefined, EVENT_LIMITS), "timestamp");
    expect(error.message).toMatch(/^timestamp must be/);
  });
});

describe("validateCapture: invalid input", () => {
  it.each([
    [{ distinctId: "alice" }, "event", "must be a string"],
    [{ event: "", distinctId: "alice" }, "event", "must not be empty"],
    [{ event: "   ", distinctId: "alice" }, "event", "must not be empty"],
    [{ event: 7, distinctId: "alice" }, "event", "must be a string"],
    [{ event: "e".repeat(201), distinctId: "alice" }, "event", "must be at most 200 characters"],
    [{ event: "e" }, "distinctId", "must be a string"],
    [{ event: "e", distinctId: "" }, "distinctId", "must not be empty"],
    [{ event: "e", distinctId: " \t" }, "distinctId", "must not be empty"],
    [{ ...valid, properties: [] }, "properties", "must be a JSON object"],
    [{ ...valid, properties: "plan=pro" }, "properties", "must be a JSON object"],
    [{ ...valid, properties: 42 }, "properties", "must be a JSON object"],
    [{ ...valid, id: "not-a-uuid" }, "id", "must be a UUID"],
    [{ ...valid, id: 12 }, "id", "must be a string"],
    [{ ...valid, environment: "" }, "environment", "must not be empty"],
    [{ ...valid, sessionId: 5 }, "sessionId", "must be a string"],
    [{ event: "sign\u0000up", distinctId: "alice" }, "event", "must not contain the NUL character (U+0000)"],
    [{ event: "e", distinctId: "\u0000" }, "distinctId", "must not contain the NUL character (U+0000)"],
    [{ ...valid, environment: "prod\u0000" }, "environment", "must not contain the NUL character (U+0000)"],
    [{ ...valid, sessionId: "s\u0000" }, "sessionId", "must not contain the NUL character (U+0000)"],
  ])("%j → %s %s", (input, field, reason) => {
    const error = expectBadInput(() => validateCapture(input, NOW, undefined, EVENT_LIMITS), field);
    expect(error.message).toBe(`${field} ${reason}`);
    expect(error.extensions).toEqual({ field });
  });

  it("accepts names at the length limit", () => {
    expect(validateCapture({ event: "e".repeat(200), distinctId: "d".repeat(200) }, NOW, undefined, EVENT_LIMITS).event).toHaveLength(200);
  });

  it.each([[null], ["event"], [[valid]], [42]])("refuses the non-object input %j", (input) => {
    expectBadInput(() => validateCapture(input, NOW, undefined, EVENT_LIMITS), "input");
  });

  it("names the index in a batch, in the message and the extensions", () => {
    const error = expectBadInput(
      () => validateCapture({ event: "e", distinctId: "" }, NOW, 3, EVENT_LIMITS),
      "inputs[3].distinctId",
      "distinctId",
    );
    expect(error.message).toBe("inputs[3].distinctId must not be empty");
    expect(error.extensions).toEqual({ field: "distinctId", index: 3 });
    const timestampError = expectBadInput(
      () => validateCapture({ ...valid, timestamp: "soon" }, NOW, 0, EVENT_LIMITS),
      "inputs[0].timestamp",
      "timestamp",
    );
    expect(timestampError.extensions).toEqual({ field: "timestamp", index: 0 });
    const propertiesError = expectBadInput(
      () => validateCapture({ ...valid, properties: [1] }, NOW, 12, EVENT_LIMITS),
      "inputs[12].properties",
      "properties",
    );
    expect(propertiesError.extensions["index"]).toBe(12);
  });

  it("throws nothing but PulseError", () => {
    for (const input of [undefined, () => 1, Symbol("x"), new Map()]) {
      expect(() => validateCapture(input, NOW, undefined, EVENT_LIMITS)).toThrow(PulseError);
    }
  });
});

describe("validateCapture: property limits", () => {
  const tight: EventLimits = { ...EVENT_LIMITS, maxPropertyKeyLength: 4, maxPropertyDepth: 2, maxPropertyCount: 3, maxEventBytes: 200 };

  it("refuses values that are not JSON, naming their path", () => {
    const error = expectBadInput(
      () => validateCapture({ ...valid, properties: { a: { b: Number.NaN } } }, NOW, undefined, EVENT_LIMITS),
      "properties.a.b",
    );
    expect(error.message).toBe("properties.a.b must be a JSON value, got NaN");
    expectBadInput(
      () => validateCapture({ ...valid, properties: { when: new Date(NOW) } }, NOW, undefined, EVENT_LIMITS),
      "properties.when",
    );
    expectBadInput(() => validateCapture({ ...valid, properties: { u: undefined } }, NOW, undefined, EVENT_LIMITS), "properties.u");
  });

  it("refuses a key, a depth, a count or a size past its limit", () => {
    expect(validateCapture({ ...valid, properties: { abcd: [1, 2] } }, NOW, undefined, tight).properties).toEqual({ abcd: [1, 2] });
    expectBadInput(() => validateCapture({ ...valid, properties: { abcde: 1 } }, NOW, undefined, tight), "properties");
    expectBadInput(() => validateCapture({ ...valid, properties: { a: { b: [1] } } }, NOW, undefined, tight), "properties.a.b");
    expectBadInput(() => validateCapture({ ...valid, properties: { a: 1, b: 2, c: 3, d: 4 } }, NOW, undefined, tight), "properties");
    const size = expectBadInput(() => validateCapture({ ...valid, properties: { a: "x".repeat(200) } }, NOW, 2, tight), "inputs[2]");
    expect(size.extensions["limit"]).toBe(200);
  });
});

describe("pagePath and currentUrl", () => {
  it("pagePath prefers $pathname, then the path of $current_url", () => {
    expect(pagePath({ properties: { $pathname: "/a", $current_url: "https://x.test/b" } })).toBe("/a");
    expect(pagePath({ properties: { $current_url: "https://x.test/b/c?q=1#top" } })).toBe("/b/c");
    expect(pagePath({ properties: { $current_url: "https://x.test" } })).toBe("/");
    expect(pagePath({ properties: { $current_url: "/relative/path?x" } })).toBe("/relative/path");
    expect(pagePath({ properties: { $pathname: "", $current_url: "https://x.test/b" } })).toBe("/b");
  });

  it("pagePath is null without a usable value", () => {
    const unusable: JsonObject[] = [{}, { $pathname: 3 }, { $current_url: "" }, { $current_url: null }, { $current_url: "http://[::1" }];
    for (const properties of unusable) {
      expect(pagePath({ properties })).toBeNull();
    }
  });

  it("currentUrl is the $current_url string, else null", () => {
    expect(currentUrl({ properties: { $current_url: "https://x.test/a?b" } })).toBe("https://x.test/a?b");
    expect(currentUrl({ properties: { $current_url: 5 } })).toBeNull();
    expect(currentUrl({ properties: {} })).toBeNull();
  });
});

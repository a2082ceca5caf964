import { describe, expect, it } from "vitest";
import { eventTime, parseQuerySentAt, readPayload, requestKey, toCaptureInputs } from "../../src/transport/posthog-payload.ts";

const now = Date.parse("2026-03-01T12:00:00.000Z");
const iso = (ms: number) => new Date(ms).toISOString();

describe("eventTime: PostHog's clock-skew correction", () => {
  it("timestamp and sent_at: now + (timestamp - sent_at), whatever the client's clock says", () => {
    const clientClock = now + 3_600_000; // an hour fast
    expect(eventTime({ timestamp: iso(clientClock - 5_000) }, {}, "event", { now, sentAt: clientClock })).toBe(iso(now - 5_000));
  });

  it("an event-level sent_at counts when the request has none", () => {
    const clientClock = now - 86_400_000; // a day slow
    expect(eventTime({ timestamp: iso(clientClock - 1_000), sent_at: iso(clientClock) }, {}, "event", { now, sentAt: undefined })).toBe(
      iso(now - 1_000),
    );
  });

  it("properties.$ignore_sent_at keeps the timestamp as given (historical imports)", () => {
    expect(eventTime({ timestamp: "2025-01-01T00:00:00Z" }, { $ignore_sent_at: true }, "event", { now, sentAt: now + 1 })).toBe(
      "2025-01-01T00:00:00.000Z",
    );
  });

  it("timestamp alone is taken as given; offset alone is now - offset; neither is the receive time", () => {
    expect(eventTime({ timestamp: "2026-03-01T11:00:00+01:00" }, {}, "event", { now, sentAt: undefined })).toBe("2026-03-01T10:00:00.000Z");
    expect(eventTime({ offset: 2_500 }, {}, "event", { now, sentAt: undefined })).toBe(iso(now - 2_500));
    expect(eventTime({}, {}, "event", { now, sentAt: undefined })).toBeUndefined();
  });

  it("a timestamp that is not a date is BAD_USER_INPUT naming the event", () => {
    expect(() => eventTime({ timestamp: "soon" }, {}, "batch[4]", { now, sentAt: undefined })).toThrow(
      expect.objectContaining({ code: "BAD_USER_INPUT", message: 'batch[4].timestamp "soon" is not a date-time' }),
    );
  });

  it("_ query values in seconds (old SDKs) or garbage are ignored", () => {
    expect(parseQuerySentAt(String(now))).toBe(now);
    expect(parseQuerySentAt(String(Math.floor(now / 1000)))).toBeUndefined();
    expect(parseQuerySentAt("abc")).toBeUndefined();
    expect(parseQuerySentAt(null)).toBeUndefined();
  });
});

describe("toCaptureInputs", () => {
  it("maps uuid, distinct_id, $session_id, $environment, top-level $set; the key's scope wins", () => {
    const payload = readPayload({
      api_key: "k",
      batch: [
        {
          event: "e",
          uuid: "0190B1C2-0000-7000-8000-00000000000A",
          distinct_id: "u",
          $set: { plan: "pro" },
          properties: { $session_id: "s", $environment: "dev" },
        },
      ],
    });
    const [input] = toCaptureInputs(payload, { now, environment: null, sentAt: undefined }).inputs;
    expect(input).toMatchObject({
      id: "0190B1C2-0000-7000-8000-00000000000A",
      distinctId: "u",
      environment: "dev",
      properties: { $session_id: "s", $set: { plan: "pro" } },
    });
    expect(toCaptureInputs(payload, { now, environment: "production", sentAt: undefined }).inputs[0]!["environment"]).toBe("production");
  });

  it("reads the key from the envelope, the events' api_key or token, or properties.token", () => {
    expect(requestKey(readPayload({ api_key: "a", batch: [] }))).toBe("a");
    expect(requestKey(readPayload([{ event: "e", token: "b" }]))).toBe("b");
    expect(requestKey(readPayload({ event: "e", properties: { token: "c" } }))).toBe("c");
    expect(requestKey(readPayload({ event: "e" }))).toBeUndefined();
  });
});

import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { gql, streamClient, STREAM_TRANSPORTS } from "../support/clients.ts";
import {
  captureEvent,
  captureEvents,
  EVENT_FIELDS,
  pageview,
  recentEvents,
  waitForActive,
  CAPTURE_EVENT,
  type EventPayload,
} from "../support/events.ts";
import { startServer } from "../support/server.ts";

const EVENTS = `subscription { events { ${EVENT_FIELDS} } }`;

describe("a captured event reaches subscribers on both transports", () => {
  it("delivers every field, person included, to a graphql-ws and a graphql-sse subscriber", async () => {
    // The event below has a fixed date in the past; let it through the age limit (PULSE_MAX_EVENT_AGE_SECONDS).
    const server = await startServer({ trust: { maxEventAgeSeconds: 100 * 365 * 24 * 3600 } });
    const ws = streamClient("ws", server.url).subscribe(EVENTS);
    const sse = streamClient("sse", server.url).subscribe(EVENTS);
    await waitForActive(server.url, 2);

    const id = randomUUID();
    const captured = await captureEvent(server.url, {
      id: id.toUpperCase(),
      event: "$pageview",
      distinctId: "ada",
      timestamp: "2026-03-01T10:00:00+02:00",
      properties: {
        $current_url: "https://shop.example/cart",
        plan: "pro",
        $set: { email: "ada@example.com" },
        nested: { a: [1, 2] },
      },
      sessionId: "session-1",
      environment: "staging",
    });
    // Defaults: no timestamp, environment nor sessionId given; the session comes from properties.$session_id.
    const defaults = await captureEvent(server.url, { event: "signup", distinctId: "bob", properties: { $session_id: "s-bob" } });

    for (const recording of [ws, sse]) {
      await recording.waitForResults(2);
      const [first, second] = recording.values<EventPayload>("events");
      expect(first).toEqual(captured);
      expect(second).toEqual(defaults);
      expect(recording.results.every((result) => result.errors === undefined)).toBe(true);
    }

    expect(captured).toMatchObject({
      id,
      event: "$pageview",
      distinctId: "ada",
      timestamp: "2026-03-01T08:00:00.000Z",
      properties: {
        $current_url: "https://shop.example/cart",
        plan: "pro",
        $set: { email: "ada@example.com" },
        nested: { a: [1, 2] },
      },
      sessionId: "session-1",
      environment: "staging",
      person: { distinctId: "ada", properties: { email: "ada@example.com" } },
    });
    expect(captured.cursor).toEqual(expect.any(String));
    expect(Date.parse(captured.person!.firstSeen)).not.toBeNaN();
    expect(captured.person!.lastSeen).toBe(captured.person!.firstSeen);

    expect(defaults).toMatchObject({
      event: "signup",
      distinctId: "bob",
      sessionId: "s-bob",
      environment: "production",
      properties: { $session_id: "s-bob" },
      person: { distinctId: "bob", properties: {} },
    });
    expect(defaults.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(Date.parse(defaults.timestamp)).not.toBeNaN();
    expect(defaults.cursor).not.toBe(captured.cursor);
  });
});

describe.each(STREAM_TRANSPORTS)("duplicates by id, delivered over %s", (transport) => {
  it("captureEvent twice with one id answers with the stored id and cursor (never the stored content) and delivers it once", async () => {
    const server = await startServer();
    const events = streamClient(transport, server.url).subscribe(`subscription { events { id cursor properties } }`);
    await waitForActive(server.url, 1);

    const id = randomUUID();
    const first = await captureEvent(server.url, pageview(1, { id }));
    // Same id, different content, and upper case: still the same event.
    const again = await captureEvent(server.url, pageview(2, { id: id.toUpperCase(), event: "other" }));
    // A capture reveals nothing its caller did not send: the earlier event's id and cursor, with the caller's own data.
    expect([again.id, again.cursor]).toEqual([first.id, first.cursor]);
    expect(again.event).toBe("other");
    expect(again.properties).toMatchObject({ n: 2 });

    const marker = await captureEvent(server.url, pageview(3));
    await events.waitForResults(2);
    const received = events.values<EventPayload>("events");
    // The marker comes right after the first: the duplicate was never delivered in between.
    expect(received.map((e) => e.id)).toEqual([id, marker.id]);
    expect((await recentEvents(server.url)).map((e) => e.id)).toEqual([marker.id, id]);
  });

  it("captureEvents counts a repeated id as a duplicate, reports one id per input, stores and delivers it once", async () => {
    const server = await startServer();
    const events = streamClient(transport, server.url).subscribe(`subscription { events { id properties } }`);
    await waitForActive(server.url, 1);

    const stored = await captureEvent(server.url, pageview(0));
    const a = pageview(1);
    const b = pageview(2);
    const c = pageview(4);
    const result = await captureEvents(server.url, [
      a,
      b,
      { ...pageview(3), id: a.id }, // repeats an id earlier in the batch
      c,
      { ...pageview(5), id: stored.id }, // repeats an id already stored
    ]);
    expect(result).toEqual({ accepted: 3, duplicates: 2, ids: [a.id, b.id, a.id, c.id, stored.id] });

    const marker = await captureEvent(server.url, pageview(6));
    await events.waitForResults(5);
    expect(events.values<EventPayload>("events").map((e) => e.id)).toEqual([stored.id, a.id, b.id, c.id, marker.id]);
    expect(events.values<EventPayload>("events").map((e) => e.properties["n"])).toEqual([0, 1, 2, 4, 6]);

    const recent = await recentEvents(server.url);
    expect(recent.map((e) => e.id)).toEqual([marker.id, c.id, b.id, a.id, stored.id]);
  });
});

describe("duplicates over HTTP alone", () => {
  it("a duplicate does not count as a new event in the metrics", async () => {
    const server = await startServer();
    const input = pageview(1);
    await gql(server.url, CAPTURE_EVENT, { input });
    await gql(server.url, CAPTURE_EVENT, { input });
    const result = await gql<{ realtimeMetrics: { eventsTotal: number } }>(server.url, "{ realtimeMetrics { eventsTotal } }");
    expect(result.data?.realtimeMetrics.eventsTotal).toBe(1);
  });
});

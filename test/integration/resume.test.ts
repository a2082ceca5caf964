import { describe, expect, it } from "vitest";
import { graphqlErrors, streamClient, STREAM_TRANSPORTS, type Recording } from "../support/clients.ts";
import {
  captureEvent,
  captureEvents,
  captureLoop,
  pageview,
  realtimeMetrics,
  recentEvents,
  waitForActive,
  type EventPayload,
} from "../support/events.ts";
import { startServer } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";

const EVENTS = `subscription ($filter: EventFilter, $after: String, $replay: Int) {
  events(filter: $filter, after: $after, replay: $replay) { id event cursor properties }
}`;

/** The whole stream as the server holds it, oldest first. */
async function stream(baseUrl: string): Promise<EventPayload[]> {
  return (await recentEvents(baseUrl, 100_000)).reverse();
}

/** Waits until `recording` has received the newest event of the stream, then returns what it received. */
async function receivedThroughNewest(baseUrl: string, recording: Recording): Promise<EventPayload[]> {
  const all = await stream(baseUrl);
  const newest = all.at(-1)!.cursor;
  await waitFor(() => recording.values<EventPayload>("events").some((e) => e.cursor === newest), {
    what: () => `the newest event ${newest} (received ${recording.results.length})`,
  });
  return recording.values<EventPayload>("events");
}

/**
 * Asserts `received` is exactly `all` from `start` to its end: in stream order, with no gap and no duplicate.
 * Cursors are opaque, so their order is the order `recentEvents` shows.
 */
function expectContiguousTail(received: EventPayload[], all: EventPayload[], start: number): void {
  const position = new Map(all.map((e, index) => [e.cursor, index]));
  const positions = received.map((e) => position.get(e.cursor));
  expect(positions.every((p) => p !== undefined)).toBe(true);
  for (let i = 1; i < positions.length; i++) expect(positions[i]).toBe(positions[i - 1]! + 1);
  expect(positions[0]).toBe(start);
  expect(positions.at(-1)).toBe(all.length - 1);
  expect(received.map((e) => e.id)).toEqual(all.slice(start).map((e) => e.id));
}

describe.each(STREAM_TRANSPORTS)("events over %s: replay and after", (transport) => {
  it("replay: N sends the newest N matching buffered events oldest first, then live ones", async () => {
    const server = await startServer();
    // Pageviews 0..9 with a signup between each, which the filter leaves out.
    for (let n = 0; n < 10; n++) await captureEvents(server.url, [pageview(n), pageview(100 + n, { event: "signup" })]);

    const events = streamClient(transport, server.url).subscribe(EVENTS, { filter: { events: ["$pageview"] }, replay: 3 });
    await events.waitForResults(3);
    await captureEvents(server.url, [pageview(200, { event: "signup" }), pageview(10), pageview(11)]);
    await events.waitForResults(5);

    expect(events.values<EventPayload>("events").map((e) => e.properties["n"])).toEqual([7, 8, 9, 10, 11]);
    expect(events.values<EventPayload>("events").every((e) => e.event === "$pageview")).toBe(true);
    expect(events.results.every((r) => r.extensions === undefined)).toBe(true);
  });

  it("replay larger than the buffer sends every matching buffered event", async () => {
    const server = await startServer();
    await captureEvents(server.url, [pageview(0), pageview(1)]);
    const events = streamClient(transport, server.url).subscribe(EVENTS, { replay: 50 });
    await events.waitForResults(2);
    await captureEvent(server.url, pageview(2));
    await events.waitForResults(3);
    expect(events.values<EventPayload>("events").map((e) => e.properties["n"])).toEqual([0, 1, 2]);
  });

  it("replay with capture running while the subscription starts: no gap, no duplicate", async () => {
    const server = await startServer();
    await captureEvents(
      server.url,
      Array.from({ length: 30 }, (_, n) => pageview(10_000 + n)),
    );
    const load = captureLoop(server.url, { batchSize: 10, workers: 2 });
    await waitFor(() => load.captured >= 60, { what: "captures in flight" });

    const events = streamClient(transport, server.url).subscribe(EVENTS, { replay: 25 });
    await waitForActive(server.url, 1);
    const atStart = load.captured;
    await waitFor(() => load.captured >= atStart + 100, { what: "more captures after the subscription started" });
    await load.stop();

    const received = await receivedThroughNewest(server.url, events);
    const all = await stream(server.url);
    expect(received.length).toBeGreaterThanOrEqual(25 + 100);
    expectContiguousTail(received, all, all.length - received.length);
  });

  it("after: cursor sends exactly the buffered events after it, then live ones", async () => {
    const server = await startServer();
    await captureEvents(
      server.url,
      Array.from({ length: 5 }, (_, n) => pageview(n)),
    );
    const buffered = await stream(server.url);

    const events = streamClient(transport, server.url).subscribe(EVENTS, { after: buffered[1]!.cursor });
    await events.waitForResults(3);
    await captureEvent(server.url, pageview(5));
    await events.waitForResults(4);

    expect(events.values<EventPayload>("events").map((e) => e.properties["n"])).toEqual([2, 3, 4, 5]);
    expect(events.results.every((r) => r.extensions?.["gap"] === undefined)).toBe(true);
  });

  it("after: the newest cursor sends only live events", async () => {
    const server = await startServer();
    await captureEvents(server.url, [pageview(0), pageview(1)]);
    const [newest] = await recentEvents(server.url, 1);
    const events = streamClient(transport, server.url).subscribe(EVENTS, { after: newest!.cursor });
    await waitForActive(server.url, 1);
    await captureEvent(server.url, pageview(2));
    await events.waitForResults(1);
    expect(events.values<EventPayload>("events").map((e) => e.properties["n"])).toEqual([2]);
  });

  it("after: cursor with capture running while the subscription starts: no gap, no duplicate", async () => {
    const server = await startServer();
    const load = captureLoop(server.url, { batchSize: 10, workers: 2 });
    await waitFor(() => load.captured >= 100, { what: "captures in flight" });
    const before = await stream(server.url);
    const resumeAt = before.length - 50;
    const after = before[resumeAt]!.cursor;

    const events = streamClient(transport, server.url).subscribe(EVENTS, { after });
    await waitForActive(server.url, 1);
    const atStart = load.captured;
    await waitFor(() => load.captured >= atStart + 100, { what: "more captures after the subscription started" });
    await load.stop();

    const received = await receivedThroughNewest(server.url, events);
    const all = await stream(server.url);
    expectContiguousTail(received, all, resumeAt + 1);
  });

  it("after older than the buffer resumes at the oldest buffered event and marks the first payload with gap", async () => {
    const server = await startServer({ bufferSize: 5 });
    await captureEvents(server.url, [pageview(0), pageview(1)]);
    const [lost] = await stream(server.url);
    await captureEvents(
      server.url,
      Array.from({ length: 8 }, (_, n) => pageview(2 + n)),
    );

    const events = streamClient(transport, server.url).subscribe(EVENTS, { after: lost!.cursor });
    await events.waitForResults(5);
    await captureEvent(server.url, pageview(10));
    await events.waitForResults(6);

    expect(events.values<EventPayload>("events").map((e) => e.properties["n"])).toEqual([5, 6, 7, 8, 9, 10]);
    expect(events.results.map((r) => r.extensions?.["gap"])).toEqual([true, undefined, undefined, undefined, undefined, undefined]);
  });

  it("after the last evicted event is no gap: the next one is still buffered", async () => {
    const server = await startServer({ bufferSize: 3 });
    await captureEvents(server.url, [pageview(0), pageview(1)]);
    const [, kept] = await stream(server.url);
    await captureEvents(server.url, [pageview(2), pageview(3)]); // evicts 0 and 1; 2 and 3 follow the cursor of 1

    const events = streamClient(transport, server.url).subscribe(EVENTS, { after: kept!.cursor });
    await events.waitForResults(2);
    expect(events.values<EventPayload>("events").map((e) => e.properties["n"])).toEqual([2, 3]);
    expect(events.results.every((r) => r.extensions?.["gap"] === undefined)).toBe(true);
  });
});

describe.each(STREAM_TRANSPORTS)("events over %s: rejected when it starts", (transport) => {
  const rejections: [string, Record<string, unknown>, string][] = [
    ["after with replay", { after: "c1_1", replay: 2 }, "after"],
    ["an unknown cursor", { after: "c1_zzzz" }, "after"],
    ["a string that is no cursor", { after: "not-a-cursor" }, "after"],
    ["a negative replay", { replay: -1 }, "replay"],
    [
      "a regex RE2 cannot compile (a backreference)",
      { filter: { properties: [{ property: "$current_url", operator: "REGEX", value: "^(a+)\\1$" }] } },
      "filter.properties[0].value",
    ],
    ["an invalid regex", { filter: { properties: [{ property: "path", operator: "REGEX", value: "([" }] } }, "filter.properties[0].value"],
    [
      "a non-numeric GT",
      { filter: { events: ["$pageview"], properties: [{ property: "n", operator: "GT", value: "many" }] } },
      "filter.properties[0].value",
    ],
    [
      "CONTAINS without a string",
      { filter: { properties: [{ property: "n", operator: "CONTAINS", value: 3 }] } },
      "filter.properties[0].value",
    ],
  ];

  it.each(rejections)("%s is BAD_USER_INPUT, as a GraphQL error that completes the operation", async (_, variables, field) => {
    const server = await startServer();
    await captureEvent(server.url, pageview(0));
    const client = streamClient(transport, server.url);
    const rejected = client.subscribe(EVENTS, variables);
    const end = await rejected.ended;

    // A GraphQL error in a result, then complete: not a transport failure (an HTTP 400 over SSE, a socket close over WS).
    expect(end).toEqual({ kind: "complete" });
    const errors = graphqlErrors(rejected);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.extensions).toMatchObject({ code: "BAD_USER_INPUT", field });
    expect(errors[0]!.message).toContain(field === "replay" ? "replay" : field === "after" ? "after" : "filter.properties[0]");
    expect(rejected.results.every((r) => r.data === null || r.data === undefined)).toBe(true);

    // Nothing was registered, and the client still works.
    expect((await realtimeMetrics(server.url)).activeConnections).toBe(0);
    const next = client.subscribe(EVENTS, { replay: 1 });
    await next.waitForResults(1);
    expect(next.values<EventPayload>("events")[0]!.properties["n"]).toBe(0);
  });
});

import { describe, expect, it } from "vitest";
import { sseClient, subscribe } from "../support/clients.ts";
import { captureEvent, captureEvents, pageview, recentEvents, waitForActive, type EventPayload } from "../support/events.ts";
import { RawEventStream } from "../support/raw-sse.ts";
import { startServer } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";

/**
 * Pulse's SSE transport (src/transport/sse.ts) on raw HTTP streams: an `events` subscription on a stream of its own
 * is pushed to the response (graphql-sse's distinct connections mode); one on a shared stream (single connection
 * mode) is read by graphql-sse. The frames are what graphql-sse's clients parse.
 */
describe("an events subscription on a stream of its own", () => {
  it("gets each event as one next frame, in order, every stream the same frames", async () => {
    const server = await startServer();
    const query = "subscription { events { event cursor } }";
    const streams = await Promise.all([RawEventStream.post(server.url, query), RawEventStream.post(server.url, query)]);
    await waitForActive(server.url, 2);
    for (const n of [1, 2, 3]) await captureEvent(server.url, pageview(n));
    await waitFor(() => streams.every((s) => s.events.length === 3), { what: "three events on both streams" });

    const all = (await recentEvents(server.url, 10, undefined, "event cursor")).reverse();
    for (const stream of streams) {
      expect(stream.frames).toEqual(all.map((e) => ({ event: "next", data: { data: { events: { event: e.event, cursor: e.cursor } } } })));
    }
    // Shutdown ends the stream without `complete` (final to graphql-sse's client; without it, it reconnects).
    await server.close();
    await waitFor(() => streams.every((s) => s.ended), { what: "both streams to end" });
    for (const stream of streams) expect(stream.frames.filter((f) => f.event !== "next")).toEqual([]);
  });

  it("ends a reader that stopped reading with LAGGED and its cursor once it reads again, and nobody else waits", async () => {
    const server = await startServer({ subscriberQueue: 50, trust: { maxBodyBytes: 64 * 1024 * 1024 } });
    // ~320 KB frames: 800 of them are far more than the loopback buffers hold, so the response backs up.
    const padding = "x".repeat(32 * 1024);
    const heavy = `subscription { events { id cursor ${Array.from({ length: 10 }, (_, i) => `p${i}: properties`).join(" ")} } }`;
    const slow = await RawEventStream.post(server.url, heavy);
    const fast = await RawEventStream.post(server.url, "subscription { events { id cursor } }");
    await waitForActive(server.url, 2);
    await captureEvent(server.url, pageview(0, { properties: { padding } }));
    await waitFor(() => slow.events.length === 1, { what: "the first event on the slow stream" });
    slow.pause();

    for (let n = 1; n < 800; n += 50) {
      await captureEvents(
        server.url,
        Array.from({ length: 50 }, (_, i) => pageview(n + i, { properties: { padding } })),
      );
    }
    const all = (await recentEvents(server.url, 100_000, undefined, "id cursor")).reverse();
    await waitFor(() => fast.events.length === all.length, { what: "every event on the fast stream", timeoutMs: 30_000 });
    expect(fast.events.map((e) => e.cursor)).toEqual(all.map((e) => e.cursor));

    slow.resume();
    await waitFor(() => slow.ended, { what: "the slow stream to end", timeoutMs: 30_000 });
    const delivered = slow.events;
    const [lagged, complete] = slow.frames.slice(-2);
    expect(complete).toEqual({ event: "complete", data: null });
    expect(lagged!.data!.errors![0]!.extensions).toMatchObject({ code: "LAGGED", cursor: delivered.at(-1)!.cursor });
    expect(delivered.length).toBeLessThan(all.length);
    expect(delivered.map((e) => e.cursor)).toEqual(all.slice(0, delivered.length).map((e) => e.cursor));
    await waitForActive(server.url, 1);
  }, 90_000);
});

describe("an events subscription on a shared stream (single connection mode)", () => {
  it("gets its events in order and ends when the client unsubscribes", async () => {
    const server = await startServer();
    const client = sseClient(server.url, { singleConnection: true });
    const { results: received, unsubscribe } = subscribe(client, "subscription { events { event } }");
    await waitForActive(server.url, 1);
    for (const n of [1, 2]) await captureEvent(server.url, pageview(n, { event: `e${n}` }));
    await waitFor(() => received.length === 2, { what: "two events" });
    expect(received.map((r) => (r.data!["events"] as EventPayload).event)).toEqual(["e1", "e2"]);
    unsubscribe();
    await waitForActive(server.url, 0);
  });
});

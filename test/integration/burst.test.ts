import { describe, expect, it } from "vitest";
import { sseClient, subscribe, wsClient, type Subscribable } from "../support/clients.ts";
import { captureEvents, pageview, waitForActive, type EventPayload } from "../support/events.ts";
import { startServer } from "../support/server.ts";

const BURST = 20_000;
const BATCH = 1_000;
const EVENTS = "subscription { events { id event properties cursor } }";

const READERS: readonly [string, (url: string) => Subscribable][] = [
  ["graphql-ws", (url) => wsClient(url)],
  ["graphql-sse, a stream of its own", (url) => sseClient(url)],
  ["graphql-sse, single connection mode", (url) => sseClient(url, { singleConnection: true })],
];

/**
 * A burst that a reader keeps up with on average: 20,000 events captured in about a second, in batches of the
 * maximum size, read by a stock client in the same process as the server (so the two compete for one thread). The
 * budget a subscriber has before LAGGED is the same on every transport (PULSE_SUBSCRIBER_QUEUE events, then the
 * same write-ahead of unsent bytes on its connection: src/transport/write-ahead.ts), so none of them is ended.
 */
describe.each(READERS)("a burst of 20,000 events to a %s reader", (_name, client) => {
  it("reaches it whole and in order, and does not end it LAGGED", { timeout: 120_000 }, async () => {
    // The capture rate limit would refuse such a burst from one key: the delivery, not the limit, is under test.
    const server = await startServer({ bufferSize: 50_000, trust: { captureRatePerSecond: 1_000_000, captureBurst: 0 } });
    const reader = subscribe(client(server.url), EVENTS);
    await waitForActive(server.url, 1);

    const started = performance.now();
    for (let n = 0; n < BURST; n += BATCH) {
      await captureEvents(
        server.url,
        Array.from({ length: BATCH }, (_, i) => pageview(n + i)),
      );
    }
    const capturedInMs = Math.round(performance.now() - started);

    await reader.waitForResults(BURST, 60_000).catch((error: Error) => {
      throw new Error(`${error.message} (the burst was captured in ${capturedInMs} ms)`);
    });
    const events = reader.values<EventPayload>("events");
    expect(events.map((e) => e.properties["n"])).toEqual(Array.from({ length: BURST }, (_, i) => i));
    expect(reader.end).toBeNull();
  });
});

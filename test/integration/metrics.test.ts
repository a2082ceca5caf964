import { describe, expect, it } from "vitest";
import { sseClient, streamClient, STREAM_TRANSPORTS, wsClient } from "../support/clients.ts";
import { captureEvents, pageview, realtimeMetrics, waitForActive, type RealtimeMetrics } from "../support/events.ts";
import { RawEventStream } from "../support/raw-sse.ts";
import { RawGraphqlSocket } from "../support/raw-ws.ts";
import { startServer } from "../support/server.ts";

const EVENTS = "subscription { events { id } }";
const DASHBOARD = "subscription { liveDashboard(intervalMs: 250) { liveUsers } }";

/** Records every metrics reading so a test can check `totalConnections` never went down. */
function meter(baseUrl: string) {
  const readings: RealtimeMetrics[] = [];
  return {
    readings,
    async active(count: number): Promise<RealtimeMetrics> {
      const reading = await waitForActive(baseUrl, count);
      readings.push(reading);
      return reading;
    },
    totals: () => readings.map((r) => r.totalConnections),
  };
}

describe.each(STREAM_TRANSPORTS)("realtimeMetrics with %s subscriptions", (transport) => {
  it("activeConnections goes up per subscription and down on unsubscribe; totalConnections only grows", async () => {
    const server = await startServer();
    const m = meter(server.url);
    expect(await realtimeMetrics(server.url)).toMatchObject({ activeConnections: 0, totalConnections: 0 });

    const client = streamClient(transport, server.url);
    const a = client.subscribe(EVENTS);
    const b = client.subscribe(EVENTS);
    const dashboard = client.subscribe(DASHBOARD);
    expect(await m.active(3)).toMatchObject({ totalConnections: 3 });

    a.unsubscribe();
    expect(await m.active(2)).toMatchObject({ totalConnections: 3 });
    dashboard.unsubscribe();
    expect(await m.active(1)).toMatchObject({ totalConnections: 3 });

    // The remaining one still works: unsubscribing the others did not end it.
    await captureEvents(server.url, [pageview(1)]);
    await b.waitForResults(1);

    const c = client.subscribe(EVENTS);
    expect(await m.active(2)).toMatchObject({ totalConnections: 4 });
    b.unsubscribe();
    c.unsubscribe();
    expect(await m.active(0)).toMatchObject({ totalConnections: 4 });
    expect(m.totals()).toEqual([3, 3, 3, 4, 4]);
  });

  it("activeConnections goes down when the client disconnects", async () => {
    const server = await startServer();
    const client = streamClient(transport, server.url);
    client.subscribe(EVENTS);
    client.subscribe(DASHBOARD);
    expect(await waitForActive(server.url, 2)).toMatchObject({ totalConnections: 2 });

    await client.dispose();
    expect(await waitForActive(server.url, 0)).toMatchObject({ totalConnections: 2 });
  });
});

describe("realtimeMetrics when a connection drops without a word", () => {
  it("WebSocket: a socket cut mid-subscription is no longer counted", async () => {
    const server = await startServer();
    const kept = await RawGraphqlSocket.open(server.url);
    kept.subscribe("kept", EVENTS);
    const dropped = await RawGraphqlSocket.open(server.url);
    dropped.subscribe("1", EVENTS);
    dropped.subscribe("2", DASHBOARD);
    await waitForActive(server.url, 3);

    await dropped.terminate(); // no complete, no close frame
    expect(await waitForActive(server.url, 1)).toMatchObject({ totalConnections: 3 });
    expect(kept.isOpen).toBe(true);
  });

  it("SSE: a response cut mid-stream is no longer counted", async () => {
    const server = await startServer();
    const kept = await RawEventStream.post(server.url, EVENTS);
    const dropped = [await RawEventStream.post(server.url, EVENTS), await RawEventStream.post(server.url, DASHBOARD)];
    await waitForActive(server.url, 3);

    for (const stream of dropped) stream.close();
    expect(await waitForActive(server.url, 1)).toMatchObject({ totalConnections: 3 });
    kept.close();
    expect(await waitForActive(server.url, 0)).toMatchObject({ totalConnections: 3 });
  });

  it("counts subscriptions, not sockets: several operations on one WebSocket or one SSE client", async () => {
    const server = await startServer();
    const ws = wsClient(server.url);
    const sse = sseClient(server.url);
    const sink = { next: () => {}, error: () => {}, complete: () => {} };
    for (let i = 0; i < 3; i++) ws.subscribe({ query: EVENTS }, sink);
    for (let i = 0; i < 2; i++) sse.subscribe({ query: EVENTS }, sink);
    expect(await waitForActive(server.url, 5)).toMatchObject({ totalConnections: 5 });
  });
});

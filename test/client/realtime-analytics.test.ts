import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { RealtimeAnalytics, type ConnectionStatus, type PulseEvent, type RealtimeError } from "../../packages/client/src/index.ts";
import { onCleanup } from "../support/cleanup.ts";
import { captureEvent, captureEvents, captureUntilLagged, realtimeMetrics, waitForActive } from "../support/events.ts";
import { startServer } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";
import { startTcpProxy } from "../support/tcp-proxy.ts";

type Transport = "ws" | "sse";
/** A client on `url` with short retry delays, recording what it sees; disconnected after the test. */
function clientFor(url: string, transport: Transport, options: { apiKey?: string } = {}) {
  const client = new RealtimeAnalytics(url, {
    transport,
    webSocketImpl: WebSocket,
    retry: { initialDelayMs: 50, maxDelayMs: 500 },
    ...options,
  });
  onCleanup(() => client.disconnect());
  const received: PulseEvent[] = [];
  const statuses: ConnectionStatus[] = [];
  const errors: RealtimeError[] = [];
  client.on("*", (event) => received.push(event));
  client.onStatus((status) => statuses.push(status));
  client.onError((error) => errors.push(error));
  return { client, received, statuses, errors };
}

/** Captures `tick`-like events numbered by `properties.n`, as one batch (with `padding` bytes of properties each). */
function captureBatch(url: string, events: { event: string; n: number }[], padding = 0) {
  const extra = padding > 0 ? { padding: "x".repeat(padding) } : {};
  return captureEvents(
    url,
    events.map(({ event, n }) => ({ event, distinctId: "u", properties: { n, ...extra } })),
  );
}

const numbers = (events: PulseEvent[]) => events.map((e) => e.properties["n"]);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe.each<Transport>(["ws", "sse"])("RealtimeAnalytics over %s", (transport) => {
  it("delivers typed events to on(name) and on('*') listeners, filtered by connect(filter)", async () => {
    const server = await startServer();
    const { client, received, statuses } = clientFor(server.url, transport);
    const signups: PulseEvent[] = [];
    const stopSignups = client.on("signup", (event) => signups.push(event));
    expect(client.status).toBe("idle");

    client.connect({ environment: "production", events: ["signup", "purchase"] });
    await waitForActive(server.url, 1);
    await waitFor(() => client.status === "live", { what: "the live status" });

    await captureEvent(server.url, { event: "signup", distinctId: "ada", properties: { plan: "pro", $session_id: "s1" } });
    await captureEvent(server.url, { event: "signup", distinctId: "eve", environment: "staging" });
    await captureEvent(server.url, { event: "purchase", distinctId: "ada", properties: { amount: 3 } });
    await waitFor(() => received.length === 2, { what: "two events" });
    stopSignups();
    await captureEvent(server.url, { event: "signup", distinctId: "bob" });
    await waitFor(() => received.length === 3, { what: "the third event" });

    expect(received.map((e) => [e.event, e.distinctId])).toEqual([
      ["signup", "ada"],
      ["purchase", "ada"],
      ["signup", "bob"],
    ]);
    expect(received[0]).toMatchObject({ sessionId: "s1", environment: "production", properties: { plan: "pro" } });
    expect(typeof received[0]!.cursor).toBe("string");
    expect(signups.map((e) => e.distinctId)).toEqual(["ada"]);
    expect(client.lastCursor).toBe(received[2]!.cursor);

    await client.disconnect();
    expect(statuses).toEqual(["connecting", "live", "closed"]);
    await waitForActive(server.url, 0);
  });

  it("starts with the newest buffered events with connect(filter, { replay }), then live ones, none missed", async () => {
    const server = await startServer();
    await captureBatch(
      server.url,
      range(1, 5).map((n) => ({ event: "tick", n })),
    );
    const { client, received } = clientFor(server.url, transport);
    client.connect(null, { replay: 3 });
    await waitFor(() => received.length === 3, { what: "the three replayed events" });
    expect(numbers(received)).toEqual([3, 4, 5]);
    await captureBatch(server.url, [{ event: "tick", n: 6 }]);
    await waitFor(() => received.length === 4, { what: "the live event" });
    expect(numbers(received)).toEqual([3, 4, 5, 6]);
    expect(client.lastCursor).toBe(received[3]!.cursor);
  });

  it("resumes after a dropped connection with no lost and no repeated event", async () => {
    const server = await startServer();
    const proxy = await startTcpProxy(server.port);
    const { client, received, errors } = clientFor(proxy.url, transport);
    client.connect({ events: ["tick"] });
    await waitForActive(server.url, 1);

    await captureBatch(
      server.url,
      range(1, 5).map((n) => ({ event: "tick", n })),
    );
    await waitFor(() => received.length === 5, { what: "the first five" });

    proxy.block(true);
    proxy.cut();
    await waitForActive(server.url, 0);
    // Captured while the client cannot reach the server: still in the buffer, so the resume must bring them.
    await captureBatch(
      server.url,
      range(6, 10).map((n) => ({ event: "tick", n })),
    );
    await waitFor(() => client.status === "reconnecting", { what: "the client to notice" });
    proxy.block(false);
    await waitForActive(server.url, 1);
    await captureBatch(
      server.url,
      range(11, 12).map((n) => ({ event: "tick", n })),
    );

    await waitFor(() => received.length >= 12, { what: "all twelve" });
    expect(numbers(received)).toEqual(range(1, 12));
    expect(new Set(received.map((e) => e.cursor)).size).toBe(12);
    expect(errors.map((e) => e.code)).toContain("TRANSPORT");
  });

  it("resumes after a LAGGED end from its last cursor and receives every event once, in order", async () => {
    // A reader that stops reading (the proxy holds what the server sends) while 32 KB events keep coming: once its
    // socket's kernel buffers, the write-ahead and its queue of 5 are full, its subscription ends LAGGED.
    const server = await startServer({ subscriberQueue: 5 });
    const proxy = await startTcpProxy(server.port);
    const { client, received, errors } = clientFor(proxy.url, transport);
    client.connect();
    await waitForActive(server.url, 1);

    proxy.hold(true);
    const total = await captureUntilLagged(server.url, transport, (from, count) =>
      captureBatch(
        server.url,
        range(from, from + count - 1).map((n) => ({ event: "burst", n })),
        32_000,
      ),
    );
    proxy.hold(false);

    await waitFor(() => received.length >= total, { what: () => `all ${total} (got ${received.length})`, timeoutMs: 30_000 });
    expect(errors.map((e) => e.code)).toContain("LAGGED");
    expect(numbers(received)).toEqual(range(1, total));
    expect(server.hub.metrics().totalSubscriptions).toBeGreaterThanOrEqual(2);
  });

  it("starts over with live events when the server does not know its cursor (CURSOR_RESET)", async () => {
    const first = await startServer();
    const second = await startServer();
    const proxy = await startTcpProxy(first.port);
    const { client, received, errors } = clientFor(proxy.url, transport);
    client.connect();
    await waitForActive(first.url, 1);
    await captureBatch(
      first.url,
      range(1, 3).map((n) => ({ event: "tick", n })),
    );
    await waitFor(() => received.length === 3, { what: "three events" });

    // As if the server restarted without its buffer: the next connection lands on a server that never saw c1_3.
    proxy.retarget(second.port);
    proxy.cut();
    await waitForActive(second.url, 1);
    await captureBatch(second.url, [{ event: "tick", n: 100 }]);

    await waitFor(() => received.length === 4, { what: "the event from the new server" });
    expect(numbers(received)).toEqual([1, 2, 3, 100]);
    expect(errors.map((e) => e.code)).toContain("CURSOR_RESET");
  });

  it("stops with a fatal BAD_USER_INPUT for a filter the server refuses", async () => {
    const server = await startServer();
    const { client, statuses, errors } = clientFor(server.url, transport);
    client.connect({ properties: [{ property: "url", operator: "REGEX", value: "(?=a)b" }] });
    await waitFor(() => errors.length > 0, { what: "the error" });
    expect(errors[0]).toMatchObject({ code: "BAD_USER_INPUT", fatal: true });
    await waitFor(() => client.status === "closed", { what: "the closed status" });
    expect(statuses.at(-1)).toBe("closed");
    expect((await realtimeMetrics(server.url)).activeConnections).toBe(0);
  });

  it("keeps delivering when a listener throws, and reports it", async () => {
    const server = await startServer();
    const { client, received, errors } = clientFor(server.url, transport);
    client.on("boom", () => {
      throw new Error("listener bug");
    });
    client.connect();
    await waitForActive(server.url, 1);
    await captureEvent(server.url, { event: "boom", distinctId: "u" });
    await captureEvent(server.url, { event: "after", distinctId: "u" });
    await waitFor(() => received.length === 2, { what: "both events" });
    expect(errors.map((e) => e.code)).toEqual(["LISTENER"]);
  });
});

describe("RealtimeAnalytics construction", () => {
  it("asks for a WebSocket implementation where there is none (Node 20)", () => {
    expect(() => new RealtimeAnalytics("http://127.0.0.1:1", { transport: "ws" })).toThrow(/webSocketImpl/);
  });
});

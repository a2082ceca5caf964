import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { createClient as createSseClient } from "graphql-sse";
import { createClient as createWsClient, type Client as WsClient } from "graphql-ws";
import { describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import type { PulseServer } from "../../src/index.ts";
import { onCleanup } from "../support/cleanup.ts";
import { wsUrl, type Result } from "../support/clients.ts";
import { tempDatabaseUrl } from "../support/process.ts";
import { captureEvent, pageview, realtimeMetrics, waitForActive } from "../support/events.ts";
import { RawGraphqlSocket } from "../support/raw-ws.ts";
import { startServer } from "../support/server.ts";
import { deferred, waitFor, within } from "../support/wait.ts";

/**
 * What stock clients (graphql-ws's and graphql-sse's `createClient` with their default retries, no application code)
 * see across a restart and during startup (CONTRACT.md, Subscriptions: Shutdown and Startup). graphql-ws's client
 * retries after 1-4 s (its randomised backoff), graphql-sse's likewise: hence the longer waits.
 */
const EVENTS = "subscription { events { id } }";
const DASHBOARD = "subscription { liveDashboard(intervalMs: 250) { liveUsers } }";
const RETRY_WAIT_MS = 15_000;

/** graphql-ws's client as an Apollo or urql user builds it: default retries, `ws` as the WebSocket. */
function stockWsClient(baseUrl: string): WsClient {
  const client = createWsClient({ url: wsUrl(baseUrl), webSocketImpl: WebSocket, lazy: true });
  onCleanup(() => client.dispose());
  return client;
}

/** One subscription's results and end, with whatever client sink shape. */
function recordSink(): {
  results: Result[];
  end: string | null;
  sink: { next(r: Result): void; error(e: unknown): void; complete(): void };
} {
  const recording = {
    results: [] as Result[],
    end: null as string | null,
    sink: {
      next: (result: Result) => void recording.results.push(result),
      error: (error: unknown) => void (recording.end = `error ${describeError(error)}`),
      complete: () => void (recording.end = "complete"),
    },
  };
  return recording;
}

/** An Error's or ErrorEvent's message, else the JSON (GraphQL errors, a close event). */
function describeError(error: unknown): string {
  const message = (error as { message?: unknown } | null)?.message;
  return typeof message === "string" ? message : JSON.stringify(error);
}

/** A server on a database of its own in a temp dir, and how to start its successor on the same port and database. */
async function restartable(): Promise<{ first: PulseServer; restart: () => Promise<PulseServer> }> {
  const databaseUrl = tempDatabaseUrl();
  const first = await startServer({ databaseUrl });
  await first.ready;
  return {
    first,
    restart: async () => {
      await first.close();
      const next = await startServer({ databaseUrl, port: first.port });
      await next.ready;
      return next;
    },
  };
}

describe("a restart (close(), then a new server on the same port and database)", () => {
  it("a stock graphql-ws client subscribes again by itself and receives the next event", { timeout: 30_000 }, async () => {
    const { first, restart } = await restartable();
    const client = stockWsClient(first.url);
    const closes: number[] = [];
    client.on("closed", (event) => void closes.push((event as { code: number }).code));
    const events = recordSink();
    client.subscribe({ query: EVENTS }, events.sink);
    await waitForActive(first.url, 1);
    const before = await captureEvent(first.url, pageview(1));
    await waitFor(() => events.results.length === 1, { what: "the event before the restart" });

    const second = await restart();
    await waitFor(async () => (await realtimeMetrics(second.url)).activeConnections === 1, {
      what: () => `the client to subscribe again (closes so far: ${JSON.stringify(closes)}, end: ${events.end})`,
      timeoutMs: RETRY_WAIT_MS,
    });
    const after = await captureEvent(second.url, pageview(2));
    await waitFor(() => events.results.length === 2, { what: () => `the event after the restart (end: ${events.end})` });

    expect(events.results.map((result) => result.data)).toEqual([{ events: { id: before.id } }, { events: { id: after.id } }]);
    expect(events.end).toBeNull();
    expect(closes[0]).toBe(1001);
    // Before the second server closes (cleanup), or the client would retry against a closed port.
    await client.dispose();
  });

  it(
    "a stock graphql-sse client (distinct connections) subscribes again by itself and receives the next event",
    { timeout: 30_000 },
    async () => {
      const { first, restart } = await restartable();
      const client = createSseClient({ url: `${first.url}/graphql/stream` });
      onCleanup(() => client.dispose());
      const events = recordSink();
      const unsubscribe = client.subscribe({ query: EVENTS }, events.sink);
      await waitForActive(first.url, 1);
      const before = await captureEvent(first.url, pageview(1));
      await waitFor(() => events.results.length === 1, { what: "the event before the restart" });

      const second = await restart();
      await waitFor(async () => (await realtimeMetrics(second.url)).activeConnections === 1, {
        what: () => `the client to subscribe again (end: ${events.end})`,
        timeoutMs: RETRY_WAIT_MS,
      });
      const after = await captureEvent(second.url, pageview(2));
      await waitFor(() => events.results.length === 2, { what: () => `the event after the restart (end: ${events.end})` });

      expect(events.results.map((result) => result.data)).toEqual([{ events: { id: before.id } }, { events: { id: after.id } }]);
      expect(events.end).toBeNull();
      unsubscribe();
    },
  );
});

describe("shutdown on the wire", () => {
  it("closes a WebSocket with 1001 and no `complete` for any of its operations", async () => {
    const server = await startServer();
    const raw = await RawGraphqlSocket.open(server.url);
    raw.subscribe("events", EVENTS);
    raw.subscribe("dashboard", DASHBOARD);
    await waitForActive(server.url, 2);
    await raw.waitForMessage((m) => m.id === "dashboard" && m.type === "next", "the first dashboard tick");

    await within(server.close(), "server.close()");

    const closed = await within(raw.whenClosed(), "the socket's close");
    expect(closed).toEqual({ code: 1001, reason: "Pulse is shutting down" });
    expect(raw.messages.filter((m) => m.type === "complete" || m.type === "error")).toEqual([]);
  });

  it("ends an event stream (graphql-sse at /graphql/stream, Yoga's at /graphql) without `event: complete`", async () => {
    const server = await startServer();
    const streams = [
      openEventStream(`${server.url}/graphql/stream`, "POST", EVENTS),
      openEventStream(`${server.url}/graphql/stream`, "POST", DASHBOARD),
      openEventStream(`${server.url}/graphql?query=${encodeURIComponent(EVENTS)}`, "GET"),
    ];
    const opened = await Promise.all(streams);
    await waitForActive(server.url, 3);
    await waitFor(() => opened[1]!.text.includes("event: next"), { what: "the first dashboard tick" });

    await within(server.close(), "server.close()");

    for (const stream of opened) {
      expect(await within(stream.ended, "the stream's end")).toBe("end");
      expect(stream.status).toBe(200);
      expect(stream.text).not.toContain("complete");
    }
  });
});

describe("startup (beforeReady still running)", () => {
  /** A server whose startup waits for `release()`; released at cleanup too, so close() does not wait forever. */
  async function startingServer(): Promise<{ server: PulseServer; release: () => void }> {
    const gate = deferred<void>();
    const server = await startServer({ beforeReady: () => gate.promise }, { awaitReady: false });
    onCleanup(() => gate.resolve());
    return { server, release: () => gate.resolve() };
  }

  it("closes a WebSocket upgrade with 1013 and a reason before any connection_ack", async () => {
    const { server } = await startingServer();
    const socket = new WebSocket(wsUrl(server.url), "graphql-transport-ws");
    onCleanup(() => socket.terminate());
    const messages: string[] = [];
    socket.on("message", (data) => void messages.push((data as Buffer).toString("utf8")));
    socket.on("open", () => socket.send(JSON.stringify({ type: "connection_init" })));
    const closed = await within(
      new Promise<{ code: number; reason: string }>((resolve) =>
        socket.on("close", (code, reason) => resolve({ code, reason: String(reason) })),
      ),
      "the close",
    );
    expect(closed.code).toBe(1013);
    expect(closed.reason).toMatch(/^Pulse is starting \(startup pending\); retry shortly$/);
    expect(messages).toEqual([]);
  });

  // Why 1013 and not an upgrade answered 503 + Retry-After: `ws` reports a refused upgrade as an error event before
  // the close, and graphql-ws's default `shouldRetry` (only close events) makes that fatal. If this starts to fail,
  // graphql-ws retries refused upgrades and a plain 503 would do.
  it("(graphql-ws's client gives up at once on an upgrade answered 503, which is why Pulse does not answer that)", async () => {
    const server = createServer();
    let upgrades = 0;
    const wss = new WebSocketServer({
      server,
      verifyClient: (_info, callback) => void (upgrades++, callback(false, 503, "starting", { "Retry-After": "1" })),
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    onCleanup(() => new Promise((resolve) => server.close(resolve)));
    onCleanup(() => new Promise((resolve) => wss.close(resolve)));
    const client = stockWsClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const events = recordSink();
    client.subscribe({ query: EVENTS }, events.sink);
    await waitFor(() => events.end, { what: "the operation's end" });
    expect(events.end).toMatch(/^error .*503/);
    expect(upgrades).toBe(1);
  });

  it(
    "a stock graphql-ws client connecting meanwhile is subscribed once ready and receives the next event",
    { timeout: 30_000 },
    async () => {
      const { server, release } = await startingServer();
      const client = stockWsClient(server.url);
      const closes: number[] = [];
      client.on("closed", (event) => void closes.push((event as { code: number }).code));
      const events = recordSink();
      client.subscribe({ query: EVENTS }, events.sink);
      await waitFor(() => closes.length > 0, { what: "a refused attempt" });
      expect(closes[0]).toBe(1013);

      release();
      await server.ready;
      await waitFor(async () => (await realtimeMetrics(server.url)).activeConnections === 1, {
        what: () => `the client to subscribe (closes: ${JSON.stringify(closes)}, end: ${events.end})`,
        timeoutMs: RETRY_WAIT_MS,
      });
      const event = await captureEvent(server.url, pageview(1));
      await waitFor(() => events.results.length === 1, { what: () => `the event (end: ${events.end})` });
      expect(events.results[0]!.data).toEqual({ events: { id: event.id } });
      expect(events.end).toBeNull();
    },
  );

  it(
    "answers event stream requests 503 with Retry-After, and a stock graphql-sse client is subscribed once ready",
    { timeout: 30_000 },
    async () => {
      const { server, release } = await startingServer();
      for (const stream of [
        openEventStream(`${server.url}/graphql/stream`, "POST", EVENTS),
        openEventStream(`${server.url}/graphql?query=${encodeURIComponent(EVENTS)}`, "GET"),
      ]) {
        const refused = await stream;
        await within(refused.ended, "the refusal's end");
        expect(refused.status).toBe(503);
        expect(refused.headers["retry-after"]).toBe("1");
        expect(refused.text).toContain("UNAVAILABLE");
      }

      const client = createSseClient({ url: `${server.url}/graphql/stream` });
      onCleanup(() => client.dispose());
      const connecting: boolean[] = [];
      const events = recordSink();
      onCleanup(client.subscribe({ query: EVENTS }, events.sink, { connecting: (retrying) => void connecting.push(retrying) }));
      // Refused once (503), then retried.
      await waitFor(() => connecting.length >= 2, { what: "a retry", timeoutMs: RETRY_WAIT_MS });
      release();
      await server.ready;
      await waitFor(async () => (await realtimeMetrics(server.url)).activeConnections === 1, {
        what: () => `the client to subscribe (end: ${events.end})`,
        timeoutMs: RETRY_WAIT_MS,
      });
      const event = await captureEvent(server.url, pageview(1));
      await waitFor(() => events.results.length === 1, { what: () => `the event (end: ${events.end})` });
      expect(events.results[0]!.data).toEqual({ events: { id: event.id } });
      expect(events.end).toBeNull();
    },
  );
});

interface OpenedStream {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  /** Everything received so far. */
  text: string;
  /** "end" for a clean end of the response, "error" for a cut connection. */
  readonly ended: Promise<"end" | "error">;
}

/** An event stream request read by hand; resolves once the response head has arrived. */
function openEventStream(url: string, method: "GET" | "POST", query?: string): Promise<OpenedStream> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: { accept: "text/event-stream", "content-type": "application/json" } }, (res) => {
      onCleanup(() => res.destroy());
      const ended = deferred<"end" | "error">();
      const stream: OpenedStream = { status: res.statusCode ?? 0, headers: res.headers, text: "", ended: ended.promise };
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (stream.text += chunk));
      res.on("end", () => ended.resolve("end"));
      res.on("error", () => ended.resolve("error"));
      res.on("aborted", () => ended.resolve("error"));
      resolve(stream);
    });
    req.on("error", reject);
    req.end(method === "POST" ? JSON.stringify({ query }) : undefined);
  });
}

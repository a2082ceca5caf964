import { request, type IncomingMessage } from "node:http";
import { createClient } from "graphql-sse";
import { afterEach, describe, expect, it } from "vitest";
import { cleanup, onCleanup } from "../support/cleanup.ts";
import type { Result } from "../support/clients.ts";
import { captureEvent, captureEvents, pageview, recentEvents, waitForActive, type EventPayload } from "../support/events.ts";
import { startServer } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";

afterEach(cleanup);

/**
 * Pulse's SSE transport (src/transport/sse.ts) on raw HTTP streams: an `events` subscription on a stream of its own
 * is pushed to the response (graphql-sse's distinct connections mode); one on a shared stream (single connection
 * mode) is read by graphql-sse. The frames are what graphql-sse's clients parse.
 */
interface Frame {
  readonly event: string;
  readonly data: Result | null;
}

/** One event stream read by hand, so it can stop reading (`pause()`) and the server's writes back up. */
class RawEventStream {
  readonly frames: Frame[] = [];
  ended = false;
  private response: IncomingMessage | undefined;
  private text = "";

  static open(baseUrl: string, query: string, variables?: Record<string, unknown>): Promise<RawEventStream> {
    const stream = new RawEventStream();
    return new Promise((resolve, reject) => {
      const req = request(`${baseUrl}/graphql/stream`, { method: "POST", headers: { accept: "text/event-stream", "content-type": "application/json" } }, (res) => {
        stream.response = res;
        onCleanup(() => res.destroy());
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => stream.read(chunk));
        res.on("end", () => (stream.ended = true));
        res.on("error", () => {});
        resolve(stream);
      });
      req.on("error", reject);
      req.end(JSON.stringify({ query, variables }));
    });
  }

  pause(): void {
    this.response!.pause();
  }

  resume(): void {
    this.response!.resume();
  }

  private read(chunk: string): void {
    this.text += chunk;
    for (let end = this.text.indexOf("\n\n"); end >= 0; end = this.text.indexOf("\n\n")) {
      const block = this.text.slice(0, end);
      this.text = this.text.slice(end + 2);
      if (block.startsWith(":")) continue; // keep-alive comment
      const event = /^event: (.*)$/m.exec(block)?.[1] ?? "";
      const data = /^data: ?(.*)$/m.exec(block)?.[1] ?? "";
      this.frames.push({ event, data: data ? (JSON.parse(data) as Result) : null });
    }
  }

  get events(): EventPayload[] {
    return this.frames.filter((f) => f.event === "next" && f.data?.data).map((f) => f.data!.data!["events"] as EventPayload);
  }
}

describe("an events subscription on a stream of its own", () => {
  it("gets each event as one next frame, in order, every stream the same frames", async () => {
    const server = await startServer();
    const query = "subscription { events { event cursor } }";
    const streams = await Promise.all([RawEventStream.open(server.url, query), RawEventStream.open(server.url, query)]);
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
    const slow = await RawEventStream.open(server.url, heavy);
    const fast = await RawEventStream.open(server.url, "subscription { events { id cursor } }");
    await waitForActive(server.url, 2);
    await captureEvent(server.url, pageview(0, { properties: { padding } }));
    await waitFor(() => slow.events.length === 1, { what: "the first event on the slow stream" });
    slow.pause();

    for (let n = 1; n < 800; n += 50) {
      await captureEvents(server.url, Array.from({ length: 50 }, (_, i) => pageview(n + i, { properties: { padding } })));
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
    // The stream's reservation is a PUT a form could send: CSRF prevention wants the header (README, "Security").
    const client = createClient({ url: `${server.url}/graphql/stream`, singleConnection: true, retryAttempts: 0, headers: { "x-graphql-yoga-csrf": "1" } });
    onCleanup(() => client.dispose());
    const received: Result[] = [];
    const unsubscribe = client.subscribe<Record<string, unknown>>(
      { query: "subscription { events { event } }" },
      { next: (result) => void received.push(result as Result), error: () => {}, complete: () => {} },
    );
    await waitForActive(server.url, 1);
    for (const n of [1, 2]) await captureEvent(server.url, pageview(n, { event: `e${n}` }));
    await waitFor(() => received.length === 2, { what: "two events" });
    expect(received.map((r) => (r.data!["events"] as EventPayload).event)).toEqual(["e1", "e2"]);
    unsubscribe();
    await waitForActive(server.url, 0);
  });
});

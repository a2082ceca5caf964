import { describe, expect, it } from "vitest";
import { describeEnd, streamClient, wsClient, type Result } from "../support/clients.ts";
import { captureEvent, pageview, waitForActive } from "../support/events.ts";
import { startPulseProcess } from "../support/process.ts";
import { RawGraphqlSocket } from "../support/raw-ws.ts";
import { startServer } from "../support/server.ts";
import { deferred, within } from "../support/wait.ts";

const EVENTS = "subscription { events { id } }";
const DASHBOARD = "subscription { liveDashboard(intervalMs: 250) { liveUsers } }";

describe("close()", () => {
  // Revised contract (CONTRACT.md, Shutdown): no `complete` at shutdown, which stock clients take as final; the
  // operations end with the connection (1001, the end of the event stream), which they retry.
  it("ends every open subscription on both transports without a `complete`, closing WebSockets with 1001", async () => {
    const server = await startServer();
    const ws = streamClient("ws", server.url);
    const sse = streamClient("sse", server.url);
    const recordings = [ws.subscribe(EVENTS), ws.subscribe(DASHBOARD), sse.subscribe(EVENTS), sse.subscribe(DASHBOARD)];
    const raw = await RawGraphqlSocket.open(server.url);
    raw.subscribe("events", EVENTS);
    raw.subscribe("dashboard", DASHBOARD);
    await waitForActive(server.url, 6);
    const event = await captureEvent(server.url, pageview(1));
    await recordings[0]!.waitForResults(1);
    await recordings[2]!.waitForResults(1);

    await within(server.close(), "server.close()");

    // These clients do not retry (retryAttempts: 0): the end of the connection is their operations' error.
    for (const recording of recordings) {
      const end = await within(recording.ended, "the end of a subscription");
      expect(end.kind, describeEnd(end)).toBe("error");
    }
    expect(recordings[0]!.values("events")).toEqual([{ id: event.id }]);
    const closed = await within(raw.whenClosed(), "the raw socket's close");
    expect(closed.code).toBe(1001);
    expect(raw.messages.filter((m) => m.type === "complete" || m.type === "error")).toEqual([]);
  });

  it("tells a graphql-ws client the server is going away (1001)", async () => {
    const server = await startServer();
    const client = wsClient(server.url);
    const closed = deferred<number>();
    client.on("closed", (event) => closed.resolve((event as { code: number }).code));
    const ended = deferred<unknown>();
    client.subscribe(
      { query: EVENTS },
      {
        next: () => {},
        error: (e) => ended.resolve(e),
        complete: () => ended.reject(new Error("completed: a stock client would not resubscribe")),
      },
    );
    await waitForActive(server.url, 1);

    await server.close();
    expect(await within(closed.promise, "the close event")).toBe(1001);
    // Without retries, the close itself is the operation's end (with its default retries the client reconnects: restarts.test.ts).
    expect(await within(ended.promise, "the operation's end")).toMatchObject({ code: 1001 });
  });

  it("rejects connections afterwards, and a second close() is harmless", async () => {
    const server = await startServer();
    await server.close();
    await server.close();
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
  });
});

describe("the server process", () => {
  it("exits 0 on SIGTERM with subscribers connected, closing WebSockets with 1001 and ending event streams, no `complete`", async () => {
    const { child, url, output, exited } = await startPulseProcess({ NODE_ENV: "production" });
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);

    const raw = await RawGraphqlSocket.open(url);
    raw.subscribe("1", EVENTS);
    const sse = streamClient("sse", url).subscribe(EVENTS);
    await waitForActive(url, 2);
    const event = await captureEvent(url, pageview(1));
    await sse.waitForResults(1);
    await raw.waitForMessage((m) => m.id === "1" && m.type === "next", "the event on the WebSocket");

    child.kill("SIGTERM");
    expect((await within(exited, "the process to exit", 20_000)).code, output()).toBe(0);
    expect((await within(raw.whenClosed(), "the socket's close")).code).toBe(1001);
    expect(raw.messagesFor("1").map((m) => m.type)).toEqual(["next"]);
    expect((raw.messagesFor("1")[0]!.payload as Result).data).toEqual({ events: { id: event.id } });
    expect((await within(sse.ended, "the SSE subscription's end")).kind).toBe("error");
    expect(output()).toContain("SIGTERM");
  }, 60_000);
});

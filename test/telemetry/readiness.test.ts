import { describe, expect, it } from "vitest";
import { Readiness } from "../../src/telemetry/readiness.ts";
import { describeEnd, gql, streamClient } from "../support/clients.ts";
import { CAPTURE_EVENT, pageview } from "../support/events.ts";
import { scrape } from "../support/metrics.ts";
import { startServer } from "../support/server.ts";
import { deferred, within } from "../support/wait.ts";

async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url);
  return { status: response.status, body: await response.json() };
}

describe("GET /healthz and /readyz", () => {
  it("are 200 once a server without startup work is listening", async () => {
    const server = await startServer();
    expect(await getJson(`${server.url}/healthz`)).toEqual({ status: 200, body: { status: "ok" } });
    expect(await getJson(`${server.url}/readyz`)).toEqual({
      status: 200,
      body: { status: "ready", checks: { listening: "ok", startup: "ok" } },
    });
  });

  it("hold /readyz at 503 and refuse GraphQL with UNAVAILABLE until the restore finishes, then serve", async () => {
    const restore = deferred();
    const server = await startServer({ beforeReady: () => restore.promise }, { awaitReady: false });

    expect(await getJson(`${server.url}/healthz`)).toEqual({ status: 200, body: { status: "ok" } });
    expect(await getJson(`${server.url}/readyz`)).toEqual({
      status: 503,
      body: { status: "not ready", checks: { listening: "ok", startup: "pending" } },
    });
    expect((await fetch(`${server.url}/metrics`)).status).toBe(200);

    // Every transport is turned away while the hub is being restored; nothing is stored.
    const http = await fetch(`${server.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: CAPTURE_EVENT, variables: { input: pageview(1) } }),
    });
    expect(http.status).toBe(503);
    expect(http.headers.get("retry-after")).toBe("1");
    expect(((await http.json()) as { errors: { extensions: { code: string } }[] }).errors[0]?.extensions.code).toBe("UNAVAILABLE");
    const sse = await fetch(`${server.url}/graphql/stream`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify({ query: "subscription { events { id } }" }),
    });
    expect(sse.status).toBe(503);
    await sse.arrayBuffer();
    const ws = streamClient("ws", server.url);
    const wsCapture = ws.subscribe(CAPTURE_EVENT, { input: pageview(2) });
    const wsSubscription = ws.subscribe("subscription { events { id } }");
    await within(Promise.all([wsCapture.ended, wsSubscription.ended]), "the WebSocket operations to be refused");
    // The connection is closed with 1013 before any connection_ack: stock clients retry it (restarts.test.ts), where
    // an acknowledged connection whose operations end with UNAVAILABLE and `complete` ended them for good.
    for (const refused of [wsCapture, wsSubscription]) {
      expect(refused.end, describeEnd(refused.end)).toMatchObject({ kind: "error", error: { code: 1013 } });
    }
    expect(server.hub.stream.size).toBe(0);
    const whileStarting = await scrape(server.url);
    expect(whileStarting.value("pulse_capture_rejected_total", { code: "UNAVAILABLE" })).toBe(0);
    expect(whileStarting.value("pulse_subscriptions_started_total", { transport: "ws" })).toBe(0);

    restore.resolve();
    await server.ready;
    expect(await getJson(`${server.url}/readyz`)).toEqual({
      status: 200,
      body: { status: "ready", checks: { listening: "ok", startup: "ok" } },
    });
    expect((await gql(server.url, CAPTURE_EVENT, { input: pageview(3) })).errors).toBeUndefined();
    expect(server.hub.stream.size).toBe(1);
  });

  it("report a failed restore in /readyz and reject `ready` with it", async () => {
    const server = await startServer({ beforeReady: async () => Promise.reject(new Error("snapshot is corrupt")) }, { awaitReady: false });
    await expect(server.ready).rejects.toThrow("snapshot is corrupt");
    expect(await getJson(`${server.url}/readyz`)).toEqual({
      status: 503,
      body: { status: "not ready", checks: { listening: "ok", startup: "failed: snapshot is corrupt" } },
    });
  });

  it("evaluate states set and live checks registered by other parts of Pulse", async () => {
    const server = await startServer();
    server.readiness.set("snapshot-restored", "restoring 10000 events");
    let storeAnswers = false;
    const unregister = server.readiness.register("store", () => (storeAnswers ? true : "unreachable: connection refused"));

    expect(await getJson(`${server.url}/readyz`)).toEqual({
      status: 503,
      body: {
        status: "not ready",
        checks: { listening: "ok", startup: "ok", "snapshot-restored": "restoring 10000 events", store: "unreachable: connection refused" },
      },
    });
    server.readiness.set("snapshot-restored", true);
    storeAnswers = true;
    expect(await getJson(`${server.url}/readyz`)).toMatchObject({
      status: 200,
      body: { checks: { "snapshot-restored": "ok", store: "ok" } },
    });
    storeAnswers = false;
    unregister();
    expect((await getJson(`${server.url}/readyz`)).status).toBe(200);
  });

  it("is not ready once the server is shutting down", async () => {
    const server = await startServer();
    const closing = server.close();
    expect((await server.readiness.evaluate()).checks.listening).toBe("shutting down");
    await closing;
  });
});

describe("Readiness", () => {
  it("fails a live check that throws or does not answer in time, naming why", async () => {
    const readiness = new Readiness({ checkTimeoutMs: 50 });
    readiness.register("throws", () => {
      throw new Error("boom");
    });
    readiness.register("rejects", () => Promise.reject(new Error("no route to host")));
    readiness.register("hangs", () => new Promise(() => {}));
    readiness.register("passes", () => true);
    expect(await readiness.evaluate()).toEqual({
      ready: false,
      checks: { throws: "failed: boom", rejects: "failed: no route to host", hangs: "timed out after 50 ms", passes: "ok" },
    });
  });
});

import WebSocket from "ws";
import { describe, expect, it } from "vitest";
import {
  anEvent,
  CAPTURE,
  codeOf,
  gql,
  initializedSocket,
  onCleanup,
  post,
  rawSocket,
  startPulse,
  waitFor,
} from "../support/trust-harness.ts";
import type { PulseServer } from "../../src/server.ts";

const SUBSCRIPTION = "subscription { events { id } }";

describe("operations per WebSocket connection", () => {
  it("accepts 100 of 200 subscriptions on one socket, refuses the rest with RATE_LIMITED, and keeps the socket up", async () => {
    const server = await startPulse();
    const raw = await initializedSocket(server);
    for (let i = 0; i < 200; i++) raw.send({ type: "subscribe", id: `s${i}`, payload: { query: SUBSCRIPTION } });
    await waitFor(() => raw.messages.filter((m) => m["type"] === "error").length === 100, 10_000, "100 refusals");
    await waitFor(() => server.hub.metrics().activeSubscriptions === 100, 10_000, "100 subscriptions");
    const refusals = raw.messages.filter((m) => m["type"] === "error");
    for (const refusal of refusals) {
      const errors = refusal["payload"] as { message: string; extensions: Record<string, unknown> }[];
      expect(errors[0]!.extensions["code"]).toBe("RATE_LIMITED");
      expect(errors[0]!.message).toContain("PULSE_MAX_SUBSCRIPTIONS_PER_CONNECTION");
    }
    // The 100 accepted ones are live and the socket still works: each gets the next event.
    await gql(server, CAPTURE, { input: anEvent() });
    await waitFor(() => raw.messages.filter((m) => m["type"] === "next").length === 100, 10_000, "100 deliveries");
    const delivered = new Set(raw.messages.filter((m) => m["type"] === "next").map((m) => m["id"]));
    const refused = new Set(refusals.map((m) => m["id"]));
    expect([...delivered].some((id) => refused.has(id))).toBe(false);
    expect(raw.socket.readyState).toBe(WebSocket.OPEN);
  });

  it("frees a slot when a subscription completes", async () => {
    const server = await startPulse({ trust: { maxSubscriptionsPerConnection: 1 } });
    const raw = await initializedSocket(server);
    raw.send({ type: "subscribe", id: "a", payload: { query: SUBSCRIPTION } });
    raw.send({ type: "subscribe", id: "b", payload: { query: SUBSCRIPTION } });
    await raw.next((m) => m["id"] === "b" && m["type"] === "error", "refusal of b");
    raw.send({ type: "complete", id: "a" });
    await waitFor(() => server.hub.metrics().activeSubscriptions === 0, 10_000, "a completed");
    raw.send({ type: "subscribe", id: "c", payload: { query: SUBSCRIPTION } });
    await waitFor(() => server.hub.metrics().activeSubscriptions === 1, 10_000, "c accepted");
  });
});

/** Opens a WebSocket and resolves with "open" or the HTTP status that refused the upgrade. */
function connect(server: PulseServer): Promise<{ outcome: "open" | number; socket: WebSocket }> {
  const socket = new WebSocket(`${server.url.replace("http", "ws")}/graphql`, "graphql-transport-ws");
  socket.on("error", () => {}); // a refused upgrade also emits "error"; the outcome says what happened
  onCleanup(() => socket.terminate());
  return new Promise((resolve) => {
    socket.once("open", () => resolve({ outcome: "open", socket }));
    socket.once("unexpected-response", (_req, res) => resolve({ outcome: res.statusCode ?? 0, socket }));
  });
}

describe("connections per address", () => {
  it("refuses a WebSocket over PULSE_MAX_CONNECTIONS_PER_ADDRESS with HTTP 429 at the upgrade", async () => {
    const server = await startPulse({ trust: { maxConnectionsPerAddress: 2 } });
    const first = await connect(server);
    expect(first.outcome).toBe("open");
    expect((await connect(server)).outcome).toBe("open");
    expect((await connect(server)).outcome).toBe(429);
    first.socket.close();
    await waitFor(async () => (await connect(server)).outcome === "open", 10_000, "a freed slot");
  });

  it("counts SSE streams with WebSockets and refuses an extra stream with 429 RATE_LIMITED", async () => {
    const server = await startPulse({ trust: { maxConnectionsPerAddress: 2 } });
    const first = await connect(server);
    await connect(server);
    const answer = await post(server, JSON.stringify({ query: SUBSCRIPTION }), { "content-type": "application/json", accept: "text/event-stream" }, "/graphql/stream");
    expect(answer.status).toBe(429);
    expect(codeOf(answer.body)).toBe("RATE_LIMITED");
    expect(server.hub.metrics().activeSubscriptions).toBe(0);
    // A plain HTTP connection counts too (src/transport/http-limits.ts): served again once a WebSocket has gone.
    expect((await gql(server, "{ realtimeMetrics { eventsTotal } }")).status).toBe(429);
    first.socket.close();
    await waitFor(async () => (await gql(server, "{ realtimeMetrics { eventsTotal } }")).status === 200, 10_000, "a freed slot");
  });
});

describe("graphql-transport-ws protocol abuse", () => {
  it("closes with 4408 when connection_init never comes", async () => {
    const server = await startPulse({ trust: { connectionInitTimeoutMs: 100 } });
    const raw = await rawSocket(server);
    expect(await raw.closed).toBe(4408);
  });

  it("closes with 4429 on a second connection_init", async () => {
    const server = await startPulse();
    const raw = await initializedSocket(server);
    raw.send({ type: "connection_init" });
    expect(await raw.closed).toBe(4429);
  });

  it("closes with 4409 on a duplicate operation id, ending the first operation", async () => {
    const server = await startPulse();
    const raw = await initializedSocket(server);
    raw.send({ type: "subscribe", id: "same", payload: { query: SUBSCRIPTION } });
    await waitFor(() => server.hub.metrics().activeSubscriptions === 1, 10_000, "first subscription");
    raw.send({ type: "subscribe", id: "same", payload: { query: SUBSCRIPTION } });
    expect(await raw.closed).toBe(4409);
    await waitFor(() => server.hub.metrics().activeSubscriptions === 0, 10_000, "subscription ended");
  });

  it("closes with 4400 on a message that is not JSON and 4401 on subscribe before connection_init", async () => {
    const server = await startPulse();
    const garbage = await rawSocket(server);
    garbage.send("{ not json");
    expect(await garbage.closed).toBe(4400);
    const early = await rawSocket(server);
    early.send({ type: "subscribe", id: "1", payload: { query: CAPTURE, variables: { input: anEvent() } } });
    expect(await early.closed).toBe(4401);
    expect(server.hub.stream.size).toBe(0);
  });
});

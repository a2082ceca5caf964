import { describe, expect, it } from "vitest";
import { codeOf, gqlResponse, post } from "../support/clients.ts";
import { anEvent, CAPTURE } from "../support/events.ts";
import { RawGraphqlSocket } from "../support/raw-ws.ts";
import { startServer } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";

const SUBSCRIPTION = "subscription { events { id } }";

describe("operations per WebSocket connection", () => {
  it("accepts 100 of 200 subscriptions on one socket, refuses the rest with RATE_LIMITED, and keeps the socket up", async () => {
    const server = await startServer();
    const raw = await RawGraphqlSocket.open(server.url);
    for (let i = 0; i < 200; i++) raw.send({ type: "subscribe", id: `s${i}`, payload: { query: SUBSCRIPTION } });
    await waitFor(() => raw.messages.filter((m) => m["type"] === "error").length === 100, { what: "100 refusals" });
    await waitFor(() => server.hub.metrics().activeSubscriptions === 100, { what: "100 subscriptions" });
    const refusals = raw.messages.filter((m) => m["type"] === "error");
    for (const refusal of refusals) {
      const errors = refusal["payload"] as { message: string; extensions: Record<string, unknown> }[];
      expect(errors[0]!.extensions["code"]).toBe("RATE_LIMITED");
      expect(errors[0]!.message).toContain("PULSE_MAX_SUBSCRIPTIONS_PER_CONNECTION");
    }
    // The 100 accepted ones are live and the socket still works: each gets the next event.
    await gqlResponse(server.url, CAPTURE, { input: anEvent() });
    await waitFor(() => raw.messages.filter((m) => m["type"] === "next").length === 100, { what: "100 deliveries" });
    const delivered = new Set(raw.messages.filter((m) => m["type"] === "next").map((m) => m["id"]));
    const refused = new Set(refusals.map((m) => m["id"]));
    expect([...delivered].some((id) => refused.has(id))).toBe(false);
    expect(raw.isOpen).toBe(true);
  });

  it("frees a slot when a subscription completes", async () => {
    const server = await startServer({ trust: { maxSubscriptionsPerConnection: 1 } });
    const raw = await RawGraphqlSocket.open(server.url);
    raw.send({ type: "subscribe", id: "a", payload: { query: SUBSCRIPTION } });
    raw.send({ type: "subscribe", id: "b", payload: { query: SUBSCRIPTION } });
    await raw.waitForMessage((m) => m["id"] === "b" && m["type"] === "error", "refusal of b");
    raw.send({ type: "complete", id: "a" });
    await waitFor(() => server.hub.metrics().activeSubscriptions === 0, { what: "a completed" });
    raw.send({ type: "subscribe", id: "c", payload: { query: SUBSCRIPTION } });
    await waitFor(() => server.hub.metrics().activeSubscriptions === 1, { what: "c accepted" });
  });
});

describe("connections per address", () => {
  it("refuses a WebSocket over PULSE_MAX_CONNECTIONS_PER_ADDRESS with HTTP 429 at the upgrade", async () => {
    const server = await startServer({ trust: { maxConnectionsPerAddress: 2 } });
    const first = await RawGraphqlSocket.attempt(server.url);
    expect(first.outcome).toBe("open");
    expect((await RawGraphqlSocket.attempt(server.url)).outcome).toBe("open");
    expect((await RawGraphqlSocket.attempt(server.url)).outcome).toBe(429);
    await first.socket.close();
    await waitFor(async () => (await RawGraphqlSocket.attempt(server.url)).outcome === "open", { what: "a freed slot" });
  });

  it("counts SSE streams with WebSockets and refuses an extra stream with 429 RATE_LIMITED", async () => {
    const server = await startServer({ trust: { maxConnectionsPerAddress: 2 } });
    const first = await RawGraphqlSocket.attempt(server.url);
    await RawGraphqlSocket.attempt(server.url);
    const answer = await post(
      server.url,
      JSON.stringify({ query: SUBSCRIPTION }),
      { "content-type": "application/json", accept: "text/event-stream" },
      "/graphql/stream",
    );
    expect(answer.status).toBe(429);
    expect(codeOf(answer.body)).toBe("RATE_LIMITED");
    expect(server.hub.metrics().activeSubscriptions).toBe(0);
    // A plain HTTP connection counts too (src/transport/http-limits.ts): served again once a WebSocket has gone.
    expect((await gqlResponse(server.url, "{ realtimeMetrics { eventsTotal } }")).status).toBe(429);
    await first.socket.close();
    await waitFor(async () => (await gqlResponse(server.url, "{ realtimeMetrics { eventsTotal } }")).status === 200, {
      what: "a freed slot",
    });
  });
});

import { describe, expect, it } from "vitest";
import { gqlResponse } from "../support/clients.ts";
import { anEvent, CAPTURE } from "../support/events.ts";
import { RawGraphqlSocket, type WireMessage } from "../support/raw-ws.ts";
import { startServer } from "../support/server.ts";
import { sleep, waitFor } from "../support/wait.ts";

/**
 * Pulse's graphql-transport-ws server (src/transport/graphql-ws/protocol.ts, src/transport/use/ws.ts) on real
 * sockets, by protocol phase: what PROTOCOL.md leaves to the server (keep-alive pings, one result shared by many
 * subscribers, a complete while the operation starts, a socket that closes). The protocol's own rules (close codes,
 * message order, error shapes) are the table in graphql-ws/protocol-cases.test.ts; what the limits add (1009, 1013,
 * operations per connection) is in test/limits.
 */
const EVENTS = "subscription { events { event } }";

const framesFor = (messages: WireMessage[], id: string) => messages.filter((m) => m["id"] === id);

describe("Connect", () => {
  it("cuts off a peer that stops answering keep-alive pings, ending its subscriptions", async () => {
    const server = await startServer({ trust: { keepAliveMs: 100 } });
    const raw = await RawGraphqlSocket.open(server.url);
    raw.send({ type: "subscribe", id: "s", payload: { query: EVENTS } });
    await waitFor(() => server.hub.metrics().activeSubscriptions === 1, { what: "the subscription" });
    // A socket that answers (ws answers pings by itself) stays up across several rounds.
    await sleep(350);
    expect(server.hub.metrics().activeSubscriptions).toBe(1);

    // A peer that reads nothing any more never sees the pings, so never answers them.
    raw.pause();
    await waitFor(() => server.hub.metrics().activeSubscriptions === 0, { what: "the subscription to end" });
    raw.resume();
    expect((await raw.whenClosed()).code).toBe(1006);
  });
});

describe("Subscribe", () => {
  it("answers a query and a mutation with one next, then complete", async () => {
    const server = await startServer();
    const raw = await RawGraphqlSocket.open(server.url);
    raw.send({ type: "subscribe", id: "m", payload: { query: CAPTURE, variables: { input: anEvent({ event: "signup" }) } } });
    await raw.waitForMessage((m) => m["id"] === "m" && m["type"] === "complete", "the mutation's complete");
    raw.send({ type: "subscribe", id: "q", payload: { query: "{ recentEvents(limit: 5) { event } }" } });
    await raw.waitForMessage((m) => m["id"] === "q" && m["type"] === "complete", "the query's complete");

    expect(framesFor(raw.messages, "m").map((m) => m["type"])).toEqual(["next", "complete"]);
    expect(framesFor(raw.messages, "q")).toEqual([
      { id: "q", type: "next", payload: { data: { recentEvents: [{ event: "signup" }] } } },
      { id: "q", type: "complete" },
    ]);
  });

  it("sends every subscriber its own frames of one shared result, in order", async () => {
    const server = await startServer();
    const first = await RawGraphqlSocket.open(server.url);
    const second = await RawGraphqlSocket.open(server.url);
    first.send({ type: "subscribe", id: "a", payload: { query: EVENTS } });
    second.send({ type: "subscribe", id: "b", payload: { query: EVENTS } });
    second.send({ type: "subscribe", id: "c", payload: { query: EVENTS } });
    await waitFor(() => server.hub.metrics().activeSubscriptions === 3, { what: "three subscriptions" });

    for (const event of ["one", "two", "three"]) await gqlResponse(server.url, CAPTURE, { input: anEvent({ event }) });
    await waitFor(() => framesFor(second.messages, "c").length === 3, { what: "three frames on c" });
    await waitFor(() => framesFor(first.messages, "a").length === 3, { what: "three frames on a" });

    const expected = (id: string) =>
      ["one", "two", "three"].map((event) => ({ id, type: "next", payload: { data: { events: { event } } } }));
    expect(framesFor(first.messages, "a")).toEqual(expected("a"));
    expect(framesFor(second.messages, "b")).toEqual(expected("b"));
    expect(framesFor(second.messages, "c")).toEqual(expected("c"));
  });
});

describe("Complete", () => {
  it("stops an operation the client completes, even while it is starting, and frees its id", async () => {
    const server = await startServer();
    const raw = await RawGraphqlSocket.open(server.url);
    raw.send({ type: "subscribe", id: "early", payload: { query: EVENTS } });
    raw.send({ type: "complete", id: "early" });
    raw.send({ type: "subscribe", id: "other", payload: { query: EVENTS } });
    await waitFor(() => server.hub.metrics().activeSubscriptions === 1, { what: "only the other subscription" });

    await gqlResponse(server.url, CAPTURE, { input: anEvent({ event: "after-complete" }) });
    await raw.waitForMessage((m) => m["id"] === "other" && m["type"] === "next", "the other subscription's event");
    // Neither a frame nor a complete for the operation the client completed itself.
    expect(framesFor(raw.messages, "early")).toEqual([]);

    // Its id is free again.
    raw.send({ type: "subscribe", id: "early", payload: { query: EVENTS } });
    await waitFor(() => server.hub.metrics().activeSubscriptions === 2, { what: "the id reused" });
    raw.send({ type: "complete", id: "other" });
    await waitFor(() => server.hub.metrics().activeSubscriptions === 1, { what: "other completed" });
    await gqlResponse(server.url, CAPTURE, { input: anEvent({ event: "last" }) });
    await raw.waitForMessage((m) => m["id"] === "early" && m["type"] === "next", "the reused id's event");
    expect(framesFor(raw.messages, "other").map((m) => m["type"])).toEqual(["next"]);
  });
});

describe("Disconnect", () => {
  it("ends every subscription of a socket that closes", async () => {
    const server = await startServer();
    const raw = await RawGraphqlSocket.connect(server.url);
    raw.send({ type: "connection_init" });
    await raw.waitForMessage((m) => m["type"] === "connection_ack", "connection_ack");
    for (const id of ["1", "2", "3"]) raw.send({ type: "subscribe", id, payload: { query: EVENTS } });
    await waitFor(() => server.hub.metrics().activeSubscriptions === 3, { what: "three subscriptions" });
    await raw.close();
    await waitFor(() => server.hub.metrics().activeSubscriptions === 0, { what: "no subscription left" });
    // The server still serves.
    expect((await gqlResponse(server.url, "{ realtimeMetrics { eventsTotal } }")).body.data?.["realtimeMetrics"]).toEqual({
      eventsTotal: 0,
    });
  });
});

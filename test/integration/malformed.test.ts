import { describe, expect, it } from "vitest";
import { graphqlErrors, gql, streamClient, STREAM_TRANSPORTS, wsClient, type Result } from "../support/clients.ts";
import { captureEvent, pageview, waitForActive, type EventPayload } from "../support/events.ts";
import { RawGraphqlSocket } from "../support/raw-ws.ts";
import { startServer } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";

const EVENTS = "subscription { events { id } }";
const MALFORMED: [string, string, string, string][] = [
  ["a syntax error", "subscription { events( { id } }", "GRAPHQL_PARSE_FAILED", "Syntax Error"],
  ["an unknown field", "subscription { events { id nope } }", "GRAPHQL_VALIDATION_FAILED", 'Cannot query field "nope"'],
  ["an unknown argument", "subscription { events(since: 3) { id } }", "GRAPHQL_VALIDATION_FAILED", 'Unknown argument "since"'],
  ["a wrongly typed argument", 'subscription { events(replay: "many") { id } }', "GRAPHQL_VALIDATION_FAILED", "Int cannot represent"],
];

interface ErrorPayload {
  message: string;
  locations?: unknown[];
  extensions?: Record<string, unknown>;
}

describe("a malformed subscription over WebSocket (graphql-transport-ws by hand)", () => {
  it.each(MALFORMED)(
    "%s gets an error message for that operation only; the socket and its subscriptions stay up",
    async (_, query, code, message) => {
      const server = await startServer();
      const socket = await RawGraphqlSocket.open(server.url);
      socket.subscribe("before", EVENTS);
      await waitForActive(server.url, 1);

      socket.subscribe("bad", query);
      const error = await socket.waitForMessage((m) => m.id === "bad", "the error for the bad operation");
      socket.subscribe("after", EVENTS);
      await waitForActive(server.url, 2);

      const event = await captureEvent(server.url, pageview(1));
      for (const id of ["before", "after"]) {
        const next = await socket.waitForMessage((m) => m.id === id && m.type === "next", `the event on "${id}"`);
        expect((next.payload as Result).data).toEqual({ events: { id: event.id } });
      }

      expect(error.type).toBe("error");
      const payload = error.payload as ErrorPayload[];
      expect(payload).toHaveLength(1);
      expect(payload[0]!.message).toContain(message);
      expect(payload[0]!.locations).toEqual([expect.objectContaining({ line: 1 })]);
      // The code users branch on, and nothing of Yoga's HTTP internals.
      expect(payload[0]!.extensions).toEqual({ code });
      // An `error` ends the operation: nothing else is ever sent for it.
      expect(socket.messagesFor("bad")).toHaveLength(1);
      expect(socket.closed).toBeNull();
      expect(socket.isOpen).toBe(true);
    },
  );

  it("the operation id of a rejected operation can be used again", async () => {
    const server = await startServer();
    const socket = await RawGraphqlSocket.open(server.url);
    socket.subscribe("1", "subscription { events { nope } }");
    await socket.waitForMessage((m) => m.id === "1" && m.type === "error", "the error");
    socket.subscribe("1", EVENTS);
    await waitForActive(server.url, 1);
    await captureEvent(server.url, pageview(1));
    await socket.waitForMessage((m) => m.id === "1" && m.type === "next", "the event on the reused id");
    expect(socket.closed).toBeNull();
  });

  it("through the graphql-ws client: the bad subscription's sink gets the GraphQL errors, the other keeps receiving", async () => {
    const server = await startServer();
    const client = wsClient(server.url);
    let closedCode: number | undefined;
    client.on("closed", (event) => {
      closedCode = (event as { code: number }).code;
    });
    // Both on one client, hence one socket.
    const results: Result[] = [];
    const badErrors: unknown[] = [];
    client.subscribe({ query: EVENTS }, { next: (r) => void results.push(r as Result), error: () => {}, complete: () => {} });
    await waitForActive(server.url, 1);
    client.subscribe(
      { query: "subscription { events { nope } }" },
      { next: () => {}, error: (e) => void badErrors.push(e), complete: () => {} },
    );
    await waitFor(() => badErrors.length === 1, { what: "the bad subscription's error" });

    const event = await captureEvent(server.url, pageview(1));
    await waitFor(() => results.length === 1, { what: "the event on the good subscription" });
    expect(results[0]!.data).toEqual({ events: { id: event.id } });
    expect(badErrors[0]).toEqual([expect.objectContaining({ extensions: { code: "GRAPHQL_VALIDATION_FAILED" } })]);
    expect(closedCode).toBeUndefined();
  });
});

describe.each(STREAM_TRANSPORTS)("a malformed operation over %s", (transport) => {
  it.each(MALFORMED)("%s arrives as a GraphQL error with its code, not a transport failure", async (_, query, code, message) => {
    const server = await startServer();
    const client = streamClient(transport, server.url);
    const bad = client.subscribe(query);
    await bad.ended;
    const errors = graphqlErrors(bad);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toContain(message);
    expect(errors[0]!.extensions).toEqual({ code });

    // The client is still usable.
    const good = client.subscribe(EVENTS);
    await waitForActive(server.url, 1);
    await captureEvent(server.url, pageview(1));
    await good.waitForResults(1);
    expect(good.values<EventPayload>("events")).toHaveLength(1);
  });
});

describe("the same malformed operation over HTTP", () => {
  it.each(MALFORMED)("%s has the same code and message as on the streams", async (_, query, code, message) => {
    const server = await startServer();
    const result = await gql(server.url, query);
    expect(result.errors).toHaveLength(1);
    expect(result.errors![0]!.message).toContain(message);
    expect(result.errors![0]!.extensions).toEqual({ code });
  });
});

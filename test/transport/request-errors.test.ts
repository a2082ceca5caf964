import { NetworkError, TOKEN_HEADER_KEY } from "graphql-sse";
import { describe, expect, it } from "vitest";
import {
  gqlResponse,
  once,
  post,
  sseClient,
  subscribe,
  wsClient,
  type ErrorList,
  type HttpAnswer,
  type Result,
} from "../support/clients.ts";
import { captureEvent, pageview, waitForActive } from "../support/events.ts";
import { RawEventStream } from "../support/raw-sse.ts";
import { RawGraphqlSocket } from "../support/raw-ws.ts";
import { startServer } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";

/**
 * Request errors (GraphQL over HTTP: raised before execution; a response to one has no `data` key) on every
 * transport, and the status a request gets where the transport has one: what graphql-ws's PROTOCOL.md, graphql-sse's
 * PROTOCOL.md and GraphQL over HTTP say, through the stock clients and on the wire.
 */
const TWO_UNNAMED = "query A { realtimeMetrics { eventsTotal } } query B { realtimeMetrics { eventsTotal } }";
const RESOLUTION = { message: "Could not determine what operation to execute.", extensions: { code: "OPERATION_RESOLUTION_FAILURE" } };
/** A variable of the wrong type: a request error raised while coercing variables, after validation. */
const COERCION = { query: "query ($n: Int) { recentEvents(limit: $n) { id } }", variables: { n: "many" } };
const MUTATION = 'mutation { captureEvent(input: { event: "e", distinctId: "u" }) { id } }';

/** No error of a streamed result carries Yoga's internal `extensions.http` (an HTTP status means nothing in a stream). */
function expectNoHttpExtensions(errors: ErrorList): void {
  expect(errors.length).toBeGreaterThan(0);
  for (const error of errors) expect(error.extensions ?? {}).not.toHaveProperty("http");
}

describe("an operation the document does not name (two operations, none chosen, or an unknown operationName)", () => {
  it("is OPERATION_RESOLUTION_FAILURE over WebSocket, as over HTTP, and the socket stays up", async () => {
    const server = await startServer();
    const overHttp = await gqlResponse(server.url, TWO_UNNAMED);
    expect(overHttp.status).toBe(400);
    expect(overHttp.body).toEqual({ errors: [RESOLUTION] });

    // graphql-ws's client: the operation ends with an `error` message; the socket serves the next one.
    const client = wsClient(server.url);
    expect((await once(client, TWO_UNNAMED)).errors).toEqual([RESOLUTION]);
    expect((await once(client, "{ realtimeMetrics { eventsTotal } }")).data).toEqual({ realtimeMetrics: { eventsTotal: 0 } });

    // On the wire: an unknown operationName is answered with an `error` for that id alone.
    const raw = await RawGraphqlSocket.open(server.url);
    raw.send({ id: "1", type: "subscribe", payload: { query: TWO_UNNAMED, operationName: "C" } });
    const error = await raw.waitForMessage((m) => m.id === "1", "the error for operation 1");
    expect(error).toEqual({ id: "1", type: "error", payload: [RESOLUTION] });
    raw.send({ id: "2", type: "subscribe", payload: { query: TWO_UNNAMED, operationName: "A" } });
    await raw.waitForMessage((m) => m.id === "2" && m.type === "complete", "operation 2 to complete");
    expect(raw.messages.filter((m) => m.id === "2").map((m) => m.type)).toEqual(["next", "complete"]);
  });

  it("is one `next` with `errors` and no `data`, then `complete`, on an event stream of its own", async () => {
    const server = await startServer();
    const stream = await RawEventStream.post(server.url, TWO_UNNAMED);
    await waitFor(() => stream.ended, { what: "the stream to end" });
    expect(stream.status).toBe(200);
    expect(stream.frames).toEqual([
      { event: "next", data: { errors: [RESOLUTION] } },
      { event: "complete", data: null },
    ]);
  });
});

describe("a variable of the wrong type", () => {
  it("is a result with `errors`, no `data` and no `extensions.http`, over WebSocket and over SSE", async () => {
    const server = await startServer();
    const overWs = await once(wsClient(server.url), COERCION.query, COERCION.variables);
    expect(overWs).not.toHaveProperty("data");
    expectNoHttpExtensions(overWs.errors ?? []);

    const overSse = await once(sseClient(server.url), COERCION.query, COERCION.variables);
    expect(overSse).not.toHaveProperty("data");
    expectNoHttpExtensions(overSse.errors ?? []);
    expect(overSse.errors).toEqual(overWs.errors);
  });
});

describe("graphql-sse's single connection mode, with the stock client as it is (no CSRF header)", () => {
  it("reserves, streams and completes operations: PUT and DELETE need no CSRF header", async () => {
    const server = await startServer();
    const client = sseClient(server.url, { singleConnection: true });
    const events = subscribe(client, "subscription { events { event } }");
    await waitForActive(server.url, 1);
    await captureEvent(server.url, pageview(1, { event: "first" }));
    await events.waitForResults(1);
    expect(events.values<{ event: string }>("events")).toEqual([{ event: "first" }]);
    events.unsubscribe(); // DELETE ?operationId=…
    await waitForActive(server.url, 0);
  });

  it("answers a request error with 400 and `{ errors }` instead of 202", async () => {
    const server = await startServer();
    const client = sseClient(server.url, { singleConnection: true });
    const refused = subscribe(client, "subscription { events { nope } }");
    // graphql-sse's client reports any status but 202 as a NetworkError carrying the response (whose body it
    // cancels: the body is read on the wire below).
    const error = await refused.failure;
    expect(error).toBeInstanceOf(NetworkError);
    expect((error as NetworkError<Response>).response?.status).toBe(400);
  });

  it("holds no operation slot or id for a refused operation, and answers the next one", async () => {
    // One operation per stream: a refusal that kept its slot (or graphql-sse's reservation of its id) would refuse the next.
    const server = await startServer({ trust: { maxSubscriptionsPerConnection: 1 } });
    const stream = await reserveAndOpen(server.url);
    const invalid = await stream.post("subscription { events { nope } }");
    expect(invalid.status).toBe(400);
    expect(invalid.headers.get("content-type")).toContain("application/json");
    expect(invalid.body).toEqual({ errors: [expect.objectContaining({ extensions: { code: "GRAPHQL_VALIDATION_FAILED" } })] });
    const badFilter = await stream.post(
      'subscription { events(filter: { properties: [{ property: "a", operator: REGEX, value: "(" }] }) { id } }',
    );
    expect(badFilter.status).toBe(400);
    expect(badFilter.body).not.toHaveProperty("data");
    expect(badFilter.body.errors![0]!.extensions).toMatchObject({ code: "BAD_USER_INPUT" });

    const accepted = await stream.post("{ realtimeMetrics { eventsTotal } }", "ok");
    expect(accepted.status).toBe(202);
    await waitFor(() => stream.events.frames.some((f) => f.event === "complete"), { what: "the accepted operation to complete" });
    expect(stream.events.frames[0]).toEqual({
      event: "next",
      data: { id: "ok", payload: { data: { realtimeMetrics: { eventsTotal: 0 } } } },
    });
  });
});

/** A single connection stream reserved and opened by hand, and how to post operations to it. */
async function reserveAndOpen(baseUrl: string): Promise<{
  events: RawEventStream;
  post(query: string, operationId?: string): Promise<HttpAnswer>;
}> {
  const reserved = await fetch(`${baseUrl}/graphql/stream`, { method: "PUT" });
  expect(reserved.status).toBe(201);
  const token = await reserved.text();
  const events = await RawEventStream.open(baseUrl, token);
  return {
    events,
    post: (query, operationId = "op") =>
      post(
        baseUrl,
        JSON.stringify({ query, extensions: { operationId } }),
        { "content-type": "application/json", [TOKEN_HEADER_KEY]: token },
        "/graphql/stream",
      ),
  };
}

describe("a mutation over GET /graphql/stream", () => {
  it("is 405 with Allow: POST, and stores nothing", async () => {
    const server = await startServer();
    const response = await fetch(`${server.url}/graphql/stream?query=${encodeURIComponent(MUTATION)}`, {
      headers: { accept: "text/event-stream" },
    });
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("POST");
    const body = (await response.json()) as Result;
    expect(body).not.toHaveProperty("data");
    expect(body.errors).toHaveLength(1);
    // Over POST the same mutation runs.
    const answer = await post(
      server.url,
      JSON.stringify({ query: MUTATION }),
      { accept: "text/event-stream", "content-type": "application/json" },
      "/graphql/stream",
    );
    expect(answer.status).toBe(200);
    expect(server.hub.stream.size).toBe(1);
  });
});

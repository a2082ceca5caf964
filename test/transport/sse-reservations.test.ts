import { TOKEN_HEADER_KEY } from "graphql-sse";
import { describe, expect, it } from "vitest";
import type { PulseServer } from "../../src/index.ts";
import { bearer, codeOf, gqlResponse, sseClient, subscribe } from "../support/clients.ts";
import { captureEvent, captureEvents, pageview, recentEvents, waitForActive } from "../support/events.ts";
import { KEYED, KEYS } from "../support/keys.ts";
import { RawEventStream } from "../support/raw-sse.ts";
import { startServer } from "../support/server.ts";
import { sleep, waitFor } from "../support/wait.ts";

/**
 * graphql-sse's single connection mode on `/graphql/stream` (src/transport/sse-streams.ts): `PUT` reserves a stream
 * and answers its token, a GET with the token opens it, POSTs with the token run operations on it. Spoken by hand
 * with `fetch` where a stock client cannot be made to misbehave (never open a stream, use another key's token).
 */

interface Answer {
  readonly status: number;
  readonly text: string;
}

async function answer(response: Response): Promise<Answer> {
  return { status: response.status, text: await response.text() };
}

function reserve(server: PulseServer, key?: string, headers: Record<string, string> = {}): Promise<Answer> {
  return fetch(`${server.url}/graphql/stream`, { method: "PUT", headers: { ...bearer(key), ...headers } }).then(answer);
}

function postOperation(server: PulseServer, token: string, operationId: string, query: string, key?: string): Promise<Answer> {
  return fetch(`${server.url}/graphql/stream`, {
    method: "POST",
    headers: { ...bearer(key), [TOKEN_HEADER_KEY]: token, "content-type": "application/json" },
    body: JSON.stringify({ query, extensions: { operationId } }),
  }).then(answer);
}

function completeOperation(server: PulseServer, token: string, operationId: string, key?: string): Promise<Answer> {
  return fetch(`${server.url}/graphql/stream?operationId=${operationId}`, {
    method: "DELETE",
    headers: { ...bearer(key), [TOKEN_HEADER_KEY]: token },
  }).then(answer);
}

const codeIn = (text: string): unknown => codeOf(JSON.parse(text) as { errors?: { extensions?: Record<string, unknown> }[] });

/** Waits until a keyed server counts `count` open subscriptions. */
function waitForActiveKeyed(server: PulseServer, count: number): Promise<unknown> {
  return waitFor(
    async () => {
      const { body } = await gqlResponse(server.url, "{ realtimeMetrics { activeConnections } }", {}, { key: KEYS.read });
      return (body.data?.["realtimeMetrics"] as { activeConnections: number } | undefined)?.activeConnections === count;
    },
    { what: `activeConnections === ${count}` },
  );
}

const captureKeyed = (server: PulseServer, event: string) =>
  gqlResponse(
    server.url,
    "mutation ($input: CaptureEventInput!) { captureEvent(input: $input) { id } }",
    { input: { event, distinctId: "u" } },
    { key: KEYS.capture },
  );

describe("reserving a stream", () => {
  it("draws every token from 32 random bytes, never one the client sends", async () => {
    const server = await startServer();
    const chosen = "00000000-0000-4000-8000-000000000000";
    const answers = await Promise.all([reserve(server), reserve(server), reserve(server, undefined, { [TOKEN_HEADER_KEY]: chosen })]);
    expect(answers.map((a) => a.status)).toEqual([201, 201, 201]);
    const tokens = answers.map((a) => a.text);
    for (const token of tokens) expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(new Set(tokens).size).toBe(3);
    expect(tokens).not.toContain(chosen);
  });

  it("takes a PULSE_MAX_CONNECTIONS_PER_ADDRESS slot from the PUT until its stream closes; past the limit 429 RATE_LIMITED", async () => {
    // Three slots: the client's own keep-alive socket counts as a connection too (every TCP connection does).
    const server = await startServer({ trust: { maxConnectionsPerAddress: 3 } });
    const first = await reserve(server);
    expect((await reserve(server)).status).toBe(201);
    expect((await reserve(server)).status).toBe(201);
    const refused = await reserve(server);
    expect(refused.status).toBe(429);
    expect(codeIn(refused.text)).toBe("RATE_LIMITED");
    expect(refused.text).toContain("PULSE_MAX_CONNECTIONS_PER_ADDRESS=3");
    expect(server.trust.stats().singleConnectionStreams).toEqual({ reserved: 3, open: 0 });

    // Opening it keeps the slot it took (no second one), and closing it gives it back.
    const opened = await RawEventStream.open(server.url, first.text);
    expect(opened.status).toBe(200);
    expect(server.trust.stats().singleConnectionStreams).toEqual({ reserved: 2, open: 1 });
    expect((await reserve(server)).status).toBe(429);
    opened.close();
    await waitFor(() => server.trust.stats().singleConnectionStreams.open === 0, { what: "the opened stream to leave the table" });
    expect((await reserve(server)).status).toBe(201);
  });

  it("drops a stream not opened within PULSE_SSE_RESERVATION_TTL_MS: its operations end, its slot and token are gone", async () => {
    // Three slots: one for the reservation, the others for the client's own connections (every TCP connection counts).
    const server = await startServer({ trust: { maxConnectionsPerAddress: 3, sseReservationTtlMs: 2000 } });
    const { text: token } = await reserve(server);
    expect((await postOperation(server, token, "events", "subscription { events { id } }")).status).toBe(202);
    expect((await postOperation(server, token, "dashboard", "subscription { liveDashboard(intervalMs: 250) { liveUsers } }")).status).toBe(
      202,
    );
    await waitForActive(server.url, 2);

    await waitForActive(server.url, 0);
    const late = await RawEventStream.open(server.url, token);
    expect(late.status).toBe(404);
    await waitFor(() => late.ended, { what: "the refusal's body" });
    expect(codeIn(late.body)).toBe("BAD_USER_INPUT");
    expect(late.body).toContain("PULSE_SSE_RESERVATION_TTL_MS=2000");
    expect(server.trust.stats().singleConnectionStreams).toEqual({ reserved: 0, open: 0 });
    // Every slot is free again, the expired reservation's included.
    for (let i = 0; i < 3; i++) expect((await reserve(server)).status).toBe(201);
  });
});

describe("results on a stream that is not read", () => {
  it("an events subscription on a stream never opened holds at most PULSE_SUBSCRIBER_QUEUE events and ends LAGGED", async () => {
    const server = await startServer({ subscriberQueue: 20 });
    const { text: token } = await reserve(server);
    expect((await postOperation(server, token, "events", "subscription { events { id cursor } }")).status).toBe(202);
    await waitForActive(server.url, 1);
    // Batches smaller than the queue: a subscriber read between them would never fall behind.
    for (let n = 0; n < 200; n += 10)
      await captureEvents(
        server.url,
        Array.from({ length: 10 }, (_, i) => pageview(n + i)),
      );

    const stream = await RawEventStream.open(server.url, token);
    await waitFor(() => stream.completed("events"), { what: "the events operation to complete" });
    const results = stream.results("events");
    expect(results).toHaveLength(1);
    expect(results[0]!.errors![0]!.extensions).toMatchObject({ code: "LAGGED", cursor: null });
    await waitForActive(server.url, 0);
  });

  it("a liveDashboard subscription does not tick into a stream before it opens", async () => {
    const server = await startServer();
    const { text: token } = await reserve(server);
    const query = "subscription { liveDashboard(intervalMs: 250) { liveUsers } }";
    expect((await postOperation(server, token, "dashboard", query)).status).toBe(202);
    await sleep(2000);

    const stream = await RawEventStream.open(server.url, token);
    await waitFor(() => stream.results("dashboard").length >= 1, { what: "the first tick" });
    await sleep(100);
    // Eight ticks were due while nobody read; the first (produced when first read) and at most one more are no backlog.
    expect(stream.results("dashboard").length).toBeLessThanOrEqual(2);
    await waitFor(() => stream.results("dashboard").length >= 3, { what: "ticks to go on once open" });
  });

  it("an events subscription on an open stream whose reader stopped reading ends LAGGED once it reads again", async () => {
    const server = await startServer({ subscriberQueue: 50, trust: { maxBodyBytes: 64 * 1024 * 1024 } });
    // ~320 KB frames: a few hundred of them are far more than the loopback buffers hold, so the response backs up.
    const padding = "x".repeat(32 * 1024);
    const heavy = `subscription { events { id cursor ${Array.from({ length: 10 }, (_, i) => `p${i}: properties`).join(" ")} } }`;
    const { text: token } = await reserve(server);
    const stream = await RawEventStream.open(server.url, token);
    expect((await postOperation(server, token, "heavy", heavy)).status).toBe(202);
    await waitForActive(server.url, 1);
    await captureEvent(server.url, pageview(0, { properties: { padding } }));
    await waitFor(() => stream.results("heavy").length === 1, { what: "the first event" });
    stream.pause();

    for (let n = 1; n < 400; n += 50) {
      await captureEvents(
        server.url,
        Array.from({ length: 50 }, (_, i) => pageview(n + i, { properties: { padding } })),
      );
    }
    const all = (await recentEvents(server.url, 100_000, undefined, "id cursor")).reverse();
    stream.resume();
    await waitFor(() => stream.completed("heavy"), { what: "the operation to complete", timeoutMs: 30_000 });
    const results = stream.results("heavy");
    const delivered = results.slice(0, -1).map((r) => (r.data!["events"] as { cursor: string }).cursor);
    expect(results.at(-1)!.errors![0]!.extensions).toMatchObject({ code: "LAGGED", cursor: delivered.at(-1) });
    expect(delivered.length).toBeLessThan(all.length);
    expect(delivered).toEqual(all.slice(0, delivered.length).map((e) => e.cursor));
  }, 60_000);

  it("caps operations open at once on one stream at PULSE_MAX_SUBSCRIPTIONS_PER_CONNECTION", async () => {
    const server = await startServer({ trust: { maxSubscriptionsPerConnection: 2 } });
    const { text: token } = await reserve(server);
    expect((await postOperation(server, token, "a", "subscription { events { id } }")).status).toBe(202);
    // A query's result waits for the stream to open, so it holds its slot until then.
    expect((await postOperation(server, token, "b", "{ liveUsers { count } }")).status).toBe(202);
    const refused = await postOperation(server, token, "c", "subscription { events { id } }");
    expect(refused.status).toBe(429);
    expect(codeIn(refused.text)).toBe("RATE_LIMITED");
    expect(refused.text).toContain("PULSE_MAX_SUBSCRIPTIONS_PER_CONNECTION");

    expect((await completeOperation(server, token, "a")).status).toBe(200);
    expect((await postOperation(server, token, "c", "subscription { events { id } }")).status).toBe(202);
    const stream = await RawEventStream.open(server.url, token);
    await waitFor(() => stream.completed("b"), { what: "the query's result" });
    expect(stream.results("b")).toEqual([{ data: { liveUsers: { count: 0 } } }]);
    expect((await postOperation(server, token, "d", "subscription { events { id } }")).status).toBe(202);
  });
});

describe("a stream belongs to the key that reserved it", () => {
  it("refuses another key's GET, operations and completions with 403 FORBIDDEN", async () => {
    const server = await startServer({ trust: KEYED });
    const reserved = await reserve(server, KEYS.read);
    expect(reserved.status).toBe(201);
    const token = reserved.text;

    for (const key of [KEYS.capture, KEYS.stagingRead]) {
      const stolen = await RawEventStream.open(server.url, token, key);
      expect(stolen.status).toBe(403);
      await waitFor(() => stolen.ended, { what: "the refusal's body" });
      expect(codeIn(stolen.body)).toBe("FORBIDDEN");
      const posted = await postOperation(server, token, "x", "subscription { events { id } }", key);
      expect(posted.status).toBe(403);
      expect(codeIn(posted.text)).toBe("FORBIDDEN");
    }
    expect((await RawEventStream.open(server.url, token)).status).toBe(401);

    const own = await RawEventStream.open(server.url, token, KEYS.read);
    expect(own.status).toBe(200);
    expect((await postOperation(server, token, "mine", "subscription { events { event } }", KEYS.read)).status).toBe(202);
    const deleted = await completeOperation(server, token, "mine", KEYS.capture);
    expect(deleted.status).toBe(403);
    expect(codeIn(deleted.text)).toBe("FORBIDDEN");
    await waitForActiveKeyed(server, 1);
    await captureKeyed(server, "e1");
    await waitFor(() => own.results("mine").length === 1, { what: "the owner's event" });
    expect(own.results("mine")).toEqual([{ data: { events: { event: "e1" } } }]);
  });

  it("works with the stock graphql-sse client in single connection mode and a key", async () => {
    const server = await startServer({ trust: KEYED });
    const client = sseClient(server.url, { singleConnection: true, key: KEYS.read });
    const { results: received, unsubscribe } = subscribe(client, "subscription { events { event } }");
    await waitFor(() => server.trust.stats().singleConnectionStreams.open === 1, { what: "the client's stream to open" });
    await waitForActiveKeyed(server, 1);
    for (const n of [1, 2]) await captureKeyed(server, `e${n}`);
    await waitFor(() => received.length === 2, { what: "two events" });
    expect(received.map((r) => (r.data!["events"] as { event: string }).event)).toEqual(["e1", "e2"]);
    unsubscribe();
    client.dispose();
    await waitFor(() => server.trust.stats().singleConnectionStreams.open === 0, { what: "the stream to close" });
  });
});

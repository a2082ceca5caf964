import { describe, expect, it } from "vitest";
import { codeOf, gqlResponse, once, post, sseClient, subscribe, wsClient } from "../support/clients.ts";
import { anEvent, CAPTURE, CAPTURE_EVENTS, SUBSCRIBE } from "../support/events.ts";
import { KEYED, KEYS } from "../support/keys.ts";
import { RawGraphqlSocket } from "../support/raw-ws.ts";
import { startServer } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";

const RECENT = `query($filter: EventFilter) { recentEvents(limit: 100, filter: $filter) { id environment } }`;

describe("keys over HTTP", () => {
  it("answers 401 UNAUTHENTICATED without a key or with an unknown one, and stores nothing", async () => {
    const server = await startServer({ trust: KEYED });
    for (const key of [undefined, "unknown-key-0123456789abcdef"]) {
      const answer = await gqlResponse(server.url, CAPTURE, { input: anEvent() }, { key });
      expect(answer.status).toBe(401);
      expect(answer.headers.get("www-authenticate")).toMatch(/^Bearer/);
      expect(codeOf(answer.body)).toBe("UNAUTHENTICATED");
    }
    expect(server.hub.stream.size).toBe(0);
  });

  it("lets a capture key capture but answers 403 FORBIDDEN when it reads", async () => {
    const server = await startServer({ trust: KEYED });
    const captured = await gqlResponse(server.url, CAPTURE, { input: anEvent() }, { key: KEYS.capture });
    expect(captured.status).toBe(200);
    expect(captured.body.errors).toBeUndefined();
    for (const query of [RECENT, "{ liveUsers { count } }", "{ realtimeMetrics { eventsTotal } }", "{ __schema { queryType { name } } }"]) {
      const answer = await gqlResponse(server.url, query, {}, { key: KEYS.capture });
      expect(answer.status).toBe(403);
      expect(codeOf(answer.body)).toBe("FORBIDDEN");
      expect(answer.body.data ?? null).toBeNull();
    }
  });

  it("lets a read key query and capture", async () => {
    const server = await startServer({ trust: KEYED });
    expect((await gqlResponse(server.url, CAPTURE, { input: anEvent() }, { key: KEYS.read })).status).toBe(200);
    const answer = await gqlResponse(server.url, RECENT, {}, { key: KEYS.read });
    expect(answer.status).toBe(200);
    expect(answer.body.data?.["recentEvents"]).toHaveLength(1);
  });

  it("runs open, everything allowed, when no keys are configured", async () => {
    const server = await startServer();
    expect(server.trust.keysRequired).toBe(false);
    expect((await gqlResponse(server.url, CAPTURE, { input: anEvent() })).status).toBe(200);
    expect((await gqlResponse(server.url, RECENT)).body.data?.["recentEvents"]).toHaveLength(1);
  });
});

describe("keys over WebSocket", () => {
  it("closes with 4401 at connection_init without a key or with an unknown one, and runs nothing", async () => {
    const server = await startServer({ trust: KEYED });
    for (const payload of [{}, { authorization: "Bearer unknown-key-0123456789abcdef" }, { authorization: KEYS.read }]) {
      const raw = await RawGraphqlSocket.connect(server.url);
      raw.send({ type: "connection_init", payload });
      raw.send({ type: "subscribe", id: "1", payload: { query: CAPTURE, variables: { input: anEvent() } } });
      expect((await raw.whenClosed()).code).toBe(4401);
      expect(raw.messages).toEqual([]);
    }
    expect(server.hub.stream.size).toBe(0);
  });

  it("refuses the graphql-ws client without a key with close code 4401", async () => {
    const server = await startServer({ trust: KEYED });
    const result = await once(wsClient(server.url), "{ realtimeMetrics { eventsTotal } }");
    expect(result.errors?.[0]?.message).toBe("closed 4401");
  });

  it("answers FORBIDDEN to a capture key's subscription and query, keeps the socket, delivers nothing", async () => {
    const server = await startServer({ trust: KEYED });
    const client = wsClient(server.url, { key: KEYS.capture });
    const subscription = subscribe(client, SUBSCRIBE);
    await subscription.ended;
    expect(codeOf(subscription.results[0]!.errors!)).toBe("FORBIDDEN");
    expect(codeOf((await once(client, RECENT)).errors!)).toBe("FORBIDDEN");
    // the same socket still captures
    const captured = await once(client, CAPTURE, { input: anEvent() });
    expect(captured.errors).toBeUndefined();
    expect(subscription.results).toHaveLength(1);
    expect(server.hub.metrics().activeSubscriptions).toBe(0);
  });

  it("lets a read key subscribe and receive", async () => {
    const server = await startServer({ trust: KEYED });
    const subscription = subscribe(wsClient(server.url, { key: KEYS.read }), SUBSCRIBE);
    await waitFor(() => server.hub.metrics().activeSubscriptions === 1, { what: "subscription" });
    await gqlResponse(server.url, CAPTURE, { input: anEvent() }, { key: KEYS.capture });
    await waitFor(() => subscription.results.length === 1, { what: "delivery" });
  });
});

describe("keys over SSE", () => {
  it("answers 401 UNAUTHENTICATED to a stream without a key, before running anything", async () => {
    const server = await startServer({ trust: KEYED });
    const answer = await post(
      server.url,
      JSON.stringify({ query: CAPTURE, variables: { input: anEvent() } }),
      {
        "content-type": "application/json",
        accept: "text/event-stream",
      },
      "/graphql/stream",
    );
    expect(answer.status).toBe(401);
    expect(codeOf(answer.body)).toBe("UNAUTHENTICATED");
    expect(server.hub.stream.size).toBe(0);
    const failed = subscribe(sseClient(server.url), SUBSCRIBE);
    expect(String(await failed.failure)).toMatch(/401|Unauthorized|UNAUTHENTICATED/i);
  });

  it("answers FORBIDDEN to a capture key's subscription and delivers nothing", async () => {
    const server = await startServer({ trust: KEYED });
    const subscription = subscribe(sseClient(server.url, { key: KEYS.capture }), SUBSCRIBE);
    await subscription.ended;
    expect(codeOf(subscription.results[0]!.errors!)).toBe("FORBIDDEN");
    expect(server.hub.metrics().activeSubscriptions).toBe(0);
  });

  it("lets a read key subscribe and a capture key capture", async () => {
    const server = await startServer({ trust: KEYED });
    const subscription = subscribe(sseClient(server.url, { key: KEYS.read }), SUBSCRIBE);
    await waitFor(() => server.hub.metrics().activeSubscriptions === 1, { what: "subscription" });
    const captured = await once(sseClient(server.url, { key: KEYS.capture }), CAPTURE, { input: anEvent() });
    expect(captured.errors).toBeUndefined();
    await waitFor(() => subscription.results.length === 1, { what: "delivery" });
  });
});

describe("environment-scoped keys", () => {
  const seed = async (server: Awaited<ReturnType<typeof startServer>>) => {
    const answer = await gqlResponse(
      server.url,
      CAPTURE_EVENTS,
      { inputs: [anEvent({ environment: "production" }), anEvent({ environment: "staging", distinctId: "s1" })] },
      { key: KEYS.read },
    );
    expect(answer.body.errors).toBeUndefined();
  };

  it("captures into the key's environment by default and refuses another one, storing nothing of the batch", async () => {
    const server = await startServer({ trust: KEYED });
    const defaulted = await gqlResponse(server.url, CAPTURE, { input: anEvent() }, { key: KEYS.stagingCapture });
    expect(defaulted.body.data?.["captureEvent"]).toMatchObject({ environment: "staging" });
    const same = await gqlResponse(server.url, CAPTURE, { input: anEvent({ environment: "staging" }) }, { key: KEYS.stagingCapture });
    expect(same.status).toBe(200);
    const other = await gqlResponse(
      server.url,
      CAPTURE_EVENTS,
      { inputs: [anEvent({ environment: "staging" }), anEvent({ environment: "production" })] },
      { key: KEYS.stagingCapture },
    );
    expect(other.status).toBe(403);
    expect(codeOf(other.body)).toBe("FORBIDDEN");
    expect(other.body.errors?.[0]?.extensions?.["field"]).toBe("inputs[1].environment");
    expect(server.hub.stream.recent(100).map((e) => e.environment)).toEqual(["staging", "staging"]);
  });

  it("reads only the key's environment over HTTP, and refuses a query naming another", async () => {
    const server = await startServer({ trust: KEYED });
    await seed(server);
    const scoped = await gqlResponse(
      server.url,
      `{ recentEvents { environment } liveUsers { count users { distinctId } } liveDashboard { liveUsers recentEvents { environment } eventsPerMinute { count } } }`,
      {},
      { key: KEYS.stagingRead },
    );
    expect(scoped.body.errors).toBeUndefined();
    expect(scoped.body.data).toEqual({
      recentEvents: [{ environment: "staging" }],
      liveUsers: { count: 1, users: [{ distinctId: "s1" }] },
      liveDashboard: { liveUsers: 1, recentEvents: [{ environment: "staging" }], eventsPerMinute: [{ count: 1 }] },
    });
    for (const [query, variables] of [
      [RECENT, { filter: { environment: "production" } }],
      [`{ liveUsers(environment: "production") { count } }`, {}],
      [`query($e: String) { liveDashboard(environment: $e) { liveUsers } }`, { e: "production" }],
      [`{ ... on Query { recentEvents(filter: { environment: "production" }) { id } } }`, {}],
    ] as const) {
      const answer = await gqlResponse(server.url, query, variables, { key: KEYS.stagingRead });
      expect(answer.status).toBe(403);
      expect(codeOf(answer.body)).toBe("FORBIDDEN");
    }
    // an unscoped read key sees both
    expect((await gqlResponse(server.url, RECENT, {}, { key: KEYS.read })).body.data?.["recentEvents"]).toHaveLength(2);
  });

  it("delivers only the key's environment over WebSocket and SSE, and refuses another at subscribe", async () => {
    const server = await startServer({ trust: KEYED });
    const ws = subscribe(wsClient(server.url, { key: KEYS.stagingRead }), SUBSCRIBE);
    const sse = subscribe(sseClient(server.url, { key: KEYS.stagingRead }), SUBSCRIBE);
    const wsOther = subscribe(wsClient(server.url, { key: KEYS.stagingRead }), SUBSCRIBE, { filter: { environment: "production" } });
    const sseOther = subscribe(sseClient(server.url, { key: KEYS.stagingRead }), SUBSCRIBE, { filter: { environment: "production" } });
    await Promise.all([wsOther.ended, sseOther.ended]);
    expect(codeOf(wsOther.results[0]!.errors!)).toBe("FORBIDDEN");
    expect(codeOf(sseOther.results[0]!.errors!)).toBe("FORBIDDEN");
    await waitFor(() => server.hub.metrics().activeSubscriptions === 2, { what: "two subscriptions" });
    await seed(server);
    await gqlResponse(server.url, CAPTURE, { input: anEvent({ event: "last", environment: "staging" }) }, { key: KEYS.read });
    await waitFor(() => ws.results.length === 2 && sse.results.length === 2, { what: "staging deliveries" });
    for (const run of [ws, sse]) {
      expect(run.results.map((r) => (r.data?.["events"] as { environment: string }).environment)).toEqual(["staging", "staging"]);
    }
  });
});

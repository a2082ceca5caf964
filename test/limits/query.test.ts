import { afterEach, describe, expect, it } from "vitest";
import { codeOf, gqlResponse, once, post, type Result, sseClient, wsClient } from "../support/clients.ts";
import { RawGraphqlSocket } from "../support/raw-ws.ts";
import { startServer } from "../support/server.ts";
import type { PulseServer } from "../../src/server.ts";

const transports = ["http", "ws", "sse"] as const;

async function run(server: PulseServer, transport: (typeof transports)[number], query: string): Promise<Result> {
  if (transport === "http") return (await gqlResponse(server.url, query)).body;
  return once(transport === "ws" ? wsClient(server.url) : sseClient(server.url), query);
}

const repeat = (n: number, make: (i: number) => string) => Array.from({ length: n }, (_, i) => make(i)).join(" ");

describe("query limits (GraphQL Armor), identical on every transport", () => {
  const limits = { maxQueryDepth: 3, maxQueryAliases: 3, maxQueryDirectives: 3, maxQueryTokens: 60 };
  const cases: [string, string, string][] = [
    ["depth", "{ liveDashboard { recentEvents { person { distinctId } } } }", "PULSE_MAX_QUERY_DEPTH"],
    [
      "depth through a fragment",
      "{ liveDashboard { ...d } } fragment d on LiveDashboard { recentEvents { person { distinctId } } }",
      "PULSE_MAX_QUERY_DEPTH",
    ],
    ["aliases", `{ ${repeat(4, (i) => `a${i}: realtimeMetrics { eventsTotal }`)} }`, "PULSE_MAX_QUERY_ALIASES"],
    ["directives", `{ ${repeat(4, () => "__typename @include(if: true)")} }`, "PULSE_MAX_QUERY_DIRECTIVES"],
    ["tokens", `{ ${repeat(80, () => "__typename")} }`, "PULSE_MAX_QUERY_TOKENS"],
  ];
  for (const transport of transports) {
    for (const [name, query, setting] of cases) {
      it(`refuses a query over the ${name} limit over ${transport} with BAD_USER_INPUT naming ${setting}`, async () => {
        const server = await startServer({ trust: limits });
        const result = await run(server, transport, query);
        expect(result.data ?? null).toBeNull();
        expect(codeOf(result.errors ?? [])).toBe("BAD_USER_INPUT");
        expect(result.errors![0]!.extensions?.["setting"]).toBe(setting);
      });
    }
    it(`runs a query within every limit over ${transport}`, async () => {
      const server = await startServer({ trust: limits });
      const result = await run(server, transport, "{ liveDashboard { recentEvents { id } } a: __typename }");
      expect(result.errors).toBeUndefined();
    });
  }

  it("exempts introspection from the depth limit (GraphiQL keeps working)", async () => {
    const server = await startServer({ trust: { maxQueryDepth: 3 } });
    const answer = await gqlResponse(server.url, "{ __schema { types { fields { type { ofType { ofType { name } } } } } } }");
    expect(answer.body.errors).toBeUndefined();
  });
});

describe("bracket nesting is refused before parsing (graphql-js parses recursively)", () => {
  const nested = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`;
  const deepQuery = (depth: number) => `query { recentEvents(limit: 1, filter: {properties: ${nested(depth)}}) { id } }`;
  // With a raised token limit nothing else stops the parser: on main this nesting overflowed its stack (HTTP 500).
  const roomyTokens = { maxQueryTokens: 1_000_000 };

  for (const transport of transports) {
    for (const depth of [3_000, 100_000]) {
      it(`a list literal nested ${depth} deep is BAD_USER_INPUT naming PULSE_MAX_QUERY_DEPTH over ${transport}`, async () => {
        const server = await startServer({ trust: roomyTokens });
        const result = await run(server, transport, deepQuery(depth));
        expect(result.data ?? null).toBeNull();
        expect(codeOf(result.errors ?? [])).toBe("BAD_USER_INPUT");
        expect(result.errors![0]!.extensions?.["setting"]).toBe("PULSE_MAX_QUERY_DEPTH");
        expect(result.errors![0]!.message).toContain("nests brackets deeper than 64");
      });
    }
  }

  it("over HTTP it is answered like a syntax error: 400 for application/graphql-response+json, 200 for application/json", async () => {
    const server = await startServer({ trust: roomyTokens });
    const body = JSON.stringify({ query: deepQuery(3_000) });
    const strict = await post(server.url, body, { "content-type": "application/json", accept: "application/graphql-response+json" });
    expect(strict.status).toBe(400);
    expect(codeOf(strict.body)).toBe("BAD_USER_INPUT");
    const legacy = await post(server.url, body, { "content-type": "application/json", accept: "application/json" });
    expect(legacy.status).toBe(200);
    expect(codeOf(legacy.body)).toBe("BAD_USER_INPUT");
  });

  it("with the default limits too, on every transport", async () => {
    const server = await startServer();
    for (const transport of transports) {
      const result = await run(server, transport, deepQuery(3_000));
      expect([transport, codeOf(result.errors ?? [])]).toEqual([transport, "BAD_USER_INPUT"]);
    }
  });

  it("inside a subscription over WebSocket: the operation gets an error message and the socket stays up", async () => {
    const server = await startServer({ trust: roomyTokens });
    const raw = await RawGraphqlSocket.open(server.url);
    raw.send({
      id: "deep",
      type: "subscribe",
      payload: { query: `subscription { events(filter: {properties: ${nested(3_000)}}) { id } }` },
    });
    const refused = await raw.waitForMessage((m) => m["id"] === "deep", "the deep operation's answer");
    expect(refused["type"]).toBe("error");
    expect(codeOf(refused["payload"] as { extensions?: Record<string, unknown> }[])).toBe("BAD_USER_INPUT");
    // The same socket runs the next operation.
    raw.send({ id: "next", type: "subscribe", payload: { query: "{ realtimeMetrics { eventsTotal } }" } });
    const answered = await raw.waitForMessage((m) => m["id"] === "next" && m["type"] === "next", "the next operation's result");
    expect((answered["payload"] as { errors?: unknown }).errors).toBeUndefined();
    expect(raw.isOpen).toBe(true);
  });

  it("counts brackets as the lexer sees them: not inside strings, block strings or comments", async () => {
    const server = await startServer();
    const brackets = "([{".repeat(40);
    const query = `# ${brackets}
      query {
        a: recentEvents(filter: {properties: [{property: "p", operator: CONTAINS, value: "${brackets}\\"${brackets}"}]}) { id }
        b: recentEvents(filter: {properties: [{property: "p", operator: CONTAINS, value: """${brackets}\\"""${brackets}"""}]}) { id }
      }`;
    const answer = await gqlResponse(server.url, query);
    expect(answer.body.errors).toBeUndefined();
    expect(answer.body.data).toEqual({ a: [], b: [] });
  });

  it("allows the nesting a legitimate query reaches, GraphiQL's introspection included, with a small depth limit", async () => {
    const server = await startServer({ trust: { maxQueryDepth: 3 } });
    const { getIntrospectionQuery } = await import("graphql");
    const answer = await gqlResponse(server.url, getIntrospectionQuery());
    expect(answer.body.errors).toBeUndefined();
  });
});

describe("field suggestions", () => {
  const typo = "{ recentEvent { id } }";
  const enumTypo = '{ recentEvents(filter: { properties: [{ property: "a", operator: EQUAL }] }) { id } }';

  it("are hidden when hideFieldSuggestions is on (NODE_ENV=production), on HTTP, WebSocket and SSE", async () => {
    const server = await startServer({ trust: { hideFieldSuggestions: true } });
    for (const transport of transports) {
      for (const query of [typo, enumTypo]) {
        const result = await run(server, transport, query);
        expect(result.errors?.length, `${transport} ${query}`).toBeGreaterThan(0);
        for (const error of result.errors!) expect(error.message).not.toMatch(/Did you mean|recentEvents"|EQUALS/);
        expect(codeOf(result.errors!)).toBe("GRAPHQL_VALIDATION_FAILED");
      }
    }
  });

  it("are shown in development", async () => {
    const server = await startServer({ trust: { hideFieldSuggestions: false } });
    const answer = await gqlResponse(server.url, typo);
    expect(answer.body.errors![0]!.message).toContain('Did you mean "recentEvents"?');
  });
});

describe("unexpected errors are masked", () => {
  const previous = process.env.NODE_ENV;
  afterEach(() => {
    process.env.NODE_ENV = previous;
  });
  const secret = "postgresql://pulse:hunter2@db.internal:5432/pulse";
  const leak = () => {
    throw new Error(`connect ECONNREFUSED ${secret}`);
  };

  it("shows neither the message, a stack nor a database URL, even with NODE_ENV=development", async () => {
    process.env.NODE_ENV = "development";
    const server = await startServer();
    server.hub.stream.recent = leak;
    server.hub.stream.subscribe = leak;
    for (const transport of transports) {
      for (const query of ["{ recentEvents { id } }", "subscription { events { id } }"]) {
        if (transport === "http" && query.startsWith("subscription")) continue;
        const result = await run(server, transport, query);
        const text = JSON.stringify(result);
        expect(result.errors?.[0]?.message, `${transport} ${query}`).toBe("Unexpected error.");
        expect(text).not.toContain("hunter2");
        expect(text).not.toContain("ECONNREFUSED");
        expect(text).not.toMatch(/stack|at \//);
      }
    }
  });
});

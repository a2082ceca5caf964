import { afterEach, describe, expect, it } from "vitest";
import { codeOf, gql, once, sseClient, startPulse, wsClient, type ExecutionResult } from "../support/trust-harness.ts";
import type { PulseServer } from "../../src/server.ts";

const transports = ["http", "ws", "sse"] as const;

async function run(server: PulseServer, transport: (typeof transports)[number], query: string): Promise<ExecutionResult> {
  if (transport === "http") return (await gql(server, query)).body as ExecutionResult;
  return once(transport === "ws" ? wsClient(server) : sseClient(server), query);
}

const repeat = (n: number, make: (i: number) => string) => Array.from({ length: n }, (_, i) => make(i)).join(" ");

describe("query limits (GraphQL Armor), identical on every transport", () => {
  const limits = { maxQueryDepth: 3, maxQueryAliases: 3, maxQueryDirectives: 3, maxQueryTokens: 60 };
  const cases: [string, string, string][] = [
    ["depth", "{ liveDashboard { recentEvents { person { distinctId } } } }", "PULSE_MAX_QUERY_DEPTH"],
    ["depth through a fragment", "{ liveDashboard { ...d } } fragment d on LiveDashboard { recentEvents { person { distinctId } } }", "PULSE_MAX_QUERY_DEPTH"],
    ["aliases", `{ ${repeat(4, (i) => `a${i}: realtimeMetrics { eventsTotal }`)} }`, "PULSE_MAX_QUERY_ALIASES"],
    ["directives", `{ ${repeat(4, () => "__typename @include(if: true)")} }`, "PULSE_MAX_QUERY_DIRECTIVES"],
    ["tokens", `{ ${repeat(80, () => "__typename")} }`, "PULSE_MAX_QUERY_TOKENS"],
  ];
  for (const transport of transports) {
    for (const [name, query, setting] of cases) {
      it(`refuses a query over the ${name} limit over ${transport} with BAD_USER_INPUT naming ${setting}`, async () => {
        const server = await startPulse({ trust: limits });
        const result = await run(server, transport, query);
        expect(result.data ?? null).toBeNull();
        expect(codeOf(result.errors ?? [])).toBe("BAD_USER_INPUT");
        expect(result.errors![0]!.extensions?.["setting"]).toBe(setting);
      });
    }
    it(`runs a query within every limit over ${transport}`, async () => {
      const server = await startPulse({ trust: limits });
      const result = await run(server, transport, "{ liveDashboard { recentEvents { id } } a: __typename }");
      expect(result.errors).toBeUndefined();
    });
  }

  it("exempts introspection from the depth limit (GraphiQL keeps working)", async () => {
    const server = await startPulse({ trust: { maxQueryDepth: 3 } });
    const answer = await gql(server, "{ __schema { types { fields { type { ofType { ofType { name } } } } } } }");
    expect(answer.body.errors).toBeUndefined();
  });
});

describe("field suggestions", () => {
  const typo = "{ recentEvent { id } }";
  const enumTypo = '{ recentEvents(filter: { properties: [{ property: "a", operator: EQUAL }] }) { id } }';

  it("are hidden when hideFieldSuggestions is on (NODE_ENV=production), on HTTP, WebSocket and SSE", async () => {
    const server = await startPulse({ trust: { hideFieldSuggestions: true } });
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
    const server = await startPulse({ trust: { hideFieldSuggestions: false } });
    const answer = await gql(server, typo);
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
    const server = await startPulse();
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

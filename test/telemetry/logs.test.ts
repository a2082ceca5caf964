import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { badInput } from "../../src/domain/errors.ts";
import { maskError } from "../../src/graphql/errors.ts";
import { logUnexpectedErrors } from "../../src/graphql/telemetry.ts";
import { wantsPrettyLogs } from "../../src/telemetry/logger.ts";
import { streamClient, wsClient } from "../support/clients.ts";
import { CAPTURE_EVENTS } from "../support/events.ts";
import { capturedLogger } from "../support/logs.ts";
import { startServer } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";

const API_KEY = "sk_live_do-not-log-me-4242";
const PROPERTY_MARKER = "property-value-never-logged-7e1f";

async function captureWithKey(baseUrl: string, headers: Record<string, string>, n: number): Promise<Response> {
  const inputs = Array.from({ length: n }, (_, i) => ({
    id: randomUUID(),
    event: "$pageview",
    distinctId: `user-${i}`,
    properties: { secret: PROPERTY_MARKER, $current_url: `https://shop.example/${PROPERTY_MARKER}` },
  }));
  const response = await fetch(`${baseUrl}/graphql?apiKey=${API_KEY}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${API_KEY}`, ...headers },
    body: JSON.stringify({ query: CAPTURE_EVENTS, variables: { inputs } }),
  });
  await response.json();
  return response;
}

describe.each(["info", "debug"] as const)("logs at LOG_LEVEL=%s", (level) => {
  it("are JSON lines with request ids, one per request and per connection, without keys or event properties", async () => {
    const log = capturedLogger(level);
    const server = await startServer({ logger: log.logger });

    // HTTP: an incoming request id is honoured and echoed; without one (or a garbled one) a UUID is made up.
    const honoured = await captureWithKey(server.url, { "x-request-id": "req-from-the-proxy-1" }, 1);
    expect(honoured.headers.get("x-request-id")).toBe("req-from-the-proxy-1");
    const generated = await captureWithKey(server.url, {}, 1);
    const generatedId = generated.headers.get("x-request-id");
    expect(generatedId).toMatch(/^[0-9a-f-]{36}$/);
    const garbled = await captureWithKey(server.url, { "x-request-id": "x".repeat(200) }, 1);
    expect(garbled.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);

    // WebSocket and SSE: a subscription that receives 2 events, then the client goes away.
    // The upgrade request carries `x-request-id`, the key goes in connectionParams.
    const ws = wsClient(server.url, { key: API_KEY, headers: { "x-request-id": "ws-conn-7" } });
    const wsEvents: unknown[] = [];
    ws.subscribe(
      { query: "subscription { events { id properties } }" },
      { next: (v) => void wsEvents.push(v), error: () => {}, complete: () => {} },
    );
    const sse = streamClient("sse", server.url);
    const sseEvents = sse.subscribe("subscription { events { id properties } }");
    await waitFor(() => server.hub.metrics().activeSubscriptions === 2, { what: "both subscriptions registered" });
    await captureWithKey(server.url, {}, 2);
    await waitFor(() => wsEvents.length === 2, { what: "2 events over WebSocket" });
    await sseEvents.waitForResults(2);
    await ws.dispose();
    await sse.dispose();
    await fetch(`${server.url}/metrics`).then((r) => r.text());

    const lines = await waitFor(
      () => {
        const all = log.lines();
        const closed = all.filter((line) => line.msg === "connection closed");
        return closed.length === 2 && all.some((line) => line.path === "/metrics") === (level === "debug") ? all : null;
      },
      { what: () => `2 connection closed lines in\n${log.raw.join("")}` },
    );

    for (const line of lines) {
      expect(typeof line.time).toBe("string");
      expect(["trace", "debug", "info", "warn", "error", "fatal"]).toContain(line.level);
      expect(typeof line.msg).toBe("string");
    }
    const everything = log.raw.join("");
    expect(everything).not.toContain(API_KEY);
    expect(everything).not.toContain(PROPERTY_MARKER);
    expect(everything).not.toContain("apiKey");

    const requests = lines.filter((line) => line.msg === "request completed" && line.path === "/graphql");
    expect(requests.map((line) => line.reqId)).toEqual(
      expect.arrayContaining(["req-from-the-proxy-1", generatedId, garbled.headers.get("x-request-id")]),
    );
    for (const request of requests) {
      expect(request).toMatchObject({ level: "info", transport: "http", method: "POST", status: 200 });
      expect(request.durationMs).toBeTypeOf("number");
    }

    const wsLines = lines.filter((line) => line.transport === "ws");
    expect(wsLines.map((line) => line.msg)).toEqual(["connection opened", "connection closed"]);
    expect(wsLines.every((line) => line.reqId === "ws-conn-7")).toBe(true);
    expect(wsLines[1]).toMatchObject({ level: "info", code: 1000, subscriptions: 1, deliveries: 2 });
    expect(wsLines[1]?.durationMs).toBeTypeOf("number");

    const sseLines = lines.filter((line) => line.transport === "sse");
    expect(sseLines.map((line) => line.msg)).toEqual(["connection opened", "connection closed"]);
    expect(sseLines[0]?.reqId).toBe(sseLines[1]?.reqId);
    expect(sseLines[1]).toMatchObject({ level: "info", path: "/graphql/stream", subscriptions: 1, deliveries: 2 });

    // Probes and scrapes only at debug: they come every few seconds.
    const scrapes = lines.filter((line) => line.path === "/metrics");
    if (level === "debug") expect(scrapes.map((line) => line.level)).toEqual(["debug"]);
    else expect(scrapes).toEqual([]);
  });
});

describe("the logger", () => {
  it("redacts authorization and connectionParams even when a line carries them", () => {
    const log = capturedLogger("info");
    log.logger.info(
      {
        req: { headers: { authorization: `Bearer ${API_KEY}` } },
        connectionParams: { authorization: API_KEY },
        event: { properties: { a: PROPERTY_MARKER } },
      },
      "careless line",
    );
    const [line] = log.lines();
    expect(line?.msg).toBe("careless line");
    expect(log.raw.join("")).not.toContain(API_KEY);
    expect(log.raw.join("")).not.toContain(PROPERTY_MARKER);
  });
});

describe("unexpected errors", () => {
  it("are logged at error with their stack, while errors meant for the client are not", () => {
    const log = capturedLogger("info");
    const mask = logUnexpectedErrors(maskError, log.logger);
    const masked = mask(new TypeError("cannot read properties of undefined (reading 'seq')"), "Unexpected error.");
    expect(masked.message).toBe("Unexpected error.");
    mask(badInput("limit must be zero or more, got -1", { field: "limit" }), "Unexpected error.");
    const lines = log.lines();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: "error", msg: "unexpected error", err: { type: "TypeError" } });
    expect(String((lines[0]?.err as { stack: string }).stack)).toContain("cannot read properties of undefined");
  });
});

describe("pretty output", () => {
  it("is for a terminal outside production only", () => {
    expect(wantsPrettyLogs({ isTTY: true }, {})).toBe(true);
    expect(wantsPrettyLogs({ isTTY: true }, { NODE_ENV: "production" })).toBe(false);
    expect(wantsPrettyLogs({ isTTY: false }, {})).toBe(false);
    expect(wantsPrettyLogs({}, {})).toBe(false);
  });
});

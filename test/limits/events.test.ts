import { describe, expect, it } from "vitest";
import { codeOf, gqlResponse, once, sseClient, subscribe, wsClient } from "../support/clients.ts";
import { anEvent, CAPTURE, CAPTURE_EVENTS, SUBSCRIBE } from "../support/events.ts";
import { startServer } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";
import type { PulseServer } from "../../src/server.ts";

const transports = ["http", "ws", "sse"] as const;

/** Runs one mutation on a transport and returns its errors' first code. */
async function codeOn(server: PulseServer, transport: (typeof transports)[number], query: string, variables: Record<string, unknown>) {
  if (transport === "http") return codeOf((await gqlResponse(server.url, query, variables)).body);
  const client = transport === "ws" ? wsClient(server.url) : sseClient(server.url);
  return codeOf((await once(client, query, variables)).errors ?? []);
}

/** A subscriber that must stay empty while refused captures happen; checked after one accepted marker event. */
async function watchDeliveries(server: PulseServer) {
  const watcher = subscribe(wsClient(server.url), SUBSCRIBE);
  await waitFor(() => server.hub.metrics().activeSubscriptions === 1, { what: "watcher" });
  return async () => {
    await gqlResponse(server.url, CAPTURE, { input: anEvent({ event: "marker" }) });
    const names = () => watcher.results.map((r) => (r.data?.["events"] as { event: string }).event);
    // Everything delivered before the marker arrives with it or earlier: wait for the marker itself.
    await waitFor(() => names().includes("marker"), { what: "marker" });
    return names();
  };
}

describe("captureEvents batch size (PULSE_MAX_BATCH)", () => {
  for (const transport of transports) {
    it(`refuses a batch over the limit with BAD_USER_INPUT over ${transport}, storing and delivering nothing`, async () => {
      const server = await startServer({ maxBatch: 5 });
      const delivered = await watchDeliveries(server);
      const inputs = Array.from({ length: 6 }, (_, i) => anEvent({ distinctId: `u${i}` }));
      expect(await codeOn(server, transport, CAPTURE_EVENTS, { inputs })).toBe("BAD_USER_INPUT");
      expect(await codeOn(server, transport, CAPTURE_EVENTS, { inputs: inputs.slice(0, 5) })).toBeUndefined();
      expect(await delivered()).toEqual([...Array(5).fill("$pageview"), "marker"]);
    });
  }
});

describe("one event's size and shape", () => {
  const limits = { maxEventBytes: 2048, maxPropertyKeyLength: 16, maxPropertyDepth: 3, maxPropertyCount: 20 };
  const cases: [string, Record<string, unknown>, string][] = [
    ["serialized size (PULSE_MAX_EVENT_BYTES)", { pad: "x".repeat(2048) }, "PULSE_MAX_EVENT_BYTES"],
    ["property key length (PULSE_MAX_PROPERTY_KEY_LENGTH)", { ["k".repeat(17)]: 1 }, "PULSE_MAX_PROPERTY_KEY_LENGTH"],
    ["nesting depth (PULSE_MAX_PROPERTY_DEPTH)", { a: { b: { c: { d: 1 } } } }, "PULSE_MAX_PROPERTY_DEPTH"],
    ["nesting depth through arrays", { a: [[[1]]] }, "PULSE_MAX_PROPERTY_DEPTH"],
    [
      "property count (PULSE_MAX_PROPERTY_COUNT)",
      Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`p${i}`, i])),
      "PULSE_MAX_PROPERTY_COUNT",
    ],
    ["property count with arrays", { list: Array.from({ length: 20 }, (_, i) => i) }, "PULSE_MAX_PROPERTY_COUNT"],
  ];
  for (const [name, properties, setting] of cases) {
    it(`refuses an event over the ${name} with BAD_USER_INPUT naming the index and stores nothing of the batch`, async () => {
      const server = await startServer({ trust: limits });
      const answer = await gqlResponse(server.url, CAPTURE_EVENTS, { inputs: [anEvent(), anEvent({ properties })] });
      expect(codeOf(answer.body)).toBe("BAD_USER_INPUT");
      const message = answer.body.errors![0]!.message;
      expect(message).toContain("inputs[1]");
      expect(message).toContain(setting);
      expect(server.hub.stream.size).toBe(0);
    });
  }

  it("accepts an event at every limit", async () => {
    const server = await startServer({ trust: limits });
    const properties = { ["k".repeat(16)]: { b: { c: 1 } }, list: [1, 2, 3] };
    const answer = await gqlResponse(server.url, CAPTURE, { input: anEvent({ properties }) });
    expect(answer.body.errors).toBeUndefined();
    expect(server.hub.stream.size).toBe(1);
  });

  for (const transport of ["ws", "sse"] as const) {
    it(`applies the same limits over ${transport}`, async () => {
      const server = await startServer({ trust: limits });
      expect(await codeOn(server, transport, CAPTURE, { input: anEvent({ properties: { a: { b: { c: { d: 1 } } } } }) })).toBe(
        "BAD_USER_INPUT",
      );
      expect(await codeOn(server, transport, CAPTURE, { input: anEvent({ properties: { pad: "x".repeat(2048) } }) })).toBe(
        "BAD_USER_INPUT",
      );
      expect(server.hub.stream.size).toBe(0);
    });
  }
});

describe("timestamps", () => {
  const HOUR = 60 * 60 * 1000;
  it("clamps a timestamp more than 23 h ahead to the server's time and keeps one 22 h ahead", async () => {
    const server = await startServer();
    const far = new Date(Date.now() + 48 * HOUR).toISOString();
    const near = new Date(Date.now() + 22 * HOUR).toISOString();
    const before = Date.now();
    await gqlResponse(server.url, CAPTURE_EVENTS, { inputs: [anEvent({ timestamp: far }), anEvent({ timestamp: near })] });
    const [nearEvent, farEvent] = server.hub.stream.recent(2);
    expect(farEvent!.timestamp).toBeGreaterThanOrEqual(before);
    expect(farEvent!.timestamp).toBeLessThan(before + HOUR);
    expect(new Date(nearEvent!.timestamp).toISOString()).toBe(near);
  });

  for (const transport of transports) {
    it(`refuses an event older than PULSE_MAX_EVENT_AGE_SECONDS with BAD_USER_INPUT over ${transport}`, async () => {
      const server = await startServer({ trust: { maxEventAgeSeconds: 3600 } });
      const old = new Date(Date.now() - 2 * HOUR).toISOString();
      expect(await codeOn(server, transport, CAPTURE_EVENTS, { inputs: [anEvent(), anEvent({ timestamp: old })] })).toBe("BAD_USER_INPUT");
      const recent = new Date(Date.now() - HOUR / 2).toISOString();
      expect(await codeOn(server, transport, CAPTURE, { input: anEvent({ timestamp: recent }) })).toBeUndefined();
      expect(server.hub.stream.size).toBe(1);
    });
  }

  it("refuses garbage timestamps with BAD_USER_INPUT naming the field", async () => {
    const server = await startServer();
    for (const timestamp of ["yesterday", "2026-02-30T00:00:00Z", "2026-01-01", "2026-01-01T10:00:00", 1767225600000, true, ""]) {
      const answer = await gqlResponse(server.url, CAPTURE, { input: anEvent({ timestamp }) });
      expect(codeOf(answer.body), String(timestamp)).toBe("BAD_USER_INPUT");
      expect(answer.body.errors![0]!.message).toContain("timestamp");
    }
    expect(server.hub.stream.size).toBe(0);
  });
});

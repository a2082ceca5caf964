import { describe, expect, it } from "vitest";
import { codeOf, gqlResponse, once, sseClient, subscribe, wsClient } from "../support/clients.ts";
import { anEvent, CAPTURE_EVENTS, SUBSCRIBE } from "../support/events.ts";
import { KEYED, KEYS } from "../support/keys.ts";
import { startServer } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";
import type { PulseServer } from "../../src/server.ts";

const batch = (n: number, tag: string) => Array.from({ length: n }, (_, i) => anEvent({ event: tag, distinctId: `u${i}` }));

async function captureOn(server: PulseServer, transport: "http" | "ws" | "sse", inputs: unknown[], key?: string) {
  if (transport === "http") return gqlResponse(server.url, CAPTURE_EVENTS, { inputs }, { key });
  const client = transport === "ws" ? wsClient(server.url, { key }) : sseClient(server.url, { key });
  return { status: 0, headers: new Headers(), body: await once(client, CAPTURE_EVENTS, { inputs }) };
}

describe("capture rate per key (token bucket)", () => {
  // 5 events/s sustained plus a burst of 10 refilled over 10 s: a batch of 10 passes on the burst, and the next 6
  // cannot pass on either budget however slowly the test runs (the burst window outlasts it).
  const trust = { captureRatePerSecond: 5, captureBurst: 10 };

  for (const transport of ["http", "ws", "sse"] as const) {
    it(`refuses a capture over the budget with RATE_LIMITED over ${transport}, storing and delivering nothing of it`, async () => {
      const server = await startServer({ trust });
      const watcher = subscribe(wsClient(server.url), SUBSCRIBE);
      await waitFor(() => server.hub.metrics().activeSubscriptions === 1, { what: "watcher" });
      const allowed = await captureOn(server, transport, batch(10, "allowed"));
      expect(allowed.body.errors).toBeUndefined();
      const refused = await captureOn(server, transport, batch(6, "refused"));
      expect(codeOf(refused.body)).toBe("RATE_LIMITED");
      expect(refused.body.errors![0]!.extensions?.["retryAfterSeconds"]).toBeGreaterThanOrEqual(1);
      if (transport === "http") {
        expect(refused.status).toBe(429);
        expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      }
      expect(server.hub.stream.recent(100).map((e) => e.event)).toEqual(Array(10).fill("allowed"));
      await waitFor(() => watcher.results.length === 10, { what: "10 deliveries" });
      // a refused request is refunded: it does not push the next allowed moment further out
      expect(watcher.results.every((r) => (r.data?.["events"] as { event: string }).event === "allowed")).toBe(true);
    });
  }

  it("refuses a single batch larger than rate plus burst", async () => {
    const server = await startServer({ trust });
    const answer = await gqlResponse(server.url, CAPTURE_EVENTS, { inputs: batch(16, "huge") });
    expect(answer.status).toBe(429);
    expect(server.hub.stream.size).toBe(0);
  });

  it("keeps a separate budget per key", async () => {
    const server = await startServer({ trust: { ...KEYED, ...trust } });
    expect((await gqlResponse(server.url, CAPTURE_EVENTS, { inputs: batch(10, "a") }, { key: KEYS.capture })).status).toBe(200);
    expect((await gqlResponse(server.url, CAPTURE_EVENTS, { inputs: batch(6, "a") }, { key: KEYS.capture })).status).toBe(429);
    expect((await gqlResponse(server.url, CAPTURE_EVENTS, { inputs: batch(6, "b") }, { key: KEYS.read })).status).toBe(200);
    expect(server.hub.stream.size).toBe(16);
  });

  it("charges the PostHog endpoints to the same budget: 429 with Retry-After, nothing stored", async () => {
    const server = await startServer({ trust });
    const posthogBatch = (n: number, tag: string) => ({
      batch: Array.from({ length: n }, (_, i) => ({ event: tag, distinct_id: `u${i}` })),
    });
    const post = (body: unknown) =>
      fetch(`${server.url}/batch/`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    // As above: 10 pass on the burst, then 6 cannot pass on either budget, whichever path they take.
    expect((await post(posthogBatch(10, "posthog"))).status).toBe(200);
    expect((await gqlResponse(server.url, CAPTURE_EVENTS, { inputs: batch(6, "refused") })).status).toBe(429);
    const refused = await post(posthogBatch(6, "refused"));
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("RATE_LIMITED");
    expect(server.hub.stream.recent(100).filter((e) => e.event === "refused")).toEqual([]);
    expect(server.hub.stream.size).toBe(10);
  });
});

import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { gqlResponse, subscribe, wsClient } from "../support/clients.ts";
import { CAPTURE_EVENTS, SUBSCRIBE } from "../support/events.ts";
import { RawGraphqlSocket } from "../support/raw-ws.ts";
import { startServer } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/** Heap plus Buffers: where frames queued for a socket would pile up. */
function retained(): number {
  gc();
  gc();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

const MiB = 1024 * 1024;
const TOTAL = 20_000;
const BATCH = 200; // × 4 KB: within the default 1 MiB body limit
const padding = "x".repeat(4000);

describe("slow consumers", () => {
  it("closes a WebSocket that stops reading with 1013 while 20,000 events reach every other subscriber, in bounded memory", async () => {
    const server = await startServer({
      bufferSize: 1000,
      trust: { slowConsumerMs: 1000, captureRatePerSecond: 1_000_000, captureBurst: 0 },
    });
    const good = subscribe(wsClient(server.url), SUBSCRIBE);
    const slow = await RawGraphqlSocket.open(server.url);
    slow.send({ type: "subscribe", id: "slow", payload: { query: "subscription { events { id properties } }" } });
    await waitFor(() => server.hub.metrics().activeSubscriptions === 2, { what: "both subscriptions" });
    // Stop reading: the kernel's buffers fill, then the server's writes to this socket stall.
    slow.pause();

    const before = retained();
    for (let sent = 0; sent < TOTAL; sent += BATCH) {
      const inputs = Array.from({ length: BATCH }, (_, i) => ({
        event: "load",
        distinctId: `u${(sent + i) % 100}`,
        properties: { n: sent + i, padding },
      }));
      const answer = await gqlResponse(server.url, CAPTURE_EVENTS, { inputs });
      expect(answer.body.errors).toBeUndefined();
      await waitFor(() => good.results.length === sent + BATCH, { timeoutMs: 30_000, what: `good subscriber at ${sent + BATCH}` });
    }
    await waitFor(() => server.trust.stats().slowConsumerCloses === 1, { timeoutMs: 30_000, what: "the slow socket to be closed" });
    const growth = retained() - before;

    // Every event reached the reading subscriber, in order, none twice.
    const ids = good.results.map((r) => (r.data?.["events"] as { id: string }).id);
    expect(ids).toHaveLength(TOTAL);
    expect(new Set(ids).size).toBe(TOTAL);
    expect(ids).toEqual([...ids].sort());
    // ~80 MB went out; neither the stalled socket nor its subscription kept it (the buffer keeps 1000 events, ~4 MB).
    expect(growth).toBeLessThan(40 * MiB);

    // Once it reads again, the slow client finds the close frame behind what it had not read: 1013, resume with after.
    slow.resume();
    expect((await slow.whenClosed()).code).toBe(1013);
    expect(server.trust.stats().slowConsumerCloses).toBe(1);
    // The server is still up and serving.
    expect((await gqlResponse(server.url, "{ realtimeMetrics { eventsTotal } }")).body.data?.["realtimeMetrics"]).toEqual({
      eventsTotal: TOTAL,
    });
  });
});

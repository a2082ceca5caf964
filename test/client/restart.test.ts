import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { RealtimeAnalytics, type PulseEvent } from "../../packages/client/src/index.ts";
import { captureSequence, sequenceNumber } from "../support/events.ts";
import { freePort, startPulseProcess, tempDatabaseUrl } from "../support/process.ts";
import { onCleanup } from "../support/cleanup.ts";
import { waitFor } from "../support/wait.ts";

/**
 * Surviving a restart with cursors intact: the buffer and its cursors are restored from DATABASE_URL after a graceful
 * SIGTERM, so the client resumes with `after:` on the new process. Stock clients across the same restart, and a
 * fleet restarted one instance at a time, are in test/integration/rolling-restart.test.ts.
 */
describe.each<"ws" | "sse">(["ws", "sse"])("RealtimeAnalytics over %s across a server restart (DATABASE_URL)", (transport) => {
  it(
    "receives the complete sequence, in order, while a producer keeps capturing through a SIGTERM restart",
    { timeout: 120_000 },
    async () => {
      const port = await freePort();
      const env = { DATABASE_URL: tempDatabaseUrl() };
      const first = await startPulseProcess(env, { port });
      const url = first.url;

      const client = new RealtimeAnalytics(url, {
        transport,
        webSocketImpl: WebSocket,
        retry: { initialDelayMs: 100, maxDelayMs: 1_000 },
      });
      onCleanup(() => client.disconnect());
      const received: PulseEvent[] = [];
      client.on("tick", (event) => received.push(event));
      client.connect({ events: ["tick"] });
      await waitFor(() => client.status === "live", { what: "the client to be live", timeoutMs: 30_000 });

      const TOTAL = 150;
      const producer = captureSequence(url, { total: TOTAL });

      await waitFor(() => received.length >= 30, { what: "some events before the restart", timeoutMs: 60_000 });
      first.child.kill("SIGTERM");
      expect((await first.exited).code).toBe(0);
      await startPulseProcess(env, { port });

      await producer.done;
      await waitFor(() => received.length >= TOTAL, {
        what: () => `all ${TOTAL} events (got ${received.length}, ending ${JSON.stringify(received.slice(-5).map(sequenceNumber))})`,
        timeoutMs: 60_000,
      });
      expect(received.map(sequenceNumber)).toEqual(Array.from({ length: TOTAL }, (_, i) => i + 1));
      expect(new Set(received.map((e) => e.cursor)).size).toBe(TOTAL);
    },
  );
});

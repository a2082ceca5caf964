import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { RealtimeAnalytics, type PulseEvent } from "../../src/client/index.ts";
import { freePort, startPulseProcess, tempDatabaseUrl } from "../support/process.ts";
import { onCleanup } from "../support/cleanup.ts";
import { sleep, waitFor } from "../support/wait.ts";

/**
 * Surviving a restart with cursors intact needs the persistence issue (the buffer and its cursors are restored from
 * DATABASE_URL after a graceful SIGTERM). Until that code is in the tree this suite is skipped, and says so; once
 * prisma/schema.prisma exists it runs, and must pass.
 */
const persistence = existsSync(new URL("../../prisma/schema.prisma", import.meta.url));

/** A deterministic UUID per event number, so a producer's retry of the same event is a duplicate, not a new event. */
const idFor = (n: number) => `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;

describe.skipIf(!persistence).each<"ws" | "sse">(["ws", "sse"])(
  "RealtimeAnalytics over %s across a server restart (needs persistence: DATABASE_URL)",
  (transport) => {
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

        // The producer captures tick 1..TOTAL one by one, retrying each (same id) until the server acknowledges it.
        const TOTAL = 150;
        let producing = true;
        onCleanup(() => {
          producing = false;
        });
        const producer = (async () => {
          for (let n = 1; n <= TOTAL && producing;) {
            try {
              const response = await fetch(`${url}/graphql`, {
                method: "POST",
                headers: { "content-type": "application/json" },
                body: JSON.stringify({
                  query: "mutation($input: CaptureEventInput!) { captureEvent(input: $input) { id } }",
                  variables: { input: { id: idFor(n), event: "tick", distinctId: "producer", properties: { n } } },
                }),
              });
              const body = (await response.json()) as { data?: { captureEvent?: { id: string } } };
              if (body.data?.captureEvent?.id === idFor(n)) n++;
            } catch {
              // The server is down (restarting): try the same event again.
            }
            await sleep(10);
          }
        })();

        await waitFor(() => received.length >= 30, { what: "some events before the restart", timeoutMs: 60_000 });
        first.child.kill("SIGTERM");
        expect((await first.exited).code).toBe(0);
        await startPulseProcess(env, { port });

        await producer;
        await waitFor(() => received.length >= TOTAL, {
          what: () =>
            `all ${TOTAL} events (got ${received.length}, ending ${JSON.stringify(received.slice(-5).map((e) => e.properties["n"]))})`,
          timeoutMs: 60_000,
        });
        expect(received.map((e) => e.properties["n"])).toEqual(Array.from({ length: TOTAL }, (_, i) => i + 1));
        expect(new Set(received.map((e) => e.cursor)).size).toBe(TOTAL);
      },
    );
  },
);

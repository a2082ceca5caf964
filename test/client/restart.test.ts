import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { RealtimeAnalytics, type PulseEvent } from "../../src/client/index.ts";
import { cleanup, onCleanup } from "../support/cleanup.ts";
import { waitFor } from "../support/wait.ts";

afterEach(cleanup);

const ROOT = new URL("../../", import.meta.url).pathname;

/**
 * Surviving a restart with cursors intact needs the persistence issue (the buffer and its cursors are restored from
 * DATABASE_URL after a graceful SIGTERM). Until that code is in the tree this suite is skipped, and says so; once
 * prisma/schema.prisma exists it runs, and must pass.
 */
const persistence = existsSync(join(ROOT, "prisma/schema.prisma"));

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** `npm start` as a user runs it (one process to signal), on a fixed port and its own database file. */
function startChild(port: number, databaseUrl: string): ChildProcess {
  return spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), HOST: "127.0.0.1", DATABASE_URL: databaseUrl },
    stdio: ["ignore", "ignore", "inherit"],
  });
}

async function healthy(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/healthz`)).ok;
  } catch {
    return false;
  }
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
}

/** A deterministic UUID per event number, so a producer's retry of the same event is a duplicate, not a new event. */
const idFor = (n: number) => `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;

describe.skipIf(!persistence).each<"ws" | "sse">(["ws", "sse"])(
  "RealtimeAnalytics over %s across a server restart (needs persistence: DATABASE_URL)",
  (transport) => {

    it("receives the complete sequence, in order, while a producer keeps capturing through a SIGTERM restart", { timeout: 120_000 }, async () => {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      const dir = mkdtempSync(join(tmpdir(), "pulse-restart-"));
      onCleanup(() => rmSync(dir, { recursive: true, force: true }));
      const databaseUrl = `file:${join(dir, "pulse.db")}`;
      let child = startChild(port, databaseUrl);
      onCleanup(async () => {
        if (child.exitCode === null) child.kill("SIGKILL");
        await exited(child);
      });
      await waitFor(() => healthy(url), { what: "the server to start", timeoutMs: 30_000 });

      const client = new RealtimeAnalytics(url, { transport, webSocketImpl: WebSocket, retry: { initialDelayMs: 100, maxDelayMs: 1_000 } });
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
        for (let n = 1; n <= TOTAL && producing; ) {
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
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      })();

      await waitFor(() => received.length >= 30, { what: "some events before the restart", timeoutMs: 60_000 });
      child.kill("SIGTERM");
      expect(await exited(child)).toBe(0);
      child = startChild(port, databaseUrl);
      await waitFor(() => healthy(url), { what: "the server to start again", timeoutMs: 30_000 });

      await producer;
      await waitFor(() => received.length >= TOTAL, { what: `all ${TOTAL} events`, timeoutMs: 60_000 });
      expect(received.map((e) => e.properties["n"])).toEqual(Array.from({ length: TOTAL }, (_, i) => i + 1));
      expect(new Set(received.map((e) => e.cursor)).size).toBe(TOTAL);
    });
  },
);

import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { SETTINGS } from "../../src/config.ts";
import { cleanup, onCleanup } from "../support/cleanup.ts";
import { gqlData, streamClient } from "../support/clients.ts";
import { captureEvent, captureEvents, pageview, recentEvents, waitForActive } from "../support/events.ts";
import { tempDatabaseUrl } from "../support/database.ts";
import { waitFor } from "../support/wait.ts";

afterEach(cleanup);

const REDIS_URL = process.env.REDIS_URL ?? process.env.PULSE_TEST_REDIS_URL;
if (!REDIS_URL) console.warn("test/stream/fleet.test.ts skipped: set REDIS_URL (e.g. redis://127.0.0.1:6379) to run it");

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const EVENTS = `subscription { events { id } }`;

interface Instance {
  readonly url: string;
  readonly child: ChildProcess;
}

/** A real `node --import tsx src/main.ts` on a free port, ready (GET /readyz 200) before it is returned. */
async function startInstance(env: NodeJS.ProcessEnv): Promise<Instance> {
  const port = await freePort();
  const clean: NodeJS.ProcessEnv = { ...process.env };
  for (const setting of SETTINGS) delete clean[setting.env];
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    cwd: ROOT,
    env: { ...clean, PORT: String(port), HOST: "127.0.0.1", LOG_LEVEL: "warn", ...env },
    stdio: "ignore",
  });
  onCleanup(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => ((await fetch(`${url}/readyz`).catch(() => null))?.status === 200 ? true : null), { timeoutMs: 30_000 });
  return { url, child };
}

describe.skipIf(!REDIS_URL)("a fleet of real Pulse processes on one Redis", () => {
  it("serves the same stream on every instance; one killed with -9 catches up when restarted", async () => {
    const shared = { REDIS_URL: REDIS_URL!, PULSE_REDIS_PREFIX: `pulse-test:${randomUUID()}:` };
    const databases = [tempDatabaseUrl(onCleanup), tempDatabaseUrl(onCleanup), tempDatabaseUrl(onCleanup)];
    const [a, b, c] = await Promise.all(databases.map((DATABASE_URL) => startInstance({ ...shared, DATABASE_URL })));
    const onB = streamClient("ws", b!.url).subscribe(EVENTS);
    const onC = streamClient("sse", c!.url).subscribe(EVENTS);
    await waitForActive(b!.url, 1);
    await waitForActive(c!.url, 1);
    const first = await captureEvents(a!.url, [1, 2, 3, 4, 5].map((n) => pageview(n)));
    const ids = (r: { data?: Record<string, unknown> | null }) => (r.data!.events as { id: string }).id;
    expect((await onB.waitForResults(5)).map(ids)).toEqual(first.ids);
    expect((await onC.waitForResults(5)).map(ids)).toEqual(first.ids);
    const views = `{ liveUsers { count } liveDashboard { liveUsers eventsPerMinute { event count } topPages { path count } } }`;
    const onA = await gqlData(a!.url, views);
    for (const server of [b!, c!]) expect(await gqlData(server.url, views)).toEqual(onA);

    c!.child.kill("SIGKILL");
    await new Promise((resolve) => c!.child.once("exit", resolve));
    const during = await captureEvent(b!.url, pageview(6));
    expect((await recentEvents(a!.url, 1)).map((e) => e.id)).toEqual([during.id]);

    const restarted = await startInstance({ ...shared, DATABASE_URL: databases[2]! });
    const expected = (await recentEvents(a!.url, 100)).map((e) => e.id);
    await waitFor(async () => {
      const got = (await recentEvents(restarted.url, 100)).map((e) => e.id);
      return got.length === expected.length ? got : null;
    });
    expect((await recentEvents(restarted.url, 100)).map((e) => e.id)).toEqual(expected);
  }, 90_000);
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

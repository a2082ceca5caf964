import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startChild, stopAll } from "../lib/child.ts";
import { COMPILED_DIST, compileSources } from "../lib/compile.ts";
import { median } from "../lib/stats.ts";
import { captureEventsBody, pageview } from "../lib/workload.ts";
import { pending, result, round, type Mode, type ScenarioResult } from "./types.ts";

/**
 * The seam with the persistence issue, by its contract rather than its code: `DATABASE_URL` names the SQLite
 * snapshot, `PULSE_SNAPSHOT_INTERVAL_MS` its interval, a graceful stop writes a final snapshot, and `/readyz`
 * answers 200 once restored. Where no database file appears after a graceful stop, persistence is not merged on
 * this branch and both scenarios report "pending persistence merge" instead of a number.
 */
const PENDING = "pending persistence merge";
/** The production start (`node dist/main.js`), from this run's compile of the sources. */
const MAIN = join(COMPILED_DIST, "main.js");
const EVENTS = 10_000;

function databaseExists(file: string): boolean {
  try {
    return statSync(file).size > 0;
  } catch {
    return false;
  }
}

/** Starts the production start's process (`node dist/main.js`) on `file`; resolves with the ms from spawn to the first 200 of /readyz (restored and serving), and a stop. */
async function startMain(file: string, port: number): Promise<{ readyMs: number; stop(): Promise<void> }> {
  await compileSources();
  const started = performance.now();
  const child = spawn(process.execPath, [MAIN], {
    stdio: "ignore",
    // One process on its own file: out of any Redis fleet the environment names, and without the per-address rate limit.
    env: {
      ...process.env,
      PORT: String(port),
      HOST: "127.0.0.1",
      DATABASE_URL: `file:${file}`,
      REDIS_URL: "",
      PULSE_CAPTURE_RATE: "1000000000",
      PULSE_CAPTURE_BURST: "1000000000",
    },
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    child.kill("SIGTERM");
    await exited;
  };
  for (const deadline = started + 60_000; performance.now() < deadline;) {
    if (child.exitCode !== null) throw new Error(`main.js exited (${child.exitCode}) before it was ready`);
    const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return { readyMs: performance.now() - started, stop };
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await stop();
  throw new Error("main.js was not ready within 60 s");
}

async function capture(port: number, total: number): Promise<void> {
  for (let n = 0; n < total; n += 100) {
    const response = await fetch(`http://127.0.0.1:${port}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: captureEventsBody(Array.from({ length: Math.min(100, total - n) }, (_, i) => pageview(n + i))),
    });
    if (!response.ok) throw new Error(`capture answered ${response.status}`);
  }
}

/** A port free right now on loopback (the server under test is a plain `npm start` process, which needs a number). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** Start-to-ready on a 10,000-event snapshot against the same on an empty one (median of several starts each). */
export async function restore10k(mode: Mode): Promise<ScenarioResult> {
  const dir = mkdtempSync(join(tmpdir(), "pulse-bench-"));
  try {
    const full = join(dir, "full.db");
    const empty = join(dir, "empty.db");
    const port = await freePort();
    const seeding = await startMain(full, port);
    await capture(port, mode === "smoke" ? 200 : EVENTS);
    await seeding.stop();
    if (!databaseExists(full)) return pending("ms to ready", "empty snapshot", "<= 1.3", PENDING);
    await (await startMain(empty, port)).stop();
    const runs = mode === "full" ? 5 : mode === "quick" ? 3 : 1;
    const fullMs: number[] = [];
    const emptyMs: number[] = [];
    for (let i = 0; i < runs; i++) {
      for (const [file, into] of [
        [full, fullMs],
        [empty, emptyMs],
      ] as const) {
        const server = await startMain(file, port);
        into.push(server.readyMs);
        await server.stop();
      }
    }
    return result(median(fullMs), "ms to ready", median(emptyMs), "empty snapshot", { atMost: 1.3 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Event-loop delay p99 in the server while the snapshot of 10,000 new events is written: capture them, then
 * sample the loop over two snapshot intervals with nothing else running.
 */
export async function snapshotLag(mode: Mode): Promise<ScenarioResult> {
  const dir = mkdtempSync(join(tmpdir(), "pulse-bench-"));
  const file = join(dir, "lag.db");
  const intervalMs = 2_000;
  const saved = { DATABASE_URL: process.env["DATABASE_URL"], PULSE_SNAPSHOT_INTERVAL_MS: process.env["PULSE_SNAPSHOT_INTERVAL_MS"] };
  process.env["DATABASE_URL"] = `file:${file}`;
  process.env["PULSE_SNAPSHOT_INTERVAL_MS"] = String(intervalMs);
  const server = await startChild("servers/pulse.ts").finally(() => Object.assign(process.env, restoreEnv(saved)));
  try {
    await capture(server.ready["port"] as number, mode === "smoke" ? 200 : EVENTS);
    const delay = await server.request<{ p99Ms: number; maxMs: number }>("loopDelay", { ms: 2 * intervalMs + 500 });
    if (!databaseExists(file)) return pending("ms p99 loop delay", "target", "<= 50 ms", PENDING);
    return result(delay.p99Ms, "ms p99 loop delay", 50, "target (50 ms)", { atMost: 1 }, { maxMs: round(delay.maxMs, 1) });
  } finally {
    await stopAll(server);
    rmSync(dir, { recursive: true, force: true });
  }
}

function restoreEnv(saved: Record<string, string | undefined>): Record<string, string> {
  for (const [key, value] of Object.entries(saved)) if (value === undefined) delete process.env[key];
  return Object.fromEntries(Object.entries(saved).filter((e): e is [string, string] => e[1] !== undefined));
}

/**
 * How much a snapshot of 10,000 new events stalls the event loop (target: p99 under 50 ms), and how long restoring
 * a full 10,000-event buffer takes. `npm run bench:snapshot` (add `-- --json` for one JSON line at the end).
 *
 * Real parts: the SQLite store in a temporary folder, a real Hub, the Snapshotter. Each run captures 10,000 new
 * events into a full buffer (so the snapshot inserts 10,000 rows and deletes the 10,000 they evicted: the worst
 * steady-state delta) and samples the event-loop delay (perf_hooks.monitorEventLoopDelay, 1 ms resolution) only
 * while the snapshot is written. Reports the median over the runs and the worst run. Not a test: numbers on a
 * shared machine are noisy.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { Hub } from "../src/domain/hub.ts";
import { createLogger } from "../src/telemetry/logger.ts";
import { Snapshotter } from "../src/store/snapshotter.ts";
import { openSqliteStore } from "../src/store/sqlite.ts";
import { captureInto } from "../test/domain/helpers.ts";

const EVENTS = 10_000;
const RUNS = 5;
const TARGET_P99_MS = 50;
const json = process.argv.includes("--json");

// Warnings and errors only (a failing snapshot would make the numbers meaningless), on stderr.
const quiet = createLogger({ level: "warn", destination: process.stderr });
const dir = mkdtempSync(join(tmpdir(), "pulse-bench-"));
const url = `file:${join(dir, "pulse.db")}`;

function newHub(): Hub {
  return new Hub({
    bufferSize: EVENTS,
    liveWindowSeconds: 60,
    dashboardWindowSeconds: 60,
    subscriberQueue: 2000,
    personsCapacity: 100_000,
  });
}

/** Realistic product events: a page view with a URL, a session, person properties, some nesting. */
function inputs(run: number, count: number) {
  return Array.from({ length: count }, (_, i) => ({
    id: randomUUID(),
    event: i % 10 === 0 ? "signup" : "$pageview",
    distinctId: `user-${(run * count + i) % 2000}`,
    properties: {
      $current_url: `https://shop.example/products/${i % 300}?ref=bench`,
      $session_id: `session-${i % 500}`,
      $browser: "Firefox",
      $screen_width: 1920,
      cart: { items: [{ sku: `sku-${i % 50}`, qty: 1 + (i % 3), price: 19.99 }], total: 19.99 * (1 + (i % 3)) },
      $set: { plan: i % 2 === 0 ? "pro" : "free", lastPage: i % 300 },
    },
  }));
}

async function capture(hub: Hub, run: number): Promise<void> {
  const all = inputs(run, EVENTS);
  for (let i = 0; i < all.length; i += 1000) await captureInto(hub, all.slice(i, i + 1000));
}

function ms(ns: number): number {
  return Math.round((ns / 1e6) * 10) / 10;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

try {
  const store = await openSqliteStore(url, { log: quiet });
  const hub = newHub();
  const snapshotter = new Snapshotter({ hub, store, intervalMs: 3_600_000, evictedThroughSeq: 0, log: quiet });
  // Warm up (Prisma's query compiler, SQLite's page cache) and fill the buffer, so each run below also evicts.
  await capture(hub, 0);
  await snapshotter.snapshotNow();

  const idle = monitorEventLoopDelay({ resolution: 1 });
  idle.enable();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  idle.disable();

  const runs: { p99: number; max: number; writeMs: number }[] = [];
  for (let run = 1; run <= RUNS; run++) {
    await capture(hub, run);
    const delay = monitorEventLoopDelay({ resolution: 1 });
    const started = performance.now();
    delay.enable();
    await snapshotter.snapshotNow();
    delay.disable();
    runs.push({ p99: ms(delay.percentile(99)), max: ms(delay.max), writeMs: Math.round(performance.now() - started) });
  }
  await snapshotter.close();
  await store.close();

  // Restore: open the file as a fresh start does (migration check included), load, rebuild the hub.
  const restoreStarted = performance.now();
  const reopened = await openSqliteStore(url, { log: quiet });
  const opened = performance.now();
  const snapshot = await reopened.load({ events: EVENTS, persons: 100_000 });
  const loaded = performance.now();
  const restoredHub = newHub();
  restoredHub.restore(snapshot.events, snapshot.evictedThroughSeq, snapshot.persons);
  const restoreMs = Math.round(performance.now() - restoreStarted);
  const phases = `open ${Math.round(opened - restoreStarted)} ms, load ${Math.round(loaded - opened)} ms, rebuild ${Math.round(performance.now() - loaded)} ms`;
  await reopened.close();
  if (restoredHub.stream.size !== EVENTS) throw new Error(`restored ${restoredHub.stream.size} events, expected ${EVENTS}`);

  const p99 = median(runs.map((r) => r.p99));
  const worst = Math.max(...runs.map((r) => r.p99));
  console.log(`Snapshot of ${EVENTS} new events (+ ${EVENTS} evicted), ${RUNS} runs, node ${process.version}:`);
  console.log("run  loop-delay p99  loop-delay max  write time");
  runs.forEach((r, i) =>
    console.log(
      `${String(i + 1).padStart(3)}  ${`${r.p99} ms`.padStart(14)}  ${`${r.max} ms`.padStart(14)}  ${`${r.writeMs} ms`.padStart(10)}`,
    ),
  );
  console.log(`idle loop-delay p99: ${ms(idle.percentile(99))} ms`);
  console.log(
    `snapshot_lag p99 (median of runs): ${p99} ms, worst run ${worst} ms; target < ${TARGET_P99_MS} ms: ${p99 < TARGET_P99_MS ? "met" : "NOT MET"}`,
  );
  console.log(
    `restore_10k (open + migration check + load + rebuild ${EVENTS} events, ${snapshot.persons.length} persons): ${restoreMs} ms (${phases})`,
  );
  if (json) {
    console.log(
      JSON.stringify({
        snapshot_lag: { value: p99, unit: "ms", worst, target: TARGET_P99_MS },
        snapshot_write: { value: median(runs.map((r) => r.writeMs)), unit: "ms" },
        restore_10k: { value: restoreMs, unit: "ms" },
      }),
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

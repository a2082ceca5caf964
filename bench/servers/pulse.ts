import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { createPulseServer, loadConfig } from "../../src/index.ts";
import { serveRequests, serverHandlers } from "../lib/serve.ts";

/**
 * Pulse as users run it (settings from the environment, as `npm start` reads them), on a free loopback port.
 * `loopDelay` samples this process's event-loop delay for `ms` (the snapshot_lag scenario).
 *
 * Arguments `NAME=value` are settings that override the environment's: the fleet scenario passes `REDIS_URL`,
 * `PULSE_REDIS_PREFIX` and `DATABASE_URL` this way to make the process one instance of its fleet. Without them it is
 * one process on a SQLite file of its own, whatever the environment says about Redis.
 */
// The load comes from one loopback address: lift the per-address connection cap and the capture rate limit, which
// exist for the open internet and would otherwise refuse the benchmark's own traffic (the environment may override).
// One process: never join a Redis fleet the environment (CI) names for the scale-out tests (only the arguments can).
const benchDefaults = { PULSE_CAPTURE_RATE: "1000000000", PULSE_CAPTURE_BURST: "1000000000", PULSE_MAX_CONNECTIONS_PER_ADDRESS: "0" };
// Snapshots go to a file of this run's own unless DATABASE_URL names one (the persistence scenarios do): with the
// default (data/pulse.db in the working directory) a bench run left thousands of recent events there, which the next
// `npm start` or test child restored (a dashboard test then counted 402 live users instead of 2).
const overrides = Object.fromEntries(
  process.argv.slice(2).map((arg) => {
    const at = arg.indexOf("=");
    if (at <= 0) throw new Error(`bench/servers/pulse.ts takes NAME=value arguments, got ${arg}`);
    return [arg.slice(0, at), arg.slice(at + 1)];
  }),
);
const ownDatabase = process.env["DATABASE_URL"] || overrides["DATABASE_URL"] ? undefined : mkdtempSync(join(tmpdir(), "pulse-bench-"));
const databaseDefaults = ownDatabase ? { DATABASE_URL: `file:${join(ownDatabase, "pulse.db")}` } : {};
const pulse = await createPulseServer(
  loadConfig({ ...benchDefaults, ...databaseDefaults, ...process.env, REDIS_URL: "", ...overrides, PORT: "0", HOST: "127.0.0.1" }),
);
// Report the port only once the snapshot is restored and GraphQL is served (before that it answers 503).
await pulse.ready;
serveRequests(
  { port: pulse.port },
  {
    ...serverHandlers,
    async loopDelay(request) {
      const histogram = monitorEventLoopDelay({ resolution: 1 });
      histogram.enable();
      await new Promise((resolve) => setTimeout(resolve, request["ms"] as number));
      histogram.disable();
      return { p99Ms: histogram.percentile(99) / 1e6, maxMs: histogram.max / 1e6 };
    },
    /** The newest position this instance has applied (in a fleet: read from the shared stream). */
    position: () => pulse.hub.stream.lastPosition,
    /**
     * Resolves once this instance has applied position `seq`, with the wall-clock time it did (ms since the epoch,
     * comparable across the processes of one machine), or null after `timeoutMs`.
     */
    async reach(request) {
      const reached = await pulse.hub.replication.reachPosition(request["seq"] as number, (request["timeoutMs"] as number) ?? 60_000);
      return reached ? performance.timeOrigin + performance.now() : null;
    },
  },
  () => pulse.close().finally(() => ownDatabase && rmSync(ownDatabase, { recursive: true, force: true })),
);

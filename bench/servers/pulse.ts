import { monitorEventLoopDelay } from "node:perf_hooks";
import { createPulseServer, loadConfig } from "../../src/index.ts";
import { serveRequests, serverHandlers } from "../lib/serve.ts";

/**
 * Pulse as users run it (settings from the environment, as `npm start` reads them), on a free loopback port.
 * `loopDelay` samples this process's event-loop delay for `ms` (the snapshot_lag scenario).
 */
const pulse = await createPulseServer(loadConfig({ ...process.env, PORT: "0", HOST: "127.0.0.1" }));
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
  },
  () => pulse.close(),
);

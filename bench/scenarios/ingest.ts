import { startChild, stopAll } from "../lib/child.ts";
import { median } from "../lib/stats.ts";
import { captureEventBody, captureEventsBody, pageview } from "../lib/workload.ts";
import { profiling } from "./delivery.ts";
import { result, type Mode, type ScenarioResult } from "./types.ts";

const SECONDS: Record<Mode, number> = { full: 10, quick: 1, smoke: 1 };
const RUNS: Record<Mode, number> = { full: 5, quick: 3, smoke: 1 };

/** Requests/s of `body` against one server: a warm-up run, then the median of the measured runs. */
async function requestsPerSecond(server: string, body: string, connections: number, mode: Mode): Promise<number[]> {
  const target = await startChild(server, [], { cpuProf: server === "servers/pulse.ts" ? profiling.dir : undefined });
  const load = await startChild("load/http.ts");
  try {
    const url = `http://127.0.0.1:${target.ready["port"] as number}/graphql`;
    const runs: number[] = [];
    await load.request("run", { url, body, connections, seconds: 1 });
    for (let i = 0; i < RUNS[mode]; i++) {
      const { requestsPerSecond } = await load.request<{ requestsPerSecond: number }>("run", { url, body, connections, seconds: SECONDS[mode] });
      runs.push(requestsPerSecond);
    }
    return runs;
  } finally {
    await stopAll(target, load);
  }
}

/** Events/s through `captureEvents` (batches of 100, 10 connections) against raw node:http parsing the same body. */
export async function ingestBatch(mode: Mode): Promise<ScenarioResult> {
  const body = captureEventsBody(Array.from({ length: 100 }, (_, n) => pageview(n)));
  const pulse = median(await requestsPerSecond("servers/pulse.ts", body, 10, mode)) * 100;
  const raw = median(await requestsPerSecond("servers/raw-http.ts", body, 10, mode)) * 100;
  return result(pulse, "events/s", raw, "raw-http", { atLeast: 0.5 });
}

/** Requests/s of `captureEvent` with 50 connections against a no-op Yoga mutation answering the same body. */
export async function ingestSingle(mode: Mode): Promise<ScenarioResult> {
  const body = captureEventBody(pageview(1));
  const pulse = median(await requestsPerSecond("servers/pulse.ts", body, 50, mode));
  const noop = median(await requestsPerSecond("servers/yoga-noop.ts", body, 50, mode));
  return result(pulse, "req/s", noop, "yoga-noop", { atLeast: 0.8 });
}

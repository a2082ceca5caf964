import { startChild, stopAll } from "../lib/child.ts";
import { median } from "../lib/stats.ts";
import { captureEventBody, captureEventsBody, pageview } from "../lib/workload.ts";
import { profiling } from "./delivery.ts";
import { result, type Mode, type ScenarioResult } from "./types.ts";

const SECONDS: Record<Mode, number> = { full: 10, quick: 1, smoke: 1 };
const RUNS: Record<Mode, number> = { full: 5, quick: 3, smoke: 1 };

/**
 * Requests/s of `body` against Pulse and a baseline, both up at once: a warm-up run each, then runs alternating
 * between them, so a load change on this shared machine hits both alike. Medians of the runs.
 */
async function requestsPerSecond(
  baseline: string,
  body: string,
  connections: number,
  mode: Mode,
): Promise<{ pulse: number; baseline: number }> {
  const pulse = await startChild("servers/pulse.ts", [], { cpuProf: profiling.dir });
  const other = await startChild(baseline);
  const load = await startChild("load/http.ts");
  try {
    const urls = [pulse, other].map((server) => `http://127.0.0.1:${server.ready["port"] as number}/graphql`);
    const runs: number[][] = [[], []];
    for (const url of urls) await load.request("run", { url, body, connections, seconds: 1 });
    // `--profile`: also a profile of Pulse over the measured runs alone (without start-up).
    if (profiling.dir) await pulse.request("profileStart");
    for (let i = 0; i < RUNS[mode]; i++) {
      for (const [index, url] of urls.entries()) {
        const { requestsPerSecond } = await load.request<{ requestsPerSecond: number }>("run", {
          url,
          body,
          connections,
          seconds: SECONDS[mode],
        });
        runs[index]!.push(requestsPerSecond);
      }
    }
    if (profiling.dir)
      await pulse.request("profileStop", { file: `${profiling.dir}rounds-ingest-${connections}-${Date.now()}.cpuprofile` });
    return { pulse: median(runs[0]!), baseline: median(runs[1]!) };
  } finally {
    await stopAll(pulse, other, load);
  }
}

/** Events/s through `captureEvents` (batches of 100, 10 connections) against raw node:http parsing the same body. */
export async function ingestBatch(mode: Mode): Promise<ScenarioResult> {
  const body = captureEventsBody(Array.from({ length: 100 }, (_, n) => pageview(n)));
  const measured = await requestsPerSecond("servers/raw-http.ts", body, 10, mode);
  return result(measured.pulse * 100, "events/s", measured.baseline * 100, "raw-http", { atLeast: 0.5 });
}

/** Requests/s of `captureEvent` with 50 connections against a no-op Yoga mutation answering the same body. */
export async function ingestSingle(mode: Mode): Promise<ScenarioResult> {
  const body = captureEventBody(pageview(1));
  const measured = await requestsPerSecond("servers/yoga-noop.ts", body, 50, mode);
  return result(measured.pulse, "req/s", measured.baseline, "yoga-noop", { atLeast: 0.8 });
}

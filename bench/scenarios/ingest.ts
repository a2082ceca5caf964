import { startChild, stopAll } from "../lib/child.ts";
import { median } from "../lib/stats.ts";
import { postHogBatches } from "../lib/posthog-batch.ts";
import { captureEventBody, captureEventsBody, pageview } from "../lib/workload.ts";
import { profiling } from "./delivery.ts";
import { result, type Mode, type ScenarioResult } from "./types.ts";

const SECONDS: Record<Mode, number> = { full: 10, quick: 1, smoke: 1 };
const RUNS: Record<Mode, number> = { full: 5, quick: 3, smoke: 1 };

/** What one side of a run posts: one `body` (or the load generator's `pool` of bodies, in turn) to `path`. */
interface Requests {
  readonly path?: string;
  readonly body?: string;
  readonly pool?: string;
  readonly headers?: Record<string, string>;
}

/**
 * Requests/s of `body` against Pulse and a baseline, both up at once: a warm-up run each, then runs alternating
 * between them, so a load change on this shared machine hits both alike. Medians of the runs. `sides` gives each its
 * own requests instead (default: `body` to /graphql); `pools` are sent to the load generator first (base64 bodies).
 */
async function requestsPerSecond(
  baseline: string,
  body: string,
  connections: number,
  mode: Mode,
  sides?: { pulse: Requests; baseline: Requests; pools: Record<string, string[]> },
): Promise<{ pulse: number; baseline: number }> {
  const pulse = await startChild("servers/pulse.ts", [], { cpuProf: profiling.dir });
  const other = await startChild(baseline);
  const load = await startChild("load/http.ts");
  try {
    for (const [name, bodies] of Object.entries(sides?.pools ?? {})) await load.request("pool", { name, bodies });
    const requests = [sides?.pulse ?? { body }, sides?.baseline ?? { body }];
    const targets = [pulse, other].map((server, index) => {
      const { path = "/graphql", ...rest } = requests[index]!;
      return { url: `http://127.0.0.1:${server.ready["port"] as number}${path}`, ...rest };
    });
    const runs: number[][] = [[], []];
    for (const target of targets) await load.request("run", { ...target, connections, seconds: 1 });
    // `--profile`: also a profile of Pulse over the measured runs alone (without start-up).
    if (profiling.dir) await pulse.request("profileStart");
    for (let i = 0; i < RUNS[mode]; i++) {
      for (const [index, target] of targets.entries()) {
        const { requestsPerSecond } = await load.request<{ requestsPerSecond: number }>("run", {
          ...target,
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
  return result(measured.pulse * 100, "events/s", measured.baseline * 100, "raw-http", { atLeast: 0.25 });
}

/** Requests/s of `captureEvent` with 50 connections against a no-op Yoga mutation answering the same body. */
export async function ingestSingle(mode: Mode): Promise<ScenarioResult> {
  const body = captureEventBody(pageview(1));
  const measured = await requestsPerSecond("servers/yoga-noop.ts", body, 50, mode);
  return result(measured.pulse, "req/s", measured.baseline, "yoga-noop", { atLeast: 0.8 });
}

/**
 * Batches posthog-node builds, sent in turn: 150 of 100 events, more than Pulse's default buffer (10,000), so no event
 * is still buffered when its batch comes round again (see postHogBatches).
 */
const POSTHOG_BATCHES = 150;

/**
 * Events/s of posthog-node's own `/batch/` requests (100 events, gzip, `Content-Encoding: gzip`, its User-Agent),
 * 10 connections, to Pulse's `/batch/`, against raw node:http parsing the same bodies decompressed.
 */
export async function ingestPostHogBatch(mode: Mode): Promise<ScenarioResult> {
  const batches = await postHogBatches(mode === "smoke" ? 10 : POSTHOG_BATCHES);
  const headers = batches[0]!.headers;
  const plain = Object.fromEntries(Object.entries(headers).filter(([name]) => name !== "content-encoding"));
  const measured = await requestsPerSecond("servers/raw-http.ts", "", 10, mode, {
    pulse: { path: "/batch/", pool: "gzip", headers },
    baseline: { path: "/batch/", pool: "json", headers: plain },
    pools: { gzip: batches.map((b) => b.gzip.toString("base64")), json: batches.map((b) => Buffer.from(b.json).toString("base64")) },
  });
  return result(measured.pulse * 100, "events/s", measured.baseline * 100, "raw-http (decompressed)", { atLeast: 0.3 });
}

import { loadavg } from "node:os";
import { startChild, stopAll, type Child } from "../lib/child.ts";
import { round, type Mode } from "./types.ts";

/**
 * Soak (`npm run bench -- --soak=10m`): steady captures and subscribers with churn (bench/load/churn.ts) against one
 * Pulse for the duration, its heap and RSS sampled after a full GC every few seconds. After the warm-up (the first
 * 20 %), heap and RSS must be flat and nothing may be lost: every subscriber that resumed with `after` got every
 * event after its cursor, and at the end every subscriber has every event of its filter.
 */
export interface SoakReport {
  readonly mode: Mode;
  readonly date: string;
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly load: { readonly eventsPerSecond: number; readonly ws: number; readonly sse: number; readonly churnPerSecond: number };
  readonly machine: { readonly loadBefore: number[]; readonly loadAfter: number[] };
  /** Seconds since the start, heap used and RSS (after a full GC), MB. */
  readonly samples: readonly { readonly t: number; readonly heapMB: number; readonly rssMB: number }[];
  /** Least-squares slope over the samples after the warm-up, MB per minute. */
  readonly heapSlopeMBPerMin: number;
  readonly rssSlopeMBPerMin: number;
  /** The same over the second half of the run only: a structure still filling up after the warm-up flattens there, a leak does not. */
  readonly heapSlopeLastHalfMBPerMin?: number;
  readonly rssSlopeLastHalfMBPerMin?: number;
  /** The first and last sample after the warm-up. */
  readonly heapFirstLastMB: readonly [number, number];
  readonly rssFirstLastMB: readonly [number, number];
  readonly counts: Record<string, number>;
  /** Heap and RSS within the bounds below over the measured part. */
  readonly flat: boolean;
  /** No gap, duplicate, LAGGED end, tail missing or error. */
  readonly nothingLost: boolean;
  readonly met: boolean;
}

/** Flat: what the fitted line grows by over ten minutes stays under these (a leak of 100 bytes per churned subscription is ~1.2 MB). */
export const FLAT_HEAP_MB_PER_MIN = 0.2;
export const FLAT_RSS_MB_PER_MIN = 2;

/** `10m`, `60s`, `90` (seconds) → seconds; throws on anything else. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(s|m)?$/.exec(text.trim());
  if (!match) throw new Error(`--soak takes a duration such as 60s or 10m, not ${JSON.stringify(text)}`);
  return Number(match[1]) * (match[2] === "m" ? 60 : 1);
}

/** Least-squares slope of y over x. */
export function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  const num = points.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0);
  const den = points.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

/** Heap and RSS slopes (MB/min) over the samples of the second half of a run of `seconds`. */
export function lastHalfSlopes(samples: SoakReport["samples"], seconds: number): { heap: number; rss: number } {
  const half = samples.filter((s) => s.t >= seconds / 2);
  return {
    heap: round(slope(half.map((s) => ({ x: s.t / 60, y: s.heapMB }))), 3),
    rss: round(slope(half.map((s) => ({ x: s.t / 60, y: s.rssMB }))), 3),
  };
}

export async function runSoak(seconds: number, mode: Mode, log: (line: string) => void = console.error): Promise<SoakReport> {
  const smoke = mode === "smoke";
  const load = { eventsPerSecond: smoke ? 50 : 200, ws: smoke ? 16 : 800, sse: smoke ? 4 : 200, churnPerSecond: smoke ? 4 : 20 };
  const sampleEvery = Math.max(0.5, Math.min(5, seconds / 30));
  const loadBefore = loadavg().map((l) => round(l, 2));
  let server: Child | undefined;
  let churn: Child | undefined;
  try {
    server = await startChild("servers/pulse.ts", [], { exposeGc: true });
    churn = await startChild("load/churn.ts");
    const baseUrl = `http://127.0.0.1:${server.ready["port"] as number}`;
    // The default buffer (10,000) filled first, so that it filling up is not read as growth.
    await churn.request("start", {
      baseUrl,
      ws: load.ws,
      sse: load.sse,
      rate: load.eventsPerSecond,
      churn: load.churnPerSecond,
      prefill: smoke ? 200 : 10_000,
    });
    const samples: { t: number; heapMB: number; rssMB: number }[] = [];
    const started = performance.now();
    let lastLog = 0;
    for (;;) {
      const t = (performance.now() - started) / 1000;
      const memory = await server.request<NodeJS.MemoryUsage>("memory");
      samples.push({ t: round(t, 1), heapMB: round(memory.heapUsed / 1e6, 2), rssMB: round(memory.rss / 1e6, 1) });
      if (t - lastLog >= 60 || (smoke && t - lastLog >= 1)) {
        lastLog = t;
        const progress = await churn.request<Record<string, number>>("stats");
        log(`[soak] ${Math.round(t)} s: heap ${samples.at(-1)!.heapMB} MB, RSS ${samples.at(-1)!.rssMB} MB, ${JSON.stringify(progress)}`);
      }
      if (t >= seconds) break;
      await new Promise((resolve) => setTimeout(resolve, Math.min(sampleEvery, seconds - t) * 1000));
    }
    const counts = await churn.request<Record<string, number>>("finish", {}, 60_000);
    const warmupSeconds = seconds * 0.2;
    const measured = samples.filter((s) => s.t >= warmupSeconds);
    const heapSlope = slope(measured.map((s) => ({ x: s.t / 60, y: s.heapMB })));
    const rssSlope = slope(measured.map((s) => ({ x: s.t / 60, y: s.rssMB })));
    const flat = heapSlope <= FLAT_HEAP_MB_PER_MIN && rssSlope <= FLAT_RSS_MB_PER_MIN;
    const lastHalf = lastHalfSlopes(samples, seconds);
    const nothingLost = ["gaps", "duplicates", "lagged", "tailMissing", "errors"].every((k) => counts[k] === 0);
    return {
      mode,
      date: new Date().toISOString(),
      seconds,
      warmupSeconds,
      load,
      machine: { loadBefore, loadAfter: loadavg().map((l) => round(l, 2)) },
      samples,
      heapSlopeMBPerMin: round(heapSlope, 3),
      rssSlopeMBPerMin: round(rssSlope, 3),
      heapSlopeLastHalfMBPerMin: lastHalf.heap,
      rssSlopeLastHalfMBPerMin: lastHalf.rss,
      heapFirstLastMB: [measured[0]?.heapMB ?? 0, measured.at(-1)?.heapMB ?? 0],
      rssFirstLastMB: [measured[0]?.rssMB ?? 0, measured.at(-1)?.rssMB ?? 0],
      counts,
      flat,
      nothingLost,
      met: flat && nothingLost,
    };
  } finally {
    await stopAll(server, churn);
  }
}

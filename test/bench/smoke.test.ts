import { expect, it } from "vitest";
import { runBench } from "./run-bench.ts";

const SCENARIOS = [
  "ingest_batch",
  "ingest_single",
  "ingest_posthog_batch",
  "fanout_1k",
  "fanout_10k",
  "fanout_sse_1k",
  "filtered_10k",
  "latency_1k",
  "memory_idle_10k",
  "restore_10k",
  "snapshot_lag",
  "capture_at_1m",
  "restore_1m",
  "fleet",
];

/**
 * The harness runs, never how fast: `npm run bench -- --smoke --json` (tiny sizes) completes, and its last line is
 * one JSON object with a well-formed entry for every scenario. Speed is not asserted (a shared 2-core machine).
 */
it("runs every scenario at smoke size and prints well-formed JSON", async () => {
  const results = await runBench<Record<string, Record<string, unknown>>>(["--smoke"]);
  expect(Object.keys(results).sort()).toEqual([...SCENARIOS].sort());
  for (const [name, r] of Object.entries(results)) {
    expect(typeof r["unit"], name).toBe("string");
    expect(typeof r["baselineName"], name).toBe("string");
    if (r["pending"] !== undefined) {
      // Not measured here (persistence not merged): says why, and claims no number.
      expect(r["value"], name).toBeNull();
      expect(r["ratio"], name).toBeNull();
      continue;
    }
    for (const key of ["value", "baseline", "ratio"]) expect(Number.isFinite(r[key]), `${name}.${key}`).toBe(true);
    const ratio = (r["value"] as number) / (r["baseline"] as number);
    expect(Math.abs((r["ratio"] as number) - ratio), `${name}.ratio`).toBeLessThanOrEqual(0.01 * Math.abs(ratio) + 0.001);
  }
  // Nothing was lost in the delivery scenarios, even at smoke size.
  // Nor by any baseline: every delivery scenario is measured against raw-ws-best, with raw-ws beside it (but SSE).
  for (const name of ["fanout_1k", "fanout_10k", "fanout_sse_1k", "filtered_10k", "latency_1k"]) {
    const context = results[name]!["context"] as Record<string, unknown>;
    expect(results[name]!["baselineName"], name).toMatch(/^raw-ws-best/);
    expect(context["lost"], name).toBe(0);
    expect(context["lostRawWsBest"], name).toBe(0);
    if (name !== "fanout_sse_1k") expect(context["lostRawWs"], name).toBe(0);
  }
  for (const name of ["fleet"]) {
    // The fleet needs Redis and PostgreSQL: pending without them on a developer's machine, never in CI.
    if (results[name]!["pending"] !== undefined && !process.env["CI"]) continue;
    expect((results[name]!["context"] as Record<string, unknown>)["lost"], name).toBe(0);
  }
  expect((results["fanout_1k"]!["context"] as Record<string, unknown>)["lostNaive"]).toBe(0);
}, 240_000);

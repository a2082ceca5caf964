import { mkdirSync } from "node:fs";
import { cpus } from "node:os";
import { fanout10k, fanout1k, fanoutSse1k, filtered10k, latency1k, memoryIdle10k, profiling } from "./scenarios/delivery.ts";
import { fleet } from "./scenarios/fleet.ts";
import { ingestBatch, ingestPostHogBatch, ingestSingle } from "./scenarios/ingest.ts";
import { captureAt1m, restore10k, restore1m, snapshotLag } from "./scenarios/persistence.ts";
import type { Mode, ScenarioResult } from "./scenarios/types.ts";

/**
 * `npm run bench [-- --quick | --smoke] [--json] [--only=a,b] [--profile]`: every scenario against its baseline,
 * in this one invocation. Prints a table, or with --json one JSON object as the last line of output.
 * `--curves` (cost curves) and `--soak=10m` (steady load with churn) run instead of the scenarios: bench/modes.ts.
 */
const SCENARIOS: Record<string, (mode: Mode) => Promise<ScenarioResult>> = {
  ingest_batch: ingestBatch,
  ingest_single: ingestSingle,
  ingest_posthog_batch: ingestPostHogBatch,
  fanout_1k: fanout1k,
  fanout_10k: fanout10k,
  fanout_sse_1k: fanoutSse1k,
  filtered_10k: filtered10k,
  latency_1k: latency1k,
  memory_idle_10k: memoryIdle10k,
  restore_10k: restore10k,
  snapshot_lag: snapshotLag,
  // capture_at_1m leaves the snapshot files restore_1m restores: keep this order.
  capture_at_1m: captureAt1m,
  restore_1m: restore1m,
  fleet,
};

const args = process.argv.slice(2);
const mode: Mode = args.includes("--smoke") ? "smoke" : args.includes("--quick") ? "quick" : "full";
const json = args.includes("--json");
const only = args
  .find((a) => a.startsWith("--only="))
  ?.slice("--only=".length)
  .split(",");
const unknown = only?.filter((name) => !(name in SCENARIOS)) ?? [];
if (unknown.length > 0) {
  console.error(`Unknown scenario ${unknown.join(", ")}; known: ${Object.keys(SCENARIOS).join(", ")}`);
  process.exit(2);
}
if (args.includes("--profile")) {
  profiling.dir = new URL("profiles/", import.meta.url).pathname;
  mkdirSync(profiling.dir, { recursive: true });
}

// `--curves` and `--soak=<n>s|m`: modes of their own (bench/scenarios/curves.ts, soak.ts), not part of the default run.
const soakArg = args.find((a) => a.startsWith("--soak="))?.slice("--soak=".length);
const curvesArg = args.includes("--curves") ? "" : args.find((a) => a.startsWith("--curves="))?.slice("--curves=".length);
if (curvesArg !== undefined || soakArg !== undefined) {
  const { runModes } = await import("./modes.ts");
  await runModes({ mode, json, curves: curvesArg, soak: soakArg });
  process.exit(0);
}

/**
 * Smoke mode only proves that every scenario runs (test/bench/smoke.test.ts, in CI), so the scenarios with processes,
 * files and a Redis prefix of their own (persistence, fleet) run beside the others, as a second chain: about half
 * the time. Every measuring mode runs one scenario at a time.
 */
const SECOND_CHAIN = new Set(["restore_10k", "snapshot_lag", "capture_at_1m", "restore_1m", "fleet"]);

const unordered: Record<string, ScenarioResult> = {};
const selected = Object.keys(SCENARIOS).filter((name) => !only || only.includes(name));
const started = Date.now();
async function runChain(names: readonly string[]): Promise<void> {
  for (const name of names) {
    const t0 = Date.now();
    console.error(`[bench] ${name} (${mode})...`);
    unordered[name] = await SCENARIOS[name]!(mode);
    console.error(`[bench] ${name} done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
}
if (mode === "smoke") {
  await Promise.all([
    runChain(selected.filter((name) => !SECOND_CHAIN.has(name))),
    runChain(selected.filter((name) => SECOND_CHAIN.has(name))),
  ]);
} else {
  await runChain(selected);
}
const results: Record<string, ScenarioResult> = Object.fromEntries(selected.map((name) => [name, unordered[name]!]));

const cpu = cpus()[0]?.model ?? "unknown CPU";
console.log(
  `\nPulse bench, ${mode} mode, ${((Date.now() - started) / 1000).toFixed(0)} s — ${cpus().length} × ${cpu}, Node ${process.version}\n`,
);
console.log(table(results));
if (json) console.log(JSON.stringify(results));

function table(rows: Record<string, ScenarioResult>): string {
  const header = ["scenario", "Pulse", "baseline", "ratio", "target", "met"];
  const body = Object.entries(rows).map(([name, r]) => [
    name,
    r.value === null ? r.pending! : `${format(r.value)} ${r.unit}`,
    r.baseline === null ? r.baselineName : `${format(r.baseline)} (${r.baselineName})`,
    r.ratio === null ? "-" : r.ratio.toFixed(2),
    r.target,
    r.met === null ? "-" : r.met ? "yes" : "NO",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  const context = Object.entries(rows)
    .filter(([, r]) => r.context)
    .map(
      ([name, r]) =>
        `  ${name}: ${Object.entries(r.context!)
          .map(([k, v]) => `${k}=${v}`)
          .join(", ")}`,
    );
  return [line(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...body.map(line), "", ...context].join("\n");
}

function format(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(2);
}

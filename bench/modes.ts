import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { CURVE_GROUPS, runCurves, type CurveGroup, type CurvesReport } from "./scenarios/curves.ts";
import { parseDuration, runSoak, type SoakReport } from "./scenarios/soak.ts";
import type { Mode } from "./scenarios/types.ts";

/** Where the curves and the soak write their JSON (bench/tools/charts.ts reads it). */
export const RESULTS = new URL("results/", import.meta.url).pathname;
/** A soak shorter than this is a check of the harness, not a figure: its JSON is printed, not written to results/. */
const RECORDED_SOAK_SECONDS = 300;

/**
 * `--curves` and `--soak=<duration>` (bench/run.ts): the cost curves and the soak, each written to bench/results/
 * (not at smoke size), a summary printed, and with --json one object `{ curves?, soak? }` as the last line.
 */
export async function runModes(options: {
  mode: Mode;
  json: boolean;
  /** `--curves`: every group; `--curves=persons,restore`: those, the others kept from bench/results/curves.json. */
  curves: string | undefined;
  soak: string | undefined;
}): Promise<void> {
  const out: { curves?: CurvesReport; soak?: SoakReport } = {};
  const soakSeconds = options.soak === undefined ? undefined : parseDuration(options.soak);
  const record = options.mode !== "smoke";
  if (record) mkdirSync(RESULTS, { recursive: true });
  if (options.curves !== undefined) {
    const started = Date.now();
    const groups = options.curves === "" ? CURVE_GROUPS : (options.curves.split(",") as CurveGroup[]);
    const unknown = groups.filter((g) => !CURVE_GROUPS.includes(g));
    if (unknown.length > 0) throw new Error(`unknown curve group ${unknown.join(", ")}; known: ${CURVE_GROUPS.join(", ")}`);
    const previousFile = `${RESULTS}curves.json`;
    const previous =
      groups.length < CURVE_GROUPS.length && record && existsSync(previousFile)
        ? (JSON.parse(readFileSync(previousFile, "utf8")) as CurvesReport)
        : undefined;
    out.curves = await runCurves(options.mode, console.error, groups, previous);
    console.error(`[bench] curves done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    if (record) writeFileSync(`${RESULTS}curves.json`, `${JSON.stringify(out.curves, null, 1)}\n`);
    console.log(`\nCost curves, ${options.mode} mode, ${out.curves.seconds} s (load ${out.curves.machine.loadBefore.join(" ")})\n`);
    for (const curve of out.curves.curves) {
      const points = curve.series.map((s) => `${s.name}: ${s.points.map((p) => `${p.x} → ${fmt(p.y)}`).join(", ")}`);
      console.log(`${curve.title} [${curve.y.unit}]\n  ${points.join("\n  ")}`);
    }
    console.log(`capacity inputs: ${JSON.stringify(out.curves.capacity)}`);
    if (record) console.log(`\nwritten to bench/results/curves.json; charts and README: npm run bench:charts`);
  }
  if (soakSeconds !== undefined) {
    out.soak = await runSoak(soakSeconds, options.mode);
    if (record && soakSeconds >= RECORDED_SOAK_SECONDS) writeFileSync(`${RESULTS}soak.json`, `${JSON.stringify(out.soak, null, 1)}\n`);
    const s = out.soak;
    console.log(
      `\nSoak, ${s.seconds} s (warm-up ${s.warmupSeconds} s), ${s.load.eventsPerSecond} events/s, ${s.load.ws} WS + ${s.load.sse} SSE, ` +
        `${s.load.churnPerSecond} churned/s: heap ${s.heapSlopeMBPerMin} MB/min (${s.heapFirstLastMB.join(" → ")} MB), ` +
        `RSS ${s.rssSlopeMBPerMin} MB/min (${s.rssFirstLastMB.join(" → ")} MB); flat: ${s.flat ? "yes" : "NO"}, nothing lost: ` +
        `${s.nothingLost ? "yes" : "NO"}\n  ${JSON.stringify(s.counts)}`,
    );
  }
  if (options.json) console.log(JSON.stringify(out));
}

function fmt(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString("en-US") : String(Math.round(n * 100) / 100);
}

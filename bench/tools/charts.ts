import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import type { CapacityInputs, Curve, CurvesReport } from "../scenarios/curves.ts";
import type { SoakReport } from "../scenarios/soak.ts";

/**
 * `npm run bench:charts`: bench/results/curves.json (and soak.json, if there) → one SVG per curve in bench/charts/,
 * and the generated sections of bench/README.md (between `<!-- NAME:start -->` and `<!-- NAME:end -->`: curves,
 * capacity, soak) rewritten with the charts, tables of the same numbers and the capacity model. Nothing in those
 * sections is typed by hand: edit this file, not the README, to change them.
 */

const WIDTH = 640;
const HEIGHT = 360;
const MARGIN = { left: 72, right: 24, top: 62, bottom: 52 };
/** Mid-tone colors, readable on a white and on a dark background alike. */
const COLORS = ["#2f81f7", "#e8590c", "#2da44e", "#a371f7"];

/** Numbers as tick and point labels: 1,234 → "1.2k", 50,000 → "50k", 0.0421 → "0.042". */
export function compact(n: number): string {
  const abs = Math.abs(n);
  const trim = (x: number, digits: number) => String(Number(x.toFixed(digits)));
  if (abs >= 1e6) return `${trim(n / 1e6, abs >= 1e7 ? 0 : 1)}M`;
  if (abs >= 1e3) return `${trim(n / 1e3, abs >= 1e4 ? 0 : 1)}k`;
  if (abs >= 100) return trim(n, 0);
  if (abs >= 10) return trim(n, 1);
  if (abs >= 1) return trim(n, 2);
  return abs === 0 ? "0" : String(Number(n.toPrecision(2)));
}

/** Numbers in tables: whole numbers with separators from 100 up, three significant digits below. */
export function tableNumber(n: number): string {
  if (Math.abs(n) >= 100) return Math.round(n).toLocaleString("en-US");
  return String(Number(n.toPrecision(3)));
}

/** Round tick values from 0 to at least `max` (about five). */
function niceTicks(max: number): number[] {
  if (!(max > 0)) return [0, 1];
  const rough = max / 5;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= rough)!;
  const ticks: number[] = [];
  for (let t = 0; t < max + step * 0.999; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

const escapeXml = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** One curve as a standalone SVG: axes, ticks, labels, a line per series with each point's value beside it. */
export function renderChart(curve: Curve): string {
  const xs = [...new Set(curve.series.flatMap((s) => s.points.map((p) => p.x)))].sort((a, b) => a - b);
  const ys = curve.series.flatMap((s) => s.points.map((p) => p.y));
  const minX = xs[0] ?? 0;
  const maxX = xs.at(-1) ?? 1;
  const log = curve.x.log === true && minX > 0 && maxX / minX >= 10;
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const xTicks = log ? xs : niceTicks(maxX);
  const [x0, x1] = log ? [Math.log10(minX), Math.log10(maxX)] : [0, xTicks.at(-1)!];
  // Log axes keep a little room on both ends, so the first and last points are not on the frame.
  const pad = log ? (x1 - x0) * 0.06 || 0.5 : 0;
  const sx = (x: number) => MARGIN.left + (((log ? Math.log10(x) : x) - (x0 - pad)) / (x1 - x0 + 2 * pad || 1)) * plotW;
  const yTicks = niceTicks(Math.max(0, ...ys) * 1.08);
  const yMax = yTicks.at(-1)!;
  const sy = (y: number) => MARGIN.top + plotH - (Math.max(0, y) / yMax) * plotH;
  const unit = curve.x.unit === "%" ? " %" : "";
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${escapeXml(curve.title)}">`,
    `<title>${escapeXml(curve.title)}</title>`,
    "<style>text{font:12px -apple-system,'Segoe UI',Helvetica,Arial,sans-serif;fill:#57606a}.title{font-size:14px;font-weight:600;fill:#24292f}" +
      ".axis{stroke:#8c959f}.grid{stroke:#8c959f;stroke-opacity:.25}" +
      "@media (prefers-color-scheme:dark){text{fill:#9da7b3}.title{fill:#d1d9e0}}</style>",
    `<text class="title" x="${MARGIN.left}" y="20">${escapeXml(curve.title)}</text>`,
  ];
  // Legend under the title, one swatch per series.
  let legendX = MARGIN.left;
  curve.series.forEach((series, i) => {
    out.push(`<rect x="${legendX}" y="31" width="14" height="4" fill="${COLORS[i % COLORS.length]}"/>`);
    out.push(`<text x="${legendX + 20}" y="37">${escapeXml(series.name)}</text>`);
    legendX += 34 + series.name.length * 6.5;
  });
  for (const t of yTicks) {
    const y = sy(t).toFixed(1);
    out.push(`<line class="grid" x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${y}" y2="${y}"/>`);
    out.push(`<text x="${MARGIN.left - 8}" y="${y}" dy="4" text-anchor="end">${compact(t)}</text>`);
  }
  for (const t of xTicks) {
    const x = sx(t).toFixed(1);
    out.push(`<line class="axis" x1="${x}" x2="${x}" y1="${MARGIN.top + plotH}" y2="${MARGIN.top + plotH + 5}"/>`);
    out.push(`<text x="${x}" y="${MARGIN.top + plotH + 19}" text-anchor="middle">${compact(t)}${unit}</text>`);
  }
  out.push(`<line class="axis" x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${MARGIN.top + plotH}" y2="${MARGIN.top + plotH}"/>`);
  out.push(`<line class="axis" x1="${MARGIN.left}" x2="${MARGIN.left}" y1="${MARGIN.top}" y2="${MARGIN.top + plotH}"/>`);
  const xLabel = `${curve.x.label}${curve.x.unit && curve.x.unit !== "%" ? ` (${curve.x.unit})` : ""}${log ? ", log scale" : ""}`;
  out.push(`<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 10}" text-anchor="middle">${escapeXml(xLabel)}</text>`);
  const yLabel = curve.y.unit && curve.y.unit !== curve.y.label ? `${curve.y.label} (${curve.y.unit})` : curve.y.label;
  out.push(`<text transform="translate(16 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escapeXml(yLabel)}</text>`);
  curve.series.forEach((series, i) => {
    const color = COLORS[i % COLORS.length]!;
    const points = [...series.points].sort((a, b) => a.x - b.x);
    const path = points.map((p) => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(" ");
    if (points.length > 1) out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${path}"/>`);
    // Each point's value beside it; labels of a second series go below their points, so two close lines stay legible.
    for (const p of points) {
      const [cx, cy] = [sx(p.x).toFixed(1), sy(p.y).toFixed(1)];
      out.push(
        `<circle cx="${cx}" cy="${cy}" r="3.5" fill="${color}"><title>${escapeXml(`${series.name}: ${compact(p.x)}${unit} → ${tableNumber(p.y)} ${curve.y.unit}`)}</title></circle>`,
      );
      out.push(`<text x="${cx}" y="${cy}" dy="${i % 2 === 0 ? -8 : 16}" text-anchor="middle" style="fill:${color}">${compact(p.y)}</text>`);
    }
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}

/** The soak's samples as a curve (heap and RSS after GC over the minutes). */
export function soakCurve(soak: SoakReport): Curve {
  const minutes = (t: number) => Number((t / 60).toFixed(2));
  // A chart of ~120 samples needs no label on each: keep about 12 points per series (the samples stay in the JSON).
  const every = Math.max(1, Math.ceil(soak.samples.length / 12));
  const last = soak.samples.length - 1;
  // Every `every`-th sample and the last, without one just before the last (their labels would overlap).
  const kept = soak.samples.filter((_, i) => (i % every === 0 && last - i >= every / 2) || i === last);
  return {
    id: "soak-memory",
    title: `Soak: Pulse memory after GC over ${tableNumber(soak.seconds / 60)} minutes`,
    x: { label: "minutes", unit: "" },
    y: { label: "MB", unit: "MB" },
    series: [
      { name: "RSS", points: kept.map((s) => ({ x: minutes(s.t), y: s.rssMB })) },
      { name: "heap used", points: kept.map((s) => ({ x: minutes(s.t), y: s.heapMB })) },
    ],
    note: "",
  };
}

/** A curve's numbers as a markdown table: one row per x, one column per series. */
export function curveTable(curve: Curve): string {
  const xs = [...new Set(curve.series.flatMap((s) => s.points.map((p) => p.x)))].sort((a, b) => a - b);
  const xHead = `${curve.x.label}${curve.x.unit ? ` (${curve.x.unit})` : ""}`;
  const head = `| ${xHead} | ${curve.series.map((s) => `${s.name} (${curve.y.unit})`).join(" | ")} |`;
  const rule = `|${" --- |".repeat(curve.series.length + 1)}`;
  const rows = xs.map((x) => {
    const cells = curve.series.map((s) => {
      const point = s.points.find((p) => p.x === x);
      return point ? tableNumber(point.y) : "–";
    });
    return `| ${tableNumber(x)} | ${cells.join(" | ")} |`;
  });
  return [head, rule, ...rows].join("\n");
}

/** The curves section: how the run went, then per curve its chart, its table and its note. */
export function curvesSection(report: CurvesReport, chartsPath: string): string {
  const m = report.machine;
  const lines = [
    `Run: \`npm run bench -- --curves${report.mode === "quick" ? " --quick" : ""}\`, ${report.date.slice(0, 10)}, ${report.seconds} s; ` +
      `${m.cpus} × ${m.model}, Node ${m.node}; load average ${m.loadBefore[0]} before, ${m.loadAfter[0]} after (other work shared the machine).`,
  ];
  for (const rerun of report.rerun ?? []) lines.push("", `Measured again: ${rerun}.`);
  for (const curve of report.curves) {
    lines.push("", `#### ${curve.title}`, "", `![${curve.title}](${chartsPath}${curve.id}.svg)`, "", curveTable(curve), "", curve.note);
  }
  return lines.join("\n");
}

/** A row of the capacity model's worked examples. */
export interface Workload {
  readonly eventsPerSecond: number;
  readonly subscribers: number;
  /** Share of events each subscriber receives (0–1). */
  readonly selectivity: number;
}

/** Cores and memory one Pulse needs for `w`, from the measured costs (buffer and persons at their defaults). */
export function capacity(
  c: CapacityInputs,
  w: Workload,
  buffered = 10_000,
  persons = 100_000,
): { cores: number; captureCores: number; memoryMB: number; deliveriesPerSecond: number; instances: number | null } {
  const deliveriesPerSecond = w.eventsPerSecond * w.subscribers * w.selectivity;
  const captureCores = (w.eventsPerSecond * c.cpuMicrosPerEvent) / 1e6;
  const deliveryCores = (deliveriesPerSecond * c.cpuMicrosPerDelivery) / 1e6;
  const memory =
    c.baseRssBytes + w.subscribers * c.bytesPerSubscriber + buffered * c.bytesPerBufferedEvent + persons * Math.max(0, c.bytesPerPerson);
  return {
    cores: captureCores + deliveryCores,
    captureCores,
    memoryMB: memory / 1e6,
    deliveriesPerSecond,
    instances: instancesFor(captureCores, deliveryCores),
  };
}

/**
 * Instances for a load within CORE_BUDGET each: deliveries divide between instances, captures do not (every
 * instance applies every event). null when capture alone exceeds the budget (more instances do not help). The
 * Redis stream's own cost per event on each instance is not in it (the fleet scenario measures it).
 */
export function instancesFor(captureCores: number, deliveryCores: number): number | null {
  if (captureCores + deliveryCores <= CORE_BUDGET) return 1;
  if (captureCores >= CORE_BUDGET) return null;
  return Math.ceil(deliveryCores / (CORE_BUDGET - captureCores));
}

/** One process's core: past this share of it (bursts, GC, the event loop's latency), add an instance. */
export const CORE_BUDGET = 0.7;

export const EXAMPLES: readonly Workload[] = [
  { eventsPerSecond: 100, subscribers: 100, selectivity: 1 },
  { eventsPerSecond: 1_000, subscribers: 1_000, selectivity: 0.1 },
  { eventsPerSecond: 1_000, subscribers: 10_000, selectivity: 0.01 },
  { eventsPerSecond: 200, subscribers: 10_000, selectivity: 0.1 },
  { eventsPerSecond: 5_000, subscribers: 100, selectivity: 1 },
  { eventsPerSecond: 2_000, subscribers: 5_000, selectivity: 0.1 },
];

export function capacitySection(report: CurvesReport): string {
  const c = report.capacity;
  const kb = (n: number) => tableNumber(n / 1024);
  const rows = EXAMPLES.map((w) => {
    const r = capacity(c, w);
    const instances =
      r.instances === null
        ? "capture alone exceeds one core's budget"
        : r.instances === 1
          ? "1"
          : `${r.instances}, plus the stream's cost (the fleet)`;
    return `| ${tableNumber(w.eventsPerSecond)} | ${tableNumber(w.subscribers)} | ${tableNumber(w.selectivity * 100)} % | ${tableNumber(r.deliveriesPerSecond)} | ${r.cores.toFixed(2)} | ${tableNumber(r.memoryMB)} MB | ${instances} |`;
  });
  return [
    "Measured costs (from the curves above, this run):",
    "",
    `- **c_e = ${tableNumber(c.cpuMicrosPerEvent)} µs** of CPU per captured event (captureEvents, batches of 100, with 100,000 persons known, each event's person drawn from them);`,
    `- **c_d = ${tableNumber(c.cpuMicrosPerDelivery)} µs** of CPU per delivery (the largest one-subscription-per-socket point of the fan-out curve);`,
    `- **m_s = ${kb(c.bytesPerSubscriber)} KB** of RSS per idle subscription (same point);`,
    `- **m_b = ${kb(c.bytesPerBufferedEvent)} KB** of RSS per buffered event (the largest restore point, minus an empty start);`,
    `- **m_p = ${kb(c.bytesPerPerson)} KB** of RSS per known person (the persons curve between its two largest points; it includes each person's live-user entry, as the persons were all seen within the live window);`,
    `- **base = ${tableNumber(c.baseRssBytes / 1e6)} MB** of RSS for a started Pulse with nothing in it.`,
    "",
    "For E events/s, S subscribers each receiving a share f of the events (the filter's selectivity), B buffered events",
    "(`PULSE_BUFFER_SIZE`, 10,000 by default) and P persons (at most `PULSE_PERSONS_MAX`, 100,000 by default):",
    "",
    "```",
    "cores  = (E × c_e + E × S × f × c_d) / 1,000,000",
    "memory = base + S × m_s + B × m_b + P × m_p",
    "```",
    "",
    `Worked examples (B = 10,000, P = 100,000). Instances: as many as keep each within ${CORE_BUDGET} of a core, with the deliveries`,
    "divided between them and every event captured by each:",
    "",
    "| events/s | subscribers | each receives | deliveries/s | cores | memory | instances |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...rows,
  ].join("\n");
}

export function soakSection(soak: SoakReport, chartsPath: string): string {
  const c = soak.counts;
  const ok = (b: boolean) => (b ? "yes" : "**no**");
  return [
    `Run: \`npm run bench -- --soak=${soak.seconds % 60 === 0 ? `${soak.seconds / 60}m` : `${soak.seconds}s`}\`, ${soak.date.slice(0, 10)}; ` +
      `load average ${soak.machine.loadBefore[0]} before, ${soak.machine.loadAfter[0]} after (other work shared the machine). ` +
      `${soak.load.eventsPerSecond} events/s captured, ${soak.load.ws} WebSocket + ${soak.load.sse} SSE subscribers, ${soak.load.churnPerSecond} churned per second.`,
    "",
    `![Soak memory](${chartsPath}soak-memory.svg)`,
    "",
    "| figure | value |",
    "| --- | --- |",
    `| heap after GC, slope after the warm-up (first ${tableNumber(soak.warmupSeconds)} s) | ${soak.heapSlopeMBPerMin} MB/min (${soak.heapFirstLastMB[0]} → ${soak.heapFirstLastMB[1]} MB) |`,
    `| RSS after GC, slope after the warm-up | ${soak.rssSlopeMBPerMin} MB/min (${soak.rssFirstLastMB[0]} → ${soak.rssFirstLastMB[1]} MB) |`,
    ...(soak.heapSlopeLastHalfMBPerMin === undefined
      ? []
      : [
          `| slopes over the second half only (heap, RSS) | ${soak.heapSlopeLastHalfMBPerMin} MB/min, ${soak.rssSlopeLastHalfMBPerMin} MB/min |`,
        ]),
    `| flat after the warm-up (heap ≤ 0.2 MB/min, RSS ≤ 2 MB/min) | ${ok(soak.flat)} |`,
    `| events captured / deliveries | ${tableNumber(c["captured"] ?? 0)} / ${tableNumber(c["deliveries"] ?? 0)} |`,
    `| resubscribed on the same socket / reconnected with \`after\` / replaced | ${tableNumber(c["resubscribes"] ?? 0)} / ${tableNumber(c["reconnects"] ?? 0)} / ${tableNumber(c["replaced"] ?? 0)} |`,
    `| gaps / duplicates / LAGGED / missing at the end / errors | ${c["gaps"]} / ${c["duplicates"]} / ${c["lagged"]} / ${c["tailMissing"]} / ${c["errors"]} |`,
    `| nothing lost | ${ok(soak.nothingLost)} |`,
  ].join("\n");
}

/** `text` with what lies between `<!-- name:start -->` and `<!-- name:end -->` replaced by `content`; throws when the markers are missing. */
export function replaceSection(text: string, name: string, content: string): string {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from < 0 || to < from) throw new Error(`bench/README.md has no ${start} … ${end} section`);
  return `${text.slice(0, from + start.length)}\n${content.trim()}\n${text.slice(to)}`;
}

/** Writes every chart and returns the README with its generated sections rewritten. */
export function generate(readme: string, report: CurvesReport | null, soak: SoakReport | null, chartsDir: string): string {
  mkdirSync(chartsDir, { recursive: true });
  let text = readme;
  if (report) {
    for (const curve of report.curves) writeFileSync(`${chartsDir}${curve.id}.svg`, renderChart(curve));
    text = replaceSection(text, "curves", curvesSection(report, "charts/"));
    text = replaceSection(text, "capacity", capacitySection(report));
  }
  if (soak) {
    writeFileSync(`${chartsDir}soak-memory.svg`, renderChart(soakCurve(soak)));
    text = replaceSection(text, "soak", soakSection(soak, "charts/"));
  }
  return text;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const bench = new URL("../", import.meta.url).pathname;
  const read = <T>(file: string): T | null => (existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as T) : null);
  const report = read<CurvesReport>(`${bench}results/curves.json`);
  const soak = read<SoakReport>(`${bench}results/soak.json`);
  if (!report && !soak) {
    console.error("no bench/results/curves.json or soak.json: run `npm run bench -- --curves` (or --soak=10m) first");
    process.exit(1);
  }
  const readmePath = `${bench}README.md`;
  writeFileSync(readmePath, generate(readFileSync(readmePath, "utf8"), report, soak, `${bench}charts/`));
  console.log(
    `bench/charts/*.svg and bench/README.md's generated sections written from ${[report && "curves.json", soak && "soak.json"].filter(Boolean).join(" and ")}`,
  );
}

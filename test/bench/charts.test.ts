import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Curve, CurvesReport } from "../../bench/scenarios/curves.ts";
import type { SoakReport } from "../../bench/scenarios/soak.ts";
import { capacity, compact, generate, instancesFor, renderChart, replaceSection, soakCurve } from "../../bench/tools/charts.ts";
import { onCleanup } from "../support/cleanup.ts";

const fanout: Curve = {
  id: "deliveries-by-subscribers",
  title: "Fan-out: deliveries/s by subscribers",
  x: { label: "subscribers", unit: "", log: true },
  y: { label: "deliveries/s", unit: "deliveries/s" },
  series: [
    {
      name: "one subscription per socket",
      points: [
        { x: 1_000, y: 250_000 },
        { x: 10_000, y: 310_000 },
        { x: 18_000, y: 290_500 },
      ],
    },
    {
      name: "5 subscriptions per socket",
      points: [
        { x: 5_000, y: 400_000 },
        { x: 50_000, y: 420_000 },
      ],
    },
  ],
  note: "How it was measured.",
};

const report: CurvesReport = {
  mode: "quick",
  date: "2026-12-05T18:00:00.000Z",
  seconds: 420,
  machine: { cpus: 2, model: "Test CPU", node: "v20.20.2", loadBefore: [3.1, 2, 1], loadAfter: [4.2, 3, 2] },
  curves: [
    fanout,
    {
      id: "restore-by-buffered",
      title: "Restore: start to ready by buffered events",
      x: { label: "buffered events", unit: "", log: true },
      y: { label: "start → /readyz", unit: "s" },
      series: [
        {
          name: "start → ready",
          points: [
            { x: 10_000, y: 1.2 },
            { x: 100_000, y: 3.4 },
            { x: 1_000_000, y: 9.87 },
          ],
        },
      ],
      note: "Restore note.",
    },
  ],
  capacity: {
    cpuMicrosPerDelivery: 2,
    cpuMicrosPerEvent: 20,
    bytesPerSubscriber: 10_000,
    bytesPerBufferedEvent: 1_000,
    bytesPerPerson: 500,
    baseRssBytes: 100_000_000,
  },
};

const soak: SoakReport = {
  mode: "full",
  date: "2026-12-05T19:00:00.000Z",
  seconds: 600,
  warmupSeconds: 120,
  load: { eventsPerSecond: 200, ws: 800, sse: 200, churnPerSecond: 20 },
  machine: { loadBefore: [5, 4, 3], loadAfter: [6, 5, 4] },
  samples: Array.from({ length: 121 }, (_, i) => ({ t: i * 5, heapMB: 80 + (i % 3) * 0.1, rssMB: 250 + (i % 2) })),
  heapSlopeMBPerMin: 0.004,
  rssSlopeMBPerMin: 0.02,
  heapSlopeLastHalfMBPerMin: -0.01,
  rssSlopeLastHalfMBPerMin: 0.03,
  heapFirstLastMB: [80.1, 80.2],
  rssFirstLastMB: [250, 251],
  counts: {
    captured: 120_000,
    deliveries: 3_000_000,
    resubscribes: 4_000,
    reconnects: 4_000,
    replaced: 2_000,
    gaps: 0,
    duplicates: 0,
    lagged: 0,
    tailMissing: 0,
    errors: 0,
  },
  flat: true,
  nothingLost: true,
  met: true,
};

const README = [
  "# Benchmarks",
  "Hand-written prose stays.",
  "<!-- curves:start -->",
  "old curves",
  "<!-- curves:end -->",
  "Between the sections.",
  "<!-- capacity:start -->",
  "<!-- capacity:end -->",
  "<!-- soak:start -->",
  "<!-- soak:end -->",
  "The end.",
  "",
].join("\n");

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "pulse-charts-"));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return `${dir}/`;
}

describe("renderChart", () => {
  const svg = renderChart(fanout);

  it("draws a point with its value for every measurement, and a line per series", () => {
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.match(/<circle /g)).toHaveLength(5);
    expect(svg.match(/<polyline /g)).toHaveLength(2);
    for (const label of ["250k", "310k", "291k", "400k", "420k"]) expect(svg).toContain(`>${label}</text>`);
    expect(svg).toContain("one subscription per socket: 18k → 290,500 deliveries/s");
  });

  it("labels the axes, the series and the title, with the measured x values as ticks on a log axis", () => {
    expect(svg).toContain(">Fan-out: deliveries/s by subscribers</text>");
    expect(svg).toContain(">subscribers, log scale</text>");
    expect(svg).toContain(">deliveries/s</text>");
    expect(svg).toContain(">one subscription per socket</text>");
    expect(svg).toContain(">5 subscriptions per socket</text>");
    for (const tick of ["1k", "5k", "10k", "18k", "50k"]) expect(svg).toContain(`>${tick}</text>`);
    // The y axis starts at 0 and reaches past the largest value.
    expect(svg).toContain(">0</text>");
    expect(svg).toContain(">500k</text>");
  });

  it("puts larger values higher and larger x further right", () => {
    const circles = [...svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)"/g)].map((m) => ({ x: Number(m[1]), y: Number(m[2]) }));
    const [first, second, third] = circles;
    expect(second!.x).toBeGreaterThan(first!.x);
    expect(third!.x).toBeGreaterThan(second!.x);
    expect(second!.y).toBeLessThan(first!.y); // 310k is drawn above 250k (SVG y grows downwards)
  });

  it("escapes text", () => {
    const escaped = renderChart({ ...fanout, title: "a < b & c" });
    expect(escaped).toContain("a &lt; b &amp; c");
    expect(escaped).not.toContain("a < b & c");
  });
});

describe("compact", () => {
  it("shortens numbers for labels", () => {
    expect([1_000, 10_000, 50_000, 1_000_000, 1_500, 123, 12.34, 1.234, 0.0421, 0].map(compact)).toEqual([
      "1k",
      "10k",
      "50k",
      "1M",
      "1.5k",
      "123",
      "12.3",
      "1.23",
      "0.042",
      "0",
    ]);
  });
});

describe("capacity", () => {
  it("adds capture and delivery CPU, and memory per subscriber, buffered event and person", () => {
    const r = capacity(report.capacity, { eventsPerSecond: 1_000, subscribers: 10_000, selectivity: 0.01 });
    expect(r.deliveriesPerSecond).toBe(100_000);
    expect(r.cores).toBeCloseTo((1_000 * 20 + 100_000 * 2) / 1e6, 10);
    expect(r.memoryMB).toBeCloseTo((100e6 + 10_000 * 10_000 + 10_000 * 1_000 + 100_000 * 500) / 1e6, 6);
    expect(r.instances).toBe(1);
  });

  it("divides deliveries between instances but not captures, and says when more instances cannot help", () => {
    expect(instancesFor(0.1, 0.5)).toBe(1);
    // 0.2 cores of capture on each instance leaves 0.5 for deliveries: 1.2 cores of them need 3 instances.
    expect(instancesFor(0.2, 1.2)).toBe(3);
    expect(instancesFor(0.8, 0.1)).toBeNull();
  });
});

describe("generate", () => {
  it("writes one SVG per curve and the soak's, and rewrites the marked sections idempotently", () => {
    const dir = tempDir();
    const once = generate(README, report, soak, dir);
    expect(readdirSync(dir).sort()).toEqual(["deliveries-by-subscribers.svg", "restore-by-buffered.svg", "soak-memory.svg"]);
    expect(readFileSync(`${dir}restore-by-buffered.svg`, "utf8")).toContain(">9.87</text>");

    expect(once).not.toContain("old curves");
    expect(once).toContain("![Fan-out: deliveries/s by subscribers](charts/deliveries-by-subscribers.svg)");
    // The table holds the same numbers as the chart.
    expect(once).toContain("| 18,000 | 290,500 | – |");
    expect(once).toContain("| 1,000,000 | 9.87 |");
    expect(once).toContain("load average 3.1 before, 4.2 after");
    // The capacity model's worked example for 1,000 events/s to 10,000 subscribers at 1 %: 0.22 cores.
    expect(once).toMatch(/\| 1,000 \| 10,000 \| 1 % \| 100,000 \| 0\.22 \|/);
    expect(once).toContain("| gaps / duplicates / LAGGED / missing at the end / errors | 0 / 0 / 0 / 0 / 0 |");
    expect(once).toContain("| slopes over the second half only (heap, RSS) | -0.01 MB/min, 0.03 MB/min |");
    for (const kept of ["Hand-written prose stays.", "Between the sections.", "The end."]) expect(once).toContain(kept);

    expect(generate(once, report, soak, dir)).toBe(once);
  });

  it("leaves a section alone when its JSON is missing, and refuses a README without the markers", () => {
    const dir = tempDir();
    const curvesOnly = generate(README, report, null, dir);
    expect(curvesOnly).toContain("<!-- soak:start -->\n<!-- soak:end -->");
    expect(() => replaceSection("# no markers", "curves", "x")).toThrow(/no <!-- curves:start -->/);
  });

  it("draws the soak as memory over minutes, about a dozen points per series", () => {
    const curve = soakCurve(soak);
    expect(curve.series.map((s) => s.name)).toEqual(["RSS", "heap used"]);
    expect(curve.series[0]!.points.length).toBeLessThanOrEqual(14);
    expect(curve.series[0]!.points.at(-1)!.x).toBe(10);
  });
});

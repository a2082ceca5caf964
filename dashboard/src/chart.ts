import type { TimelinePoint } from "./feed.ts";
import { clock, count, el } from "./format.ts";

const SVG = "http://www.w3.org/2000/svg";
const MARGIN = { top: 10, right: 6, bottom: 24, left: 34 };
/** Room one x-axis label needs ("14:05" at 11 px, and air). */
const LABEL_WIDTH = 46;

/**
 * The per-minute chart: events as bars, visitors (distinct ids per minute) as a line, a y axis of counts with
 * gridlines and an x axis of clock times. Drawn at the container's pixel width (so text is never stretched) and
 * again when that changes. Screen readers get a one-sentence summary on the SVG and the data as a table.
 */
export class MinuteChart {
  private points: readonly TimelinePoint[] = [];
  private width = 0;
  private readonly container: HTMLElement;
  private readonly table: HTMLTableSectionElement;

  constructor(container: HTMLElement, table: HTMLTableSectionElement) {
    this.container = container;
    this.table = table;
    new ResizeObserver(() => {
      const width = Math.floor(this.container.clientWidth);
      if (width !== this.width) {
        this.width = width;
        this.draw();
      }
    }).observe(container);
  }

  update(points: readonly TimelinePoint[]): void {
    const same =
      points.length === this.points.length &&
      points.every(
        (p, i) =>
          p.minute === this.points[i]!.minute && p.events === this.points[i]!.events && p.uniqueUsers === this.points[i]!.uniqueUsers,
      );
    if (same) return;
    this.points = points;
    this.width = Math.floor(this.container.clientWidth);
    this.draw();
    this.fillTable();
  }

  private draw(): void {
    const points = this.points;
    const width = this.width;
    if (!points.length || width <= 0) return;
    // The height is the container's (CSS sets it: lower on phones).
    const height = this.container.clientHeight || 200;
    const plotW = width - MARGIN.left - MARGIN.right;
    const plotH = height - MARGIN.top - MARGIN.bottom;
    const ticks = niceTicks(Math.max(...points.map((p) => Math.max(p.events, p.uniqueUsers))));
    const top = ticks[ticks.length - 1]!;
    const band = plotW / points.length;
    const x = (i: number) => MARGIN.left + i * band;
    const y = (v: number) => MARGIN.top + plotH - (plotH * v) / top;

    const svg = svgNode("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": summary(points) });
    const grid = svgNode("g", { class: "grid" });
    for (const tick of ticks) {
      grid.append(svgNode("line", { x1: MARGIN.left, x2: width - MARGIN.right, y1: y(tick), y2: y(tick) }));
      const label = svgNode("text", { x: MARGIN.left - 6, y: y(tick), dy: "0.32em", "text-anchor": "end" });
      label.textContent = count(tick);
      grid.append(label);
    }
    const axis = svgNode("g", { class: "axis" });
    axis.append(svgNode("line", { x1: MARGIN.left, x2: width - MARGIN.right, y1: y(0), y2: y(0) }));
    const every = [5, 10, 15, 30].find((m) => m * band >= LABEL_WIDTH) ?? 30;
    points.forEach((p, i) => {
      const minute = new Date(p.minute);
      if (minute.getMinutes() % every !== 0) return;
      const cx = x(i) + band / 2;
      if (cx < MARGIN.left + LABEL_WIDTH / 2 - 8 || cx > width - LABEL_WIDTH / 2) return;
      axis.append(svgNode("line", { x1: cx, x2: cx, y1: y(0), y2: y(0) + 4 }));
      const label = svgNode("text", { x: cx, y: height - 6, "text-anchor": "middle" });
      label.textContent = clock(minute);
      axis.append(label);
    });

    // The last minute is the current one, still filling: drawn lighter, its line dashed, so a minute that has only
    // just begun does not read as a drop.
    const current = points.length - 1;
    const bars = svgNode("g", { class: "bars" });
    const gap = Math.min(4, band * 0.25);
    points.forEach((p, i) => {
      if (p.events === 0) return;
      const h = Math.max(1, y(0) - y(p.events));
      const bar = svgNode("rect", { x: x(i) + gap / 2, width: Math.max(1, band - gap), y: y(0) - h, height: h, rx: Math.min(2, band / 4) });
      if (i === current) bar.classList.add("partial");
      bars.append(bar);
    });
    const at = (i: number) => `${(x(i) + band / 2).toFixed(1)},${y(points[i]!.uniqueUsers).toFixed(1)}`;
    const line = svgNode("polyline", {
      class: "visitors",
      points: points
        .slice(0, current)
        .map((_, i) => at(i))
        .join(" "),
    });
    const partial = svgNode("polyline", { class: "visitors partial", points: current > 0 ? `${at(current - 1)} ${at(current)}` : "" });
    const dots = svgNode("g", { class: "dots" });
    points.forEach((p, i) => {
      if (p.uniqueUsers > 0) dots.append(svgNode("circle", { cx: x(i) + band / 2, cy: y(p.uniqueUsers), r: Math.min(3, band / 3) }));
    });
    // One transparent column per minute carries its tooltip and the hover highlight.
    const hover = svgNode("g", { class: "hover" });
    points.forEach((p, i) => {
      const column = svgNode("rect", { x: x(i), width: band, y: MARGIN.top, height: plotH });
      const title = svgNode("title", {});
      title.textContent = `${minuteLabel(p, i === current)} · ${count(p.events)} events · ${count(p.uniqueUsers)} visitors`;
      column.append(title);
      hover.append(column);
    });
    svg.append(grid, bars, line, partial, dots, axis, hover);
    this.container.replaceChildren(svg);
  }

  private fillTable(): void {
    this.table.replaceChildren(
      ...[...this.points].reverse().map((p, i) => {
        const row = el("tr");
        row.append(el("th", "", minuteLabel(p, i === 0)), el("td", "", count(p.uniqueUsers)), el("td", "", count(p.events)));
        row.firstElementChild!.setAttribute("scope", "row");
        return row;
      }),
    );
  }
}

/** Round steps (1, 2, 5 × 10ⁿ) from 0 to at least `max`, at most five gridlines. An empty chart gets 0–4. */
export function niceTicks(max: number): number[] {
  const rough = Math.max(1, max / 4);
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough) ?? 10 * power;
  const top = max > 0 ? Math.ceil(max / step) * step : 4 * step;
  const ticks: number[] = [];
  for (let t = 0; t <= top; t += step) ticks.push(t);
  return ticks;
}

function minuteLabel(point: TimelinePoint, current: boolean): string {
  return current ? `${clock(point.minute)} (so far)` : clock(point.minute);
}

function summary(points: readonly TimelinePoint[]): string {
  const events = points.reduce((sum, p) => sum + p.events, 0);
  const busiest = points.reduce((a, b) => (b.uniqueUsers > a.uniqueUsers ? b : a), points[0]!);
  const last = points[points.length - 1]!;
  return (
    `Last ${points.length} minutes: ${count(events)} events. This minute so far: ${count(last.uniqueUsers)} visitors, ${count(last.events)} events.` +
    (busiest.uniqueUsers > 0 ? ` Most visitors at ${clock(busiest.minute)}: ${count(busiest.uniqueUsers)}.` : "")
  );
}

function svgNode<K extends keyof SVGElementTagNameMap>(tag: K, attributes: Record<string, string | number>): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  return node;
}

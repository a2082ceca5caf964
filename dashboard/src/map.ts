import type { BreakdownRow } from "./feed.ts";
import { count, countryName, el } from "./format.ts";

const SVG = "http://www.w3.org/2000/svg";

/**
 * The world map of the countries breakdown: each country shaded by its visitors (square root scale, so one busy
 * country does not wash out the rest). The shapes are made at build time (dashboard/world-map.ts) and load as their
 * own chunk after the page. Clicking a country with visitors filters by it; keyboard and screen reader users have
 * the list beside it (the map is one image to them, its label naming the top countries).
 */
export class WorldMap {
  private readonly container: HTMLElement;
  private readonly legend: HTMLElement;
  private readonly onPick: (code: string) => void;
  private paths = new Map<string, SVGPathElement>();
  private svg: SVGSVGElement | null = null;
  private rows: readonly BreakdownRow[] = [];
  private lastKey = "";

  constructor(container: HTMLElement, legend: HTMLElement, onPick: (code: string) => void) {
    this.container = container;
    this.legend = legend;
    this.onPick = onPick;
  }

  async load(): Promise<void> {
    const { default: world } = await import("virtual:world-map");
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", `0 0 ${world.width} ${world.height}`);
    svg.setAttribute("role", "img");
    for (const [code, d] of Object.entries(world.countries)) {
      const path = document.createElementNS(SVG, "path");
      path.setAttribute("d", d);
      path.append(document.createElementNS(SVG, "title"));
      path.addEventListener("click", () => {
        if (path.classList.contains("visited")) this.onPick(code);
      });
      this.paths.set(code, path);
      svg.append(path);
    }
    this.svg = svg;
    this.container.replaceChildren(svg);
    this.lastKey = "";
    this.update(this.rows);
  }

  update(rows: readonly BreakdownRow[]): void {
    this.rows = rows;
    const key = JSON.stringify(rows);
    if (!this.svg || key === this.lastKey) return;
    this.lastKey = key;
    const byCode = new Map(rows.map((r) => [r.value.toUpperCase(), r]));
    const max = Math.max(1, ...rows.map((r) => r.users ?? r.events));
    for (const [code, path] of this.paths) {
      const row = byCode.get(code);
      const visitors = row ? (row.users ?? row.events) : 0;
      path.classList.toggle("visited", visitors > 0);
      path.style.setProperty("--shade", visitors > 0 ? `${Math.round(20 + 80 * Math.sqrt(visitors / max))}%` : "0%");
      path.firstElementChild!.textContent = `${countryName(code)}: ${count(visitors)} visitors`;
    }
    const top = rows.slice(0, 5).map((r) => `${countryName(r.value)} ${count(r.users ?? r.events)}`);
    this.svg.setAttribute(
      "aria-label",
      top.length ? `World map of visitors. Most: ${top.join(", ")}.` : "World map of visitors: none yet.",
    );
    this.legend.replaceChildren(el("span", "", "1"), el("span", "ramp"), el("span", "", `${count(max)} visitors`));
    this.legend.hidden = rows.length === 0;
  }
}

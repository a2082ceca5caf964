import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MAP_BUDGET, measureDashboard, PAGE_BUDGET } from "../../scripts/dashboard-budget.ts";

// The build this checks is made by `pretest` / `pretest:browser` (npm run build:dashboard), as the other dashboard tests use it.
const BUILD = join(import.meta.dirname, "../../dist/dashboard");

describe("dashboard bundle", () => {
  it("stays within its budget: 60 KB gzipped for the page, 60 KB for the world map", () => {
    const sizes = measureDashboard(BUILD);
    expect(PAGE_BUDGET).toBe(60 * 1024);
    expect(MAP_BUDGET).toBe(60 * 1024);
    expect(sizes.page).toBeGreaterThan(5 * 1024);
    expect(sizes.page).toBeLessThanOrEqual(PAGE_BUDGET);
    expect(sizes.map).toBeGreaterThan(5 * 1024);
    expect(sizes.map).toBeLessThanOrEqual(MAP_BUDGET);
  });

  it("loads the map's shapes as a chunk of their own, after the page, and nothing from another origin", () => {
    const { files } = measureDashboard(BUILD);
    const map = files.filter((f) => f.path.includes("world-map"));
    expect(map).toHaveLength(1);
    const html = readFileSync(join(BUILD, "index.html"), "utf8");
    expect(html).not.toContain("world-map");
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    for (const file of files.filter((f) => /\.(js|css)$/.test(f.path))) {
      expect(readFileSync(join(BUILD, file.path), "utf8"), file.path).not.toMatch(/(import|url)\(\s*["']?https?:\/\//);
    }
  });
});

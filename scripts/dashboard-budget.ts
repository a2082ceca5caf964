// The dashboard's size budget, measured on the built files (gzip -9, what a browser downloads): checked by
// scripts/build-dashboard.ts at every build and by test/dashboard/budget.test.ts. docs/dashboard.md states it.
import { readdirSync, readFileSync } from "node:fs";
import { extname, join, relative } from "node:path";
import { gzipSync } from "node:zlib";

/** The page itself: HTML, JavaScript and CSS, everything but the world map's shapes. */
export const PAGE_BUDGET = 60 * 1024;
/** The world map's shapes (their own chunk, loaded after the page). */
export const MAP_BUDGET = 60 * 1024;
/** Text files the build writes (and compresses beside themselves); anything else is not part of the budget. */
export const COMPRESSIBLE = new Set([".html", ".js", ".css", ".svg"]);

export interface DashboardSizes {
  /** Gzipped bytes of the page (HTML, JS, CSS) without the map. */
  readonly page: number;
  /** Gzipped bytes of the map chunk. */
  readonly map: number;
  /** Each file, relative to the build, with its gzipped size. */
  readonly files: readonly { readonly path: string; readonly gzipped: number }[];
}

/** Sizes of the build in `dir` (dist/dashboard). The map chunk is the file named after its module, `world-map`. */
export function measureDashboard(dir: string): DashboardSizes {
  const files = readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((f) => f.isFile() && COMPRESSIBLE.has(extname(f.name)))
    .map((f) => {
      const path = join(f.parentPath, f.name);
      return { path: relative(dir, path), gzipped: gzipSync(readFileSync(path), { level: 9 }).length };
    });
  const isMap = (path: string) => path.includes("world-map");
  const sum = (list: typeof files) => list.reduce((total, f) => total + f.gzipped, 0);
  return { page: sum(files.filter((f) => !isMap(f.path))), map: sum(files.filter((f) => isMap(f.path))), files };
}

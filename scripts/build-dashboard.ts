// Builds the dashboard page with Vite and prints its gzipped size, failing over budget (scripts/dashboard-budget.ts).
// Each text file is also written compressed beside itself (`.br`, `.gz`, at the highest levels: once per build, not
// per request), for src/transport/dashboard.ts to send to a browser that accepts them.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { extname, join } from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";
import { build } from "vite";
import { COMPRESSIBLE, MAP_BUDGET, measureDashboard, PAGE_BUDGET } from "./dashboard-budget.ts";

const root = join(import.meta.dirname, "..");
await build({ configFile: join(root, "dashboard/vite.config.ts") });

const out = join(root, "dist/dashboard");
for (const file of readdirSync(out, { recursive: true, withFileTypes: true })) {
  if (!file.isFile() || !COMPRESSIBLE.has(extname(file.name))) continue;
  const path = join(file.parentPath, file.name);
  const body = readFileSync(path);
  writeFileSync(`${path}.gz`, gzipSync(body, { level: 9 }));
  writeFileSync(`${path}.br`, brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }));
}
const sizes = measureDashboard(out);
const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
console.log(`dashboard: page ${kb(sizes.page)} gzipped (budget ${kb(PAGE_BUDGET)}), world map ${kb(sizes.map)} (budget ${kb(MAP_BUDGET)})`);
if (sizes.page > PAGE_BUDGET || sizes.map > MAP_BUDGET) {
  console.error("dashboard bundle is over budget");
  process.exit(1);
}

// Builds the dashboard page with Vite and prints its gzipped size, failing above the 200 KB budget.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { build } from "vite";

const BUDGET = 200 * 1024;
const root = join(import.meta.dirname, "..");
await build({ configFile: join(root, "dashboard/vite.config.ts") });

const out = join(root, "dist/dashboard");
let total = 0;
for (const file of readdirSync(out, { recursive: true, withFileTypes: true })) {
  if (!file.isFile()) continue;
  total += gzipSync(readFileSync(join(file.parentPath, file.name))).length;
}
console.log(`dashboard: ${(total / 1024).toFixed(1)} KB gzipped (budget ${BUDGET / 1024} KB)`);
if (total > BUDGET) {
  console.error("dashboard bundle is over budget");
  process.exit(1);
}

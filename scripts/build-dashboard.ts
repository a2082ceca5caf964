// Builds the dashboard page with Vite and prints its gzipped size, failing above the 200 KB budget. Each text file
// is also written compressed beside itself (`.br`, `.gz`, at the highest levels: once per build, not per request),
// for src/transport/dashboard.ts to send to a browser that accepts them.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { extname, join } from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";
import { build } from "vite";

const BUDGET = 200 * 1024;
const root = join(import.meta.dirname, "..");
await build({ configFile: join(root, "dashboard/vite.config.ts") });

const out = join(root, "dist/dashboard");
const COMPRESSIBLE = new Set([".html", ".js", ".css", ".svg"]);
let total = 0;
for (const file of readdirSync(out, { recursive: true, withFileTypes: true })) {
  if (!file.isFile() || !COMPRESSIBLE.has(extname(file.name))) continue;
  const path = join(file.parentPath, file.name);
  const body = readFileSync(path);
  const gzipped = gzipSync(body, { level: 9 });
  total += gzipped.length;
  writeFileSync(`${path}.gz`, gzipped);
  writeFileSync(`${path}.br`, brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }));
}
console.log(`dashboard: ${(total / 1024).toFixed(1)} KB gzipped (budget ${BUDGET / 1024} KB)`);
if (total > BUDGET) {
  console.error("dashboard bundle is over budget");
  process.exit(1);
}

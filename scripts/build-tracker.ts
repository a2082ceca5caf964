// Builds the tracker served at /pulse.js (tracker/pulse.ts) with esbuild into dist/pulse.js, minified, and writes it
// compressed beside itself (`.br`, `.gz`, at the highest levels) for src/transport/tracker.ts to send. Fails when the
// script is over its budget: 2 KB gzipped, since every page of every site that uses it downloads it.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";
import { build } from "esbuild";

/** The most /pulse.js may weigh, gzipped at level 9 (test/tracker/pulse.test.ts checks the bytes served, too). */
export const TRACKER_BUDGET = 2048;

const root = join(import.meta.dirname, "..");
const out = join(root, "dist/pulse.js");
const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
await build({
  entryPoints: [join(root, "tracker/pulse.ts")],
  outfile: out,
  bundle: true,
  minify: true,
  format: "iife",
  // Browsers from 2018 on (Chrome 64, Firefox 58, Safari 11.1, with sendBeacon, fetch and object spread); newer
  // syntax such as `?.` and `??` is lowered.
  target: "es2018",
  define: { PULSE_VERSION: JSON.stringify(version) },
  legalComments: "none",
  logLevel: "warning",
});
const body = readFileSync(out);
const gzipped = gzipSync(body, { level: 9 });
writeFileSync(`${out}.gz`, gzipped);
writeFileSync(`${out}.br`, brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }));
console.log(`tracker: ${body.length} bytes, ${gzipped.length} gzipped (budget ${TRACKER_BUDGET})`);
if (gzipped.length > TRACKER_BUDGET) {
  console.error("tracker script is over budget");
  process.exit(1);
}

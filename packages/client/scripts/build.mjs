// Builds dist/: ESM with declarations from tsc (dist/esm), then the same modules as CommonJS (dist/cjs). Each source
// file stays its own module, so the entry points share one copy of the client and a bundler keeps only what an app
// imports. dist/cjs/package.json makes Node and TypeScript read that folder's .js and .d.ts files as CommonJS.
// tsc rewrites the sources' relative ".ts" imports to ".js" in JavaScript but keeps them in declarations, which older
// TypeScript versions cannot follow: the declarations get ".js" here.
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { execPath } from "node:process";
import { transform } from "esbuild";

const root = join(import.meta.dirname, "..");
const esm = join(root, "dist/esm");
const cjs = join(root, "dist/cjs");
const require = createRequire(import.meta.url);

rmSync(join(root, "dist"), { recursive: true, force: true });
execFileSync(execPath, [require.resolve("typescript/bin/tsc"), "-p", join(root, "tsconfig.build.json")], { stdio: "inherit" });
// The transports' document types itself with @graphql-typed-document-node/core, which consumers do not install; no
// other declaration imports it.
rmSync(join(esm, "generated/documents.d.ts"));

/** `from "./x.ts"` and `import("./x.ts")` in a declaration file, to ".js". */
const relativeTs = /(\bfrom\s*|\bimport\s*\(\s*)(["'])(\.{1,2}\/[^"']+)\.ts\2/g;

for (const entry of readdirSync(esm, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile()) continue;
  const from = join(entry.parentPath, entry.name);
  const to = join(cjs, relative(esm, from));
  mkdirSync(dirname(to), { recursive: true });
  if (entry.name.endsWith(".d.ts")) {
    const declarations = readFileSync(from, "utf8").replace(relativeTs, "$1$2$3.js$2");
    writeFileSync(from, declarations);
    writeFileSync(to, declarations);
  } else if (entry.name.endsWith(".js")) {
    const { code } = await transform(readFileSync(from, "utf8"), { format: "cjs", target: "es2022", sourcefile: entry.name });
    writeFileSync(to, code);
  }
}
writeFileSync(join(cjs, "package.json"), `${JSON.stringify({ type: "commonjs" }, null, 2)}\n`);

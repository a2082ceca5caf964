import { execFile } from "node:child_process";
import { rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { build, type Plugin } from "esbuild";

/**
 * The bench measures Pulse as production runs it: `tsc -p tsconfig.build.json`'s output, started by plain `node`
 * with no TypeScript loader (a loader changes what is measured: tsx's keepNames gave every named closure a 256-byte
 * property dictionary, and its start-up is slower). Every bench child (servers under test, baselines, load
 * generators) is bundled by esbuild into one `.mjs`, packages left to Node's resolution and Pulse's sources
 * (`src/**.ts`) pointed at the compiled copy, so Pulse's code is the compiler's output, not esbuild's.
 *
 * The compiled copy is the bench's own (.bench-dist/, brought up to date at the start of every run), never dist/: a
 * bench cannot measure a stale build, and cannot race a test or a start that writes dist/ at the same time. It sits beside dist/
 * because Pulse finds schema.graphql, package.json and the migrations one folder up from its compiled root.
 */
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const SRC = join(ROOT, "src") + sep;
/** Where this run's compile of src/ goes: its main.js is what `node dist/main.js` would run. */
export const COMPILED_DIST = join(ROOT, ".bench-dist");
/** The bundled children, inside the compiled copy so one folder holds (and one ignore line covers) the bench's build. */
const CHILDREN = join(COMPILED_DIST, ".children");

let compiledSources: Promise<void> | undefined;

/**
 * Compiles src/ once per bench run: incrementally (tsc's build info beside the output), so a run after another
 * writes only what changed (a full compile is about 10 s here; CI runs the bench twice). The bundles are made anew.
 */
export function compileSources(): Promise<void> {
  compiledSources ??= (async () => {
    rmSync(CHILDREN, { recursive: true, force: true });
    const tsc = createRequire(join(ROOT, "package.json")).resolve("typescript/bin/tsc");
    const options = [
      "--outDir",
      COMPILED_DIST,
      "--sourceMap",
      "false",
      "--incremental",
      "--tsBuildInfoFile",
      join(COMPILED_DIST, ".tsbuildinfo"),
    ];
    await promisify(execFile)(process.execPath, [tsc, "-p", "tsconfig.build.json", ...options], {
      cwd: ROOT,
    }).catch((error: Error & { stdout?: string }) => {
      throw new Error(`tsc -p tsconfig.build.json failed: ${error.stdout || error.message}`);
    });
  })();
  return compiledSources;
}

const bundles = new Map<string, Promise<string>>();

/** `bench/<script>` as one JavaScript file that plain `node` runs; resolves with its path. */
export function compiledChild(script: string): Promise<string> {
  let bundle = bundles.get(script);
  if (!bundle) {
    bundle = (async () => {
      await compileSources();
      const outfile = join(CHILDREN, script.replace(/\.ts$/, ".mjs"));
      await build({
        entryPoints: [join(ROOT, "bench", script)],
        outfile,
        bundle: true,
        platform: "node",
        format: "esm",
        target: "node20",
        packages: "external",
        plugins: [compiledPulse(dirname(outfile))],
        logLevel: "warning",
      });
      return outfile;
    })();
    bundles.set(script, bundle);
  }
  return bundle;
}

/** Resolves an import of one of Pulse's sources to its compiled file, left for Node to load. */
function compiledPulse(outdir: string): Plugin {
  return {
    name: "compiled-pulse",
    setup(esbuild) {
      esbuild.onResolve({ filter: /\.ts$/ }, (args) => {
        const source = resolve(args.resolveDir, args.path);
        if (!source.startsWith(SRC)) return undefined;
        const compiled = join(COMPILED_DIST, relative(SRC, source)).replace(/\.ts$/, ".js");
        return { path: `./${relative(outdir, compiled).split(sep).join("/")}`, external: true };
      });
    },
  };
}

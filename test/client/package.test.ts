import { execFile, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, extname, join } from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchBrowser } from "../support/browser.ts";
import { captureEvents, waitForActive } from "../support/events.ts";
import { startHttpServer } from "../support/http-server.ts";
import { ownChild, ROOT } from "../support/process.ts";
import { startServer } from "../support/server.ts";
import { waitFor, within } from "../support/wait.ts";

/**
 * @pulse-analytics/client as its users get it: `npm pack` of packages/client, the tarball installed into fresh
 * projects outside the repository, then run by plain Node (no TypeScript loader) as ESM and as CommonJS against a
 * real Pulse, type-checked by strict consumers, built by Vite into a React page that Chromium loads, and bundled
 * with one transport and with both. Packing and installing happen once, in beforeAll; each test reads that work.
 */

const run = promisify(execFile);
const PACKAGE_DIR = join(ROOT, "packages/client");
const rootRequire = createRequire(join(ROOT, "package.json"));
const TSC = rootRequire.resolve("typescript/bin/tsc");
const VITE = join(dirname(rootRequire.resolve("vite/package.json")), "bin/vite.js");
/** The versions the repository already uses, so installs come from the npm cache. */
const version = (name: string) => (rootRequire(`${name}/package.json`) as { version: string }).version;

/** A consumer's environment: no loader in NODE_OPTIONS, and none of the npm settings a surrounding `npm test` exports. */
function consumerEnv(): NodeJS.ProcessEnv {
  const keep = new Set(["npm_config_cache", "npm_config_registry", "npm_config_userconfig", "npm_config_globalconfig"]);
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env["NODE_OPTIONS"];
  for (const key of Object.keys(env)) if (key.startsWith("npm_") && !keep.has(key)) delete env[key];
  return env;
}

async function npm(cwd: string, args: string[]): Promise<string> {
  const { stdout } = await run("npm", args, { cwd, env: consumerEnv(), maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [name, contents] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), contents);
  }
}

/** The strict settings a careful consumer type-checks with, declarations of its dependencies included. */
const STRICT = {
  target: "ES2022",
  lib: ["ES2022", "DOM", "DOM.Iterable"],
  types: [],
  strict: true,
  exactOptionalPropertyTypes: true,
  noUncheckedIndexedAccess: true,
  skipLibCheck: false,
  noEmit: true,
};

/** Uses every public type; the `@ts-expect-error` lines fail the check if the declarations were missing or `any`. */
const CHECK = `import { RealtimeAnalytics, type ConnectionStatus, type EventFilter, type PulseEvent, type RealtimeAnalyticsOptions, type RealtimeError } from "@pulse-analytics/client";
import { RealtimeAnalytics as WebSocketOnly } from "@pulse-analytics/client/ws";
import { RealtimeAnalytics as SseOnly, type RealtimeAnalyticsOptions as SseOptions } from "@pulse-analytics/client/sse";

declare const apiKey: string | undefined;
const options: RealtimeAnalyticsOptions = { transport: "sse", apiKey, retry: { initialDelayMs: 100, maxDelayMs: undefined } };
const client = new RealtimeAnalytics("http://localhost:4000", options);
const filter: EventFilter = { events: ["signup"], properties: [{ property: "plan", operator: "EQUALS", value: "pro" }] };
client.on("signup", (event: PulseEvent) => {
  const who: string = event.distinctId;
  const plan: unknown = event.properties["plan"];
  void [who, plan, event.person?.firstSeen];
});
client.onStatus((status: ConnectionStatus) => void status);
client.onError((error: RealtimeError) => void (error.fatal ? error.code : error.message));
client.connect(filter, { after: client.lastCursor ?? undefined });
const sseOptions: SseOptions = { fetchFn: fetch, includePerson: true };
new SseOnly("http://localhost:4000", sseOptions).connect();
new WebSocketOnly("http://localhost:4000", { webSocketImpl: WebSocket, apiKey }).connect(null);
// @ts-expect-error the WebSocket-only client takes no fetch
new WebSocketOnly("http://localhost:4000", { fetchFn: fetch });
// @ts-expect-error no such transport
new RealtimeAnalytics("http://localhost:4000", { transport: "carrier-pigeon" });
// @ts-expect-error the status is one of five strings
const wrong: ConnectionStatus = "open";
void [wrong, client.disconnect()];
`;

/**
 * A consumer script that streams the events named "package-test" from the Pulse at argv[2], prints their `n` as one
 * JSON line once `count` arrived, and disconnects: the process must then exit by itself (nothing left open).
 */
function streamScript(module: "esm" | "cjs", entry: string, options: string, count: number): string {
  const head =
    module === "esm"
      ? `import { RealtimeAnalytics } from "${entry}";\n`
      : `const { RealtimeAnalytics } = require("${entry}");\nconst WebSocket = require("ws");\n`;
  return `${head}
const client = new RealtimeAnalytics(process.argv[2], ${options});
const received = [];
client.onError((error) => console.error(error.code, error.message));
client.on("package-test", (event) => {
  received.push(event.properties.n);
  if (received.length === ${count}) {
    console.log(JSON.stringify(received));
    void client.disconnect();
  }
});
client.connect({ events: ["package-test"] });
`;
}

/** The Vite + React app: one feed per transport, through the hook, from the Pulse named in `?pulse=`. */
const APP = `import { createRoot } from "react-dom/client";
import { useRealtimeEvents, type UseRealtimeEventsOptions } from "@pulse-analytics/client/react";

function Feed({ url, transport }: { url: string; transport: "ws" | "sse" }) {
  const apiKey: string | undefined = new URLSearchParams(location.search).get("key") ?? undefined;
  const options: UseRealtimeEventsOptions = { url, transport, apiKey, limit: 10 };
  const { events, status, error } = useRealtimeEvents(["package-test"], options);
  return (
    <ul data-transport={transport} data-status={status} title={error?.message}>
      {events.map((event) => (
        <li key={event.id}>{String(event.properties["n"])}</li>
      ))}
    </ul>
  );
}

const url = new URLSearchParams(location.search).get("pulse") ?? location.origin;
createRoot(document.getElementById("root")!).render(
  <>
    <Feed url={url} transport="ws" />
    <Feed url={url} transport="sse" />
  </>,
);
`;

interface PackedFile {
  readonly path: string;
}

let work = "";
let tarball = "";
let packed: readonly PackedFile[] = [];
const projects = { esm: "", cjs: "", app: "" };

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "pulse-client-package-"));
  // prepack builds dist/ first, as it would before a publish.
  const [pack] = JSON.parse(await npm(PACKAGE_DIR, ["pack", "--json", "--pack-destination", work])) as [
    { filename: string; files: PackedFile[] },
  ];
  tarball = join(work, pack.filename);
  packed = pack.files;

  projects.esm = join(work, "esm");
  projects.cjs = join(work, "cjs");
  projects.app = join(work, "vite-react");
  writeFiles(projects.esm, {
    "package.json": JSON.stringify({ name: "esm-consumer", private: true, type: "module" }),
    "entries.mjs": [
      'import * as main from "@pulse-analytics/client";',
      'import * as ws from "@pulse-analytics/client/ws";',
      'import * as sse from "@pulse-analytics/client/sse";',
      "console.log(JSON.stringify({ main: Object.keys(main), ws: Object.keys(ws), sse: Object.keys(sse) }));",
    ].join("\n"),
    // Node 20's own WebSocket (behind a flag there, global from Node 22): /ws with no package besides this one.
    "ws.mjs": streamScript("esm", "@pulse-analytics/client/ws", "{}", 3),
    "sse.mjs": streamScript("esm", "@pulse-analytics/client/sse", "{}", 3),
    "check.ts": CHECK,
    "tsconfig.json": JSON.stringify({ compilerOptions: { ...STRICT, module: "NodeNext" }, files: ["check.ts"] }),
  });
  writeFiles(projects.cjs, {
    "package.json": JSON.stringify({ name: "cjs-consumer", private: true, type: "commonjs" }),
    "stream.cjs": streamScript("cjs", "@pulse-analytics/client", '{ transport: "ws", webSocketImpl: WebSocket }', 3),
    // In a CommonJS package, NodeNext compiles these imports to require(): the "require" declarations are checked.
    "check.ts": CHECK,
    "tsconfig.json": JSON.stringify({ compilerOptions: { ...STRICT, module: "NodeNext" }, files: ["check.ts"] }),
  });
  writeFiles(projects.app, {
    "package.json": JSON.stringify({ name: "vite-react-consumer", private: true, type: "module" }),
    "index.html": [
      '<!doctype html>\n<html><head><link rel="icon" href="data:,"></head>',
      '<body><div id="root"></div><script type="module" src="/src/main.tsx"></script></body></html>\n',
    ].join(""),
    "src/main.tsx": APP,
    "tsconfig.json": JSON.stringify({
      compilerOptions: { ...STRICT, module: "ESNext", moduleResolution: "Bundler", jsx: "react-jsx" },
      include: ["src"],
    }),
  });

  const install = (dir: string, extra: string[] = []) =>
    npm(dir, ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error", tarball, ...extra]);
  await Promise.all([
    install(projects.esm),
    install(projects.cjs, [`ws@${version("ws")}`]),
    install(
      projects.app,
      ["react", "react-dom", "@types/react", "@types/react-dom"].map((name) => `${name}@${version(name)}`),
    ),
  ]);
}, 240_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Runs a consumer's Node script to completion. */
async function node(cwd: string, args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, args, { cwd, env: consumerEnv() });
  return stdout;
}

/**
 * Starts a consumer script that streams three events from a fresh Pulse, captures them once it is subscribed, and
 * returns what the script printed; it must exit 0 on its own after disconnecting.
 */
async function streamFrom(cwd: string, args: string[]): Promise<unknown> {
  const pulse = await startServer();
  const child = spawn(process.execPath, [...args, pulse.url], { cwd, env: consumerEnv() });
  const exited = ownChild(child);
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  await waitForActive(pulse.url, 1);
  await captureEvents(
    pulse.url,
    [1, 2, 3].map((n) => ({ event: "package-test", distinctId: "consumer", properties: { n } })),
  );
  const exit = await within(exited, `${args.join(" ")} to exit after three events`, 20_000).catch((error: Error) => {
    throw new Error(`${error.message} (stdout: ${stdout}, stderr: ${stderr})`);
  });
  expect({ exit, stderr: stderr.replace(/^.*ExperimentalWarning.*\n(.*--trace-warnings.*\n)?/gm, "") }).toEqual({
    exit: { code: 0, signal: null },
    stderr: "",
  });
  return JSON.parse(stdout) as unknown;
}

/** A minimal browser use of one entry, bundled and minified as an app's bundler would: gzipped size and packages. */
async function minimalBundle(entry: string) {
  const result = await build({
    stdin: {
      contents: `import { RealtimeAnalytics } from "${entry}";\nconst c = new RealtimeAnalytics(location.origin);\nc.on("*", (e) => console.log(e));\nc.connect();\n`,
      resolveDir: projects.app,
      loader: "js",
    },
    bundle: true,
    format: "esm",
    platform: "browser",
    minify: true,
    write: false,
    metafile: true,
    logLevel: "silent",
  });
  const output = Object.values(result.metafile.outputs)[0]!;
  const packages = new Set(
    Object.entries(output.inputs).flatMap(([path, { bytesInOutput }]) =>
      bytesInOutput > 0 && path !== "<stdin>" ? [/node_modules\/((@[^/]+\/)?[^/]+)/.exec(path)?.[1] ?? path] : [],
    ),
  );
  return { gzip: gzipSync(result.outputFiles[0]!.contents).length, packages: [...packages].sort() };
}

describe("@pulse-analytics/client installed from its tarball", { timeout: 120_000 }, () => {
  it("packs the ESM and CommonJS builds with declarations, the licence and the manifest, and no sources", () => {
    const paths = packed.map((file) => file.path).sort();
    expect(paths.filter((path) => !path.startsWith("dist/"))).toEqual(["LICENSE", "README.md", "package.json"]);
    for (const build of ["esm", "cjs"]) {
      for (const entry of ["index", "ws", "sse", "react"]) {
        expect(paths).toContain(`dist/${build}/${entry}.js`);
        expect(paths).toContain(`dist/${build}/${entry}.d.ts`);
      }
    }
    expect(paths).toContain("dist/cjs/package.json");
    expect(paths.filter((path) => path.endsWith(".ts") && !path.endsWith(".d.ts"))).toEqual([]);

    const manifest = JSON.parse(readFileSync(join(projects.esm, "node_modules/@pulse-analytics/client/package.json"), "utf8")) as Record<
      string,
      unknown
    >;
    expect(manifest).toMatchObject({
      name: "@pulse-analytics/client",
      license: "MIT",
      sideEffects: false,
      repository: { type: "git", directory: "packages/client" },
      engines: { node: ">=20.11" },
      peerDependenciesMeta: { react: { optional: true } },
      publishConfig: { access: "public" },
    });
    expect(Object.keys(manifest["dependencies"] as object).sort()).toEqual(["graphql-sse", "graphql-ws"]);
    expect(Object.keys(manifest["exports"] as object)).toEqual([".", "./ws", "./sse", "./react", "./package.json"]);
  });

  it("installs nothing but graphql-ws, graphql-sse and graphql, the peer both of them require", () => {
    const installed = readdirSync(join(projects.esm, "node_modules"))
      .filter((name) => !name.startsWith("."))
      .flatMap((name) =>
        name.startsWith("@") ? readdirSync(join(projects.esm, "node_modules", name)).map((n) => `${name}/${n}`) : [name],
      );
    expect(installed.sort()).toEqual(["@pulse-analytics/client", "graphql", "graphql-sse", "graphql-ws"]);
  });

  it("loads in plain Node as ESM: every entry on its own", async () => {
    const exports = JSON.parse(await node(projects.esm, ["entries.mjs"])) as unknown;
    expect(exports).toEqual({ main: ["RealtimeAnalytics"], ws: ["RealtimeAnalytics"], sse: ["RealtimeAnalytics"] });
  });

  it("streams events from a real Pulse in plain Node as ESM, with /sse alone and with /ws alone", async () => {
    expect(await streamFrom(projects.esm, ["sse.mjs"])).toEqual([1, 2, 3]);
    const ownWebSocket = typeof (globalThis as { WebSocket?: unknown }).WebSocket === "function" ? [] : ["--experimental-websocket"];
    expect(await streamFrom(projects.esm, [...ownWebSocket, "ws.mjs"])).toEqual([1, 2, 3]);
  });

  it("streams events from a real Pulse in plain Node as CommonJS (require, WebSocket from the ws package)", async () => {
    expect(await streamFrom(projects.cjs, ["stream.cjs"])).toEqual([1, 2, 3]);
  });

  it("type-checks in strict consumers (exactOptionalPropertyTypes, no skipLibCheck): ESM, CommonJS and a Vite app", async () => {
    const check = (dir: string) =>
      run(process.execPath, [TSC, "-p", dir], { cwd: dir, env: consumerEnv() }).then(
        () => "ok",
        (error: { stdout?: string }) => error.stdout,
      );
    expect(await Promise.all([check(projects.esm), check(projects.cjs), check(projects.app)])).toEqual(["ok", "ok", "ok"]);
  });

  it("builds with Vite into a React app that shows live events over ws and sse in Chromium", async () => {
    await run(process.execPath, [VITE, "build", "--logLevel", "warn"], { cwd: projects.app, env: consumerEnv() });
    const dist = join(projects.app, "dist");
    const types: Record<string, string> = { ".html": "text/html", ".js": "text/javascript" };
    const app = await startHttpServer((req, res) => {
      const path = new URL(req.url ?? "/", "http://app").pathname;
      const file = join(dist, path === "/" ? "index.html" : path);
      try {
        const body = readFileSync(file);
        res.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream" }).end(body);
      } catch {
        res.writeHead(404).end();
      }
    });
    const pulse = await startServer();
    const browser = await launchBrowser();
    const page = await browser.newPage();
    const consoleErrors: string[] = [];
    page.on("console", (message) => {
      if (message.type() === "error") consoleErrors.push(message.text());
    });

    await page.goto(`${app.url}/?pulse=${encodeURIComponent(pulse.url)}`);
    await waitForActive(pulse.url, 2);
    await captureEvents(
      pulse.url,
      [1, 2, 3].map((n) => ({ event: "package-test", distinctId: "page", properties: { n } })),
    );
    const feeds = () =>
      page.$$eval("ul", (lists) => lists.map((ul) => `${ul.dataset["transport"]} ${ul.dataset["status"]}: ${ul.textContent}`));
    await waitFor(async () => (await feeds()).every((feed) => feed.endsWith("321")), { what: "three events in both feeds" });
    expect(await feeds()).toEqual(["ws live: 321", "sse live: 321"]);
    expect(consoleErrors).toEqual([]);

    await page.close();
    await waitForActive(pulse.url, 0);
  });

  it("bundles a minimal use of /ws or /sse with that protocol client only, smaller than the main entry's both", async () => {
    const [both, ws, sse] = await Promise.all(["", "/ws", "/sse"].map((entry) => minimalBundle(`@pulse-analytics/client${entry}`)));
    expect(both!.packages).toEqual(["@pulse-analytics/client", "graphql-sse", "graphql-ws"]);
    expect(ws!.packages).toEqual(["@pulse-analytics/client", "graphql-ws"]);
    expect(sse!.packages).toEqual(["@pulse-analytics/client", "graphql-sse"]);
    expect(ws!.gzip).toBeLessThan(both!.gzip);
    expect(sse!.gzip).toBeLessThan(both!.gzip);
  });
});

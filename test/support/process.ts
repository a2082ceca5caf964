import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { get } from "node:http";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SETTINGS } from "../../src/config.ts";
import { onCleanup } from "./cleanup.ts";
import { waitFor } from "./wait.ts";

/**
 * Pulse as a process, as production runs it: compiled, under plain `node` with no TypeScript loader. By default
 * the run's own compile (`.test-dist/main.js`, written once per run by test/support/global-setup.ts); with
 * `entry: "dist"`, `node dist/main.js` itself, the production start (see buildDist). For what an in-process
 * server cannot show: signals, exit codes, kill -9, a restart on the same port, a DOM test environment. Plus the
 * temporary folders, databases and ports such a process needs. Every child is killed (SIGKILL) after the test if
 * it is still running; every folder is removed.
 */

/** The repository: vitest runs from it (import.meta.url is no file URL in a DOM test environment). */
export const ROOT = process.cwd();
/** The compiled entry `npm run build` writes (tsconfig.build.json). */
export const DIST_MAIN = join(ROOT, "dist/main.js");
/**
 * Where the integration and browser lanes compile the sources once per run (tsconfig.build.json, incremental): not
 * dist/, which the production-start tests rebuild and a developer may be running. Beside dist/, because Pulse finds
 * schema.graphql, package.json and the migrations one folder up from its compiled root.
 */
export const COMPILED_DIR = join(ROOT, ".test-dist");
const COMPILED_MAIN = join(COMPILED_DIR, "main.js");

/** A port free right now on 127.0.0.1 (for a child that binds it a moment later, or comes back on it). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A fresh temporary folder, removed after the test. */
export function tempDir(prefix = "pulse-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A SQLite `DATABASE_URL` in a folder of its own, removed after the test. */
export function tempDatabaseUrl(): string {
  return `file:${join(tempDir("pulse-db-"), "pulse.db")}`;
}

/**
 * The environment a child starts with: none of this machine's Pulse settings leak in (REDIS_URL would join it to
 * the fleet CI runs the scale-out tests on), and a database of its own (never the repository's ./data/pulse.db,
 * which other tests and benchmark runs would share). `overrides` win, an empty DATABASE_URL included.
 */
export function childEnv(overrides: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const setting of SETTINGS) delete env[setting.env];
  return { ...env, DATABASE_URL: "DATABASE_URL" in overrides ? overrides["DATABASE_URL"] : tempDatabaseUrl(), ...overrides };
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** Resolves when `child` exits; kills it (SIGKILL) after the test if it is still running then. */
export function ownChild(child: ChildProcess): Promise<Exit> {
  const exited = new Promise<Exit>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  onCleanup(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await exited;
    }
  });
  return exited;
}

export interface PulseProcess {
  readonly child: ChildProcess;
  /** `http://127.0.0.1:<port>` (meaningless with port 0: read the banner from `stdout()` then). */
  readonly url: string;
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** stdout and stderr as they arrived, for failure messages. */
  readonly output: () => string;
  readonly exited: Promise<Exit>;
}

/**
 * Starts Pulse on `port` (default 0) with `childEnv(env)`, without waiting for it to serve: for starts that must
 * fail, and for tests that read its output. `cwd` defaults to the repository (where `npm start` runs); a relative
 * database path resolves against it.
 */
export function spawnPulse(
  env: Record<string, string> = {},
  options: { port?: number; cwd?: string; entry?: "compiled" | "dist" } = {},
): PulseProcess {
  const port = options.port ?? 0;
  const args = [options.entry === "dist" ? DIST_MAIN : COMPILED_MAIN];
  const child = spawn(process.execPath, args, {
    cwd: options.cwd ?? ROOT,
    env: childEnv({ HOST: "127.0.0.1", PORT: String(port), ...env }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
    output += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
    output += chunk.toString();
  });
  return {
    child,
    url: `http://127.0.0.1:${port}`,
    stdout: () => stdout,
    stderr: () => stderr,
    output: () => output,
    exited: ownChild(child),
  };
}

/**
 * Starts Pulse on `port` (default: a free one) with `childEnv(env)` and resolves once GET /readyz answers 200
 * (snapshot restored, GraphQL served); fails with the child's output if it exits first or is not ready within
 * `timeoutMs` (default 30 s).
 */
export async function startPulseProcess(
  env: Record<string, string> = {},
  options: { port?: number; cwd?: string; timeoutMs?: number; entry?: "compiled" | "dist" } = {},
): Promise<PulseProcess> {
  const pulse = spawnPulse(env, { ...options, port: options.port ?? (await freePort()) });
  let failure: Error | null = null;
  pulse.child.once("error", (error) => (failure = error));
  await waitFor(
    async () => {
      if (failure) throw failure;
      if (pulse.child.exitCode !== null)
        throw new Error(`Pulse exited with ${pulse.child.exitCode} before it was ready: ${pulse.output()}`);
      return isReady(pulse.url);
    },
    { what: () => `Pulse on ${pulse.url} to answer /readyz (output: ${pulse.output()})`, timeoutMs: options.timeoutMs ?? 30_000 },
  );
  return pulse;
}

/** GET /readyz with node:http (a DOM environment's fetch would apply its own rules and log every refusal). */
function isReady(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    get(`${url}/readyz`, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    }).on("error", () => resolve(false));
  });
}

/**
 * Compiles the server to dist/ as `npm run build` does (tsconfig.build.json; dist/dashboard is the pretest's), for
 * the tests of the production start. Once per test file; about 10 s.
 */
export function buildDist(): Promise<void> {
  return compile([]);
}

/**
 * Compiles the sources into COMPILED_DIR (test/support/global-setup.ts, once per run). Incremental: a run after a
 * small change recompiles little. The build info lives inside the folder, so removing the folder starts afresh.
 */
export function compileForTests(): Promise<void> {
  return compile(["--outDir", COMPILED_DIR, "--incremental", "--tsBuildInfoFile", join(COMPILED_DIR, ".tsbuildinfo")]);
}

function compile(args: readonly string[]): Promise<void> {
  const tsc = createRequire(join(ROOT, "package.json")).resolve("typescript/bin/tsc");
  return new Promise<void>((resolve, reject) =>
    execFile(process.execPath, [tsc, "-p", "tsconfig.build.json", ...args], { cwd: ROOT }, (error, stdout) =>
      error ? reject(new Error(`tsc -p tsconfig.build.json ${args.join(" ")} failed: ${stdout}`)) : resolve(),
    ),
  );
}

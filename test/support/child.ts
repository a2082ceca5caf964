import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { get } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { onCleanup } from "./cleanup.ts";
import { waitFor } from "./wait.ts";

// vitest runs from the repository root; import.meta.url is no file URL in a DOM test environment.
const ROOT = process.cwd();

/** A port free right now on 127.0.0.1 (for a child that must come back on the same port). */
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

export interface PulseProcess {
  readonly url: string;
  readonly child: ChildProcess;
  /** Resolves with the exit code once the process has exited. */
  exited(): Promise<number | null>;
}

/**
 * Pulse as `npm start` runs it (`node --import tsx src/main.ts`, one process to signal) on `port`, with its own
 * DATABASE_URL so runs never share state; resolves once /readyz says ready. Killed (SIGKILL) after the test if still up.
 */
export async function startPulseProcess(port: number, env: Record<string, string> = {}): Promise<PulseProcess> {
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    cwd: ROOT,
    // REDIS_URL cleared: a child must not join the fleet CI runs the scale-out tests on.
    // A database of its own unless the test gives one (to share it across a restart): never the repository's
    // ./data/pulse.db, which other tests and benchmark runs would share.
    env: { ...process.env, PORT: String(port), HOST: "127.0.0.1", REDIS_URL: "", DATABASE_URL: `file:${join(tempDir("pulse-child-"), "pulse.db")}`, ...env },
    stdio: ["ignore", "ignore", "inherit"],
  });
  let failure: Error | null = null;
  child.once("error", (error) => {
    failure = error;
  });
  const exited = () =>
    child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve(child.exitCode)
      : new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  onCleanup(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited();
  });
  await waitFor(
    async () => {
      if (failure) throw failure;
      if (child.exitCode !== null) throw new Error(`Pulse exited with ${child.exitCode} before it was ready`);
      return healthy(url);
    },
    { what: `Pulse on ${url} to answer /readyz`, timeoutMs: 30_000 },
  );
  return { url, child, exited };
}

/** GET /readyz (snapshot restored, GraphQL served) with node:http (a DOM environment's fetch would apply its own rules and log every refusal). */
function healthy(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    get(`${url}/readyz`, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    }).on("error", () => resolve(false));
  });
}

/**
 * Helpers for the persistence tests: temporary database folders, real `src/main.ts` processes (for signals and
 * `kill -9`), GraphQL over HTTP and graphql-ws, and a bounded poll. Self-contained on purpose: the general test
 * helpers are written in parallel on another branch.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { createServer as createNetServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { createClient, type Client } from "graphql-ws";
import WebSocket from "ws";
import { createPulseServer, type PulseServer, type PulseServerOptions } from "../../src/index.ts";
import { openSqliteStore } from "../../src/store/sqlite.ts";
import { createLogger, type Logger } from "../../src/telemetry/logger.ts";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** tsx's loader by absolute URL, so a child can run in another working directory. */
const TSX = import.meta.resolve("tsx");

/** Closers registered by the helpers; each test file runs `afterEach(closeAll)`. Newest first. */
const closers: (() => unknown)[] = [];
export function onClose(close: () => unknown): void {
  closers.push(close);
}
export async function closeAll(): Promise<void> {
  const errors: unknown[] = [];
  while (closers.length > 0) {
    try {
      await closers.pop()!();
    } catch (error) {
      errors.push(error);
    }
  }
  if (errors.length > 0) throw new AggregateError(errors, "closing failed");
}

/** A fresh folder for database files, removed after the test. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "pulse-persist-"));
  onClose(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface LogLine {
  readonly level: string;
  readonly message: string;
  readonly fields: Record<string, unknown>;
}

/** Pulse's logger (pino, JSON lines) writing to memory: `lines` holds what it was told, nothing is printed. */
export function recordingLogger(): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = createLogger({
    level: "info",
    destination: {
      write(line: string) {
        const { level, msg, ...fields } = JSON.parse(line) as { level: string; msg: string };
        lines.push({ level, message: msg, fields });
      },
    },
  });
  return Object.assign(logger, { lines });
}

/**
 * An in-process server on a free loopback port, once it is ready (restored, with a database); closed after the test
 * unless the test closed it.
 */
export async function startServer(options: PulseServerOptions = {}): Promise<PulseServer> {
  const server = await createPulseServer({ port: 0, host: "127.0.0.1", logger: recordingLogger(), ...options });
  onClose(() => server.close().catch(() => {}));
  await server.ready;
  return server;
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` until it returns a truthy value (returned), failing after `timeoutMs` with `what` and the last value. */
export async function waitUntil<T>(condition: () => T | Promise<T>, what: string, timeoutMs = 15_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value) return value as NonNullable<T>;
      last = value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what} (last: ${String(last)})`);
    await sleep(20);
  }
}

/** Rejects if `promise` does not settle within `timeoutMs`. */
export async function within<T>(promise: Promise<T>, what: string, timeoutMs = 20_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export interface GraphQLResponse<T> {
  data?: T | null;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

/** POST /graphql; throws on HTTP failure or GraphQL errors. */
export async function gql<T = Record<string, unknown>>(baseUrl: string, query: string, variables?: Record<string, unknown>): Promise<T> {
  const response = await fetch(`${baseUrl}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as GraphQLResponse<T>;
  if (body.errors?.length || !body.data) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors)}`);
  return body.data;
}

export interface CaptureInput {
  id?: string;
  event: string;
  distinctId: string;
  timestamp?: string;
  properties?: Record<string, unknown>;
  sessionId?: string | null;
  environment?: string;
}

/** Captures a batch over HTTP; returns the stored ids in input order. */
export async function capture(baseUrl: string, inputs: CaptureInput[]): Promise<{ accepted: number; duplicates: number; ids: string[] }> {
  const data = await gql<{ captureEvents: { accepted: number; duplicates: number; ids: string[] } }>(
    baseUrl,
    `mutation ($inputs: [CaptureEventInput!]!) { captureEvents(inputs: $inputs) { accepted duplicates ids } }`,
    { inputs },
  );
  return data.captureEvents;
}

/** A `$pageview` with a fresh id, from one of a few users, each with a session and a page. */
export function pageview(n: number, environment = "production"): CaptureInput {
  const user = n % 7;
  return {
    id: randomUUID(),
    event: n % 5 === 0 ? "signup" : "$pageview",
    distinctId: `user-${user}`,
    environment,
    properties: {
      n,
      $current_url: `https://shop.example/p/${n % 11}`,
      $session_id: `session-${user}`,
      $set: { plan: n % 2 === 0 ? "pro" : "free", lastN: n },
      $set_once: { firstN: n },
    },
  };
}

export const EVENT_FIELDS = "id event distinctId timestamp properties sessionId environment cursor person { distinctId properties firstSeen lastSeen }";

/** Everything a user sees of the live state: compared before and after a restart. */
export const LIVE_VIEW = `{
  recentEvents(limit: 500) { ${EVENT_FIELDS} }
  liveUsers { count users(limit: 100) { distinctId sessionId currentUrl lastSeen person { properties firstSeen lastSeen } } }
  liveDashboard { liveUsers eventsPerMinute { event count } topPages { path count } recentEvents(limit: 20) { id cursor } }
  staging: liveUsers(environment: "staging") { count }
}`;

export async function metrics(baseUrl: string): Promise<{ snapshotFailures: number; lastSnapshotAt: string | null; bufferedEvents: number }> {
  const data = await gql<{ realtimeMetrics: { snapshotFailures: number; lastSnapshotAt: string | null; bufferedEvents: number } }>(
    baseUrl,
    "{ realtimeMetrics { snapshotFailures lastSnapshotAt bufferedEvents } }",
  );
  return data.realtimeMetrics;
}

/** Waits until a snapshot completed that reflects a moment after `since` (epoch ms): everything captured before is stored. */
export async function waitForSnapshotAfter(baseUrl: string, since: number): Promise<void> {
  await waitUntil(async () => {
    const { lastSnapshotAt } = await metrics(baseUrl);
    return lastSnapshotAt !== null && Date.parse(lastSnapshotAt) > since;
  }, `a snapshot taken after ${new Date(since).toISOString()}`);
}

/** A graphql-ws client (closed after the test). */
export function wsClient(baseUrl: string): Client {
  const client = createClient({ url: `${baseUrl.replace(/^http/, "ws")}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0, lazy: true });
  onClose(() => client.dispose());
  return client;
}

/** Subscribes and collects `next` payloads until `count` arrived; resolves with them (and the first payload's extensions). */
export function collect<T>(client: Client, query: string, variables: Record<string, unknown>, count: number): Promise<{ data: T; extensions?: Record<string, unknown> }[]> {
  return new Promise((resolve, reject) => {
    const results: { data: T; extensions?: Record<string, unknown> }[] = [];
    const unsubscribe = client.subscribe<T, Record<string, unknown>>(
      { query, variables },
      {
        next: (result) => {
          if (result.errors) return reject(new Error(JSON.stringify(result.errors)));
          results.push({ data: result.data as T, extensions: result.extensions });
          if (results.length === count) {
            unsubscribe();
            resolve(results);
          }
        },
        error: reject,
        complete: () => (results.length < count ? reject(new Error(`completed after ${results.length} of ${count} results`)) : undefined),
      },
    );
  });
}

/** A free loopback port (the child process binds it a moment later). */
export async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface PulseProcess {
  readonly child: ChildProcess;
  readonly url: string;
  /** stdout and stderr so far. */
  output(): string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Runs `node --import tsx src/main.ts` (what `npm start` runs) with `env` on a free port, and waits until /readyz
 * says it is ready (restored). Killed with SIGKILL after the test if still running.
 */
export async function startProcess(env: Record<string, string>, options: { cwd?: string } = {}): Promise<PulseProcess> {
  const spawned = spawnProcess(env, await freePort(), options);
  await waitUntil(async () => {
    if (spawned.child.exitCode !== null) throw new Error(`exited with ${spawned.child.exitCode}: ${spawned.output()}`);
    return (await fetch(`${spawned.url}/readyz`)).ok;
  }, "the server process to be ready", 30_000).catch((error: Error) => {
    throw new Error(`${error.message}\noutput: ${spawned.output()}`);
  });
  return spawned;
}

/**
 * Starts the process without waiting for it to serve (for starts that must fail). `cwd` defaults to the repository
 * (where `npm start` runs); relative database paths resolve against it.
 */
export function spawnProcess(env: Record<string, string>, port = 0, options: { cwd?: string } = {}): PulseProcess {
  const child = spawn(process.execPath, ["--import", TSX, join(ROOT, "src/main.ts")], {
    cwd: options.cwd ?? ROOT,
    // REDIS_URL is set for the scale-out tests; a child that inherited it would join a fleet with other tests.
    env: { ...process.env, REDIS_URL: "", HOST: "127.0.0.1", PORT: String(port), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  onClose(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await exited;
    }
  });
  return { child, url: `http://127.0.0.1:${port}`, output: () => output, exited };
}

/**
 * Another connection holding SQLite's write lock (`BEGIN EXCLUSIVE`): real database trouble, which file
 * permissions cannot produce for tests running as root. Released after the test at the latest. Taken without
 * SQLite's busy wait, which would block this process's event loop, and with it an in-process server that is
 * half-way through a snapshot: the lock would never come free.
 */
export async function holdWriteLock(path: string): Promise<{ release(): void }> {
  const db = new Database(path, { timeout: 0 });
  await waitUntil(() => {
    try {
      db.exec("BEGIN EXCLUSIVE");
      return true;
    } catch (error) {
      if ((error as { code?: string }).code !== "SQLITE_BUSY") throw error;
      return false;
    }
  }, "the write lock");
  let held = true;
  const release = () => {
    if (!held) return;
    held = false;
    db.exec("ROLLBACK");
    db.close();
  };
  onClose(release);
  return { release };
}

/**
 * A Pulse SQLite file holding a snapshot of 300 events (a few dozen pages), then damaged as a failing disk or a
 * half-finished copy leaves it: garbage over pages 3 to 6, the header and schema page intact.
 */
export async function writeDamagedDatabase(path: string): Promise<void> {
  const store = await openSqliteStore(`file:${path}`, { log: recordingLogger() });
  const now = Date.now();
  await store.write({
    appended: Array.from({ length: 300 }, (_, i) => ({
      seq: i + 1,
      id: randomUUID(),
      event: "$pageview",
      distinctId: `user-${i}`,
      timestamp: now,
      receivedAt: now,
      properties: { text: "x".repeat(200) },
      sessionId: null,
      environment: "production",
    })),
    evictedThroughSeq: 0,
    persons: [],
    personsMax: 100,
    takenAt: now,
    cleanStop: true,
  });
  await store.close();
  const pageSize = 4096;
  const file = openSync(path, "r+");
  try {
    writeSync(file, Buffer.alloc(4 * pageSize, 0xde), 0, 4 * pageSize, 2 * pageSize);
  } finally {
    closeSync(file);
  }
}

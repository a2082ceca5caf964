import { spawn } from "node:child_process";
import { compiledChild } from "./compile.ts";

/** A request to a bench child and its answer, over the IPC channel. */
export interface Request {
  readonly id: number;
  readonly type: string;
  readonly [key: string]: unknown;
}
export type Reply =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | { readonly id: number; readonly ok: false; readonly error: string };

/** A bench process (a server under test or a load generator) driven over IPC. */
export interface Child {
  readonly pid: number;
  /** What the child sent first (`{ type: "ready", ... }`). */
  readonly ready: Record<string, unknown>;
  request<T>(type: string, body?: Record<string, unknown>, timeoutMs?: number): Promise<T>;
  /** Asks the child to stop, then kills it if it has not exited within 5 s. */
  stop(): Promise<void>;
}

/**
 * Starts `bench/<script>` in its own Node process, compiled and without a TypeScript loader (compile.ts), and waits
 * for its `ready` message.
 * The shell raises the soft file-descriptor limit to the hard one first: 10k sockets need more than the usual 1024.
 * Its stderr is passed through, so a crash is visible.
 */
export async function startChild(
  script: string,
  args: readonly string[] = [],
  options: { exposeGc?: boolean; cpuProf?: string } = {},
): Promise<Child> {
  const nodeArgs = options.exposeGc ? ["--expose-gc"] : [];
  if (options.cpuProf) nodeArgs.push("--cpu-prof", `--cpu-prof-dir=${options.cpuProf}`);
  const quoted = [process.execPath, ...nodeArgs, await compiledChild(script), ...args]
    .map((a) => `'${a.replaceAll("'", "'\\''")}'`)
    .join(" ");
  const child = spawn("bash", ["-c", `ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec ${quoted}`], {
    stdio: ["ignore", "ignore", "inherit", "ipc"],
    env: { ...process.env, NODE_ENV: "production" },
  });
  const pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  let nextId = 1;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`${script} exited (${code}) before it was ready`));
    child.once("exit", onExit);
    child.once("message", (message) => {
      child.off("exit", onExit);
      resolve(message as Record<string, unknown>);
    });
  });
  child.on("message", (message) => {
    const reply = message as Reply;
    const waiter = pending.get(reply.id);
    if (!waiter) return;
    pending.delete(reply.id);
    if (reply.ok) waiter.resolve(reply.result);
    else waiter.reject(new Error(`${script}: ${reply.error}`));
  });
  child.once("exit", (code) => {
    for (const waiter of pending.values()) waiter.reject(new Error(`${script} exited (${code})`));
    pending.clear();
  });
  return {
    pid: child.pid!,
    ready,
    request<T>(type: string, body: Record<string, unknown> = {}, timeoutMs = 300_000): Promise<T> {
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${script}: ${type} took more than ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, {
          resolve: (value) => {
            clearTimeout(timer);
            resolve(value as T);
          },
          reject: (error) => {
            clearTimeout(timer);
            reject(error);
          },
        });
        child.send({ id, type, ...body } satisfies Request);
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      if (child.connected) child.send({ id: 0, type: "stop" });
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Stops children in order, ignoring ones already gone: servers first, so their side holds the TIME_WAIT sockets. */
export async function stopAll(...children: (Child | undefined)[]): Promise<void> {
  for (const child of children) await child?.stop().catch(() => {});
}

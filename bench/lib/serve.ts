import { writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import type { Request } from "./child.ts";

/** Handlers a bench child answers, by request type. `stop` is built in. */
export type Handlers = Record<string, (request: Request) => unknown>;

/**
 * The child side of `startChild`: sends `ready` (with `info`), answers requests with their handler's result,
 * and on `stop` (or when the parent goes away) runs `close` and exits.
 */
export function serveRequests(info: Record<string, unknown>, handlers: Handlers, close: () => Promise<void> | void = () => {}): void {
  if (!process.send) throw new Error("a bench child must be started by bench/run.ts (no IPC channel)");
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    try {
      await close();
    } finally {
      process.exit(0);
    }
  };
  process.on("disconnect", () => void stop());
  process.on("message", async (message) => {
    const request = message as Request;
    if (request.type === "stop") return void stop();
    const handler = handlers[request.type];
    try {
      if (!handler) throw new Error(`unknown request ${request.type}`);
      const result = await handler(request);
      process.send!({ id: request.id, ok: true, result });
    } catch (error) {
      process.send!({ id: request.id, ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    }
  });
  process.send({ type: "ready", ...info });
}

/** Memory of this process after a full collection (the child runs with --expose-gc). */
export function memoryAfterGc(): NodeJS.MemoryUsage {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    gc();
  }
  return process.memoryUsage();
}

let profiler: Session | undefined;

/** Handlers every server under test answers. */
export const serverHandlers: Handlers = {
  memory: () => memoryAfterGc(),
  /** This process's CPU time so far, µs (user + system): the cost curves divide its growth by the work done. */
  cpu: () => {
    const { user, system } = process.cpuUsage();
    return { micros: user + system };
  },
  /** Starts a CPU profile of this process (`--profile`: the measured rounds only, without start-up and connects). */
  async profileStart() {
    profiler = new Session();
    profiler.connect();
    await post(profiler, "Profiler.enable");
    await post(profiler, "Profiler.start");
    return {};
  },
  /** Stops the profile started by profileStart and writes it to `file` (a .cpuprofile, as `--cpu-prof` writes). */
  async profileStop(request) {
    if (!profiler) throw new Error("no profile started");
    const { profile } = (await post(profiler, "Profiler.stop")) as { profile: unknown };
    profiler.disconnect();
    profiler = undefined;
    writeFileSync(request["file"] as string, JSON.stringify(profile));
    return {};
  },
};

function post(session: Session, method: string): Promise<unknown> {
  return new Promise((resolve, reject) => session.post(method, (error, result) => (error ? reject(error) : resolve(result))));
}

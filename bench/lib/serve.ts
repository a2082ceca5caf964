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

/** Handlers every server under test answers. */
export const serverHandlers: Handlers = {
  memory: () => memoryAfterGc(),
};

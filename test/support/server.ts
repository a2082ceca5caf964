import { createPulseServer, type PulseServer, type PulseServerOptions } from "../../src/index.ts";
import { onCleanup } from "./cleanup.ts";

/**
 * Starts a real Pulse server on a free loopback port, closed by `cleanup()` after the test.
 * `overrides` are the programmatic settings (bufferSize, subscriberQueue, clock, ...).
 */
export async function startServer(overrides: PulseServerOptions = {}): Promise<PulseServer> {
  const server = await createPulseServer({ port: 0, host: "127.0.0.1", ...overrides });
  onCleanup(() => server.close());
  return server;
}

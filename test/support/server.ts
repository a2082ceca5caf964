import { createPulseServer, type PulseServer, type PulseServerOptions } from "../../src/index.ts";
import { onCleanup } from "./cleanup.ts";

/**
 * The one way a test starts Pulse in its own process: `createPulseServer` on a free loopback port (port 0), closed
 * by `cleanup()` after the test. `options` are the programmatic settings (bufferSize, trust, databaseUrl, clock,
 * logger, beforeReady...). Resolves once the server is ready (its snapshot restored, with `databaseUrl`); pass
 * `{ awaitReady: false }` to observe it before (a `beforeReady` the test controls, a start-up that must fail).
 *
 * For Pulse as `npm start` runs it (signals, exit codes, kill -9), see `startPulseProcess` in ./process.ts.
 */
export async function startServer(options: PulseServerOptions = {}, { awaitReady = true } = {}): Promise<PulseServer> {
  const server = await createPulseServer({ port: 0, host: "127.0.0.1", ...options });
  // close() rejects only when the final snapshot cannot be written, which some persistence tests provoke on
  // purpose; everything else is closed by then. Tests that care call close() themselves and assert on it.
  onCleanup(() => server.close().catch(() => {}));
  if (awaitReady) await server.ready;
  return server;
}

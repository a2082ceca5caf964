import type { PulseServerOptions } from "../../src/server.ts";

/**
 * API keys for the tests of what a key may reach (16+ characters, as PULSE_*_KEYS require): a read and a capture
 * key for every environment, and the same scoped to `staging`. Send them with `key` (./clients.ts, ./raw-ws.ts).
 */
export const KEYS = {
  read: "read-key-0123456789abcdef",
  capture: "capture-key-0123456789abcdef",
  stagingRead: "staging-read-0123456789abcdef",
  stagingCapture: "staging-capture-0123456789abcdef",
} as const;

/** The `trust` option of a server that requires KEYS. */
export const KEYED: PulseServerOptions["trust"] = {
  readKeys: [KEYS.read, `${KEYS.stagingRead}:staging`],
  captureKeys: [KEYS.capture, `${KEYS.stagingCapture}:staging`],
};

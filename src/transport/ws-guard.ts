import { GraphQLError } from "graphql";
import type { ServerOptions, WebSocket, WebSocketServer } from "ws";
import type { KeyRing } from "../auth/keys.ts";
import { PulseError } from "../domain/errors.ts";
import type { ConnectionCounter } from "../limits/connections.ts";
import type { TrustConfig } from "../limits/settings.ts";
import type { WebSocketConnection } from "./use/ws.ts";

/**
 * Close codes the guard uses on WebSockets besides the protocol's own (4400 bad message, 4408 no `connection_init`
 * in time, 4409 duplicate operation id, 4429 second `connection_init`: graphql-ws/protocol.ts) and ws's (1009
 * message over the size limit: use/ws.ts).
 */
export const CloseCodes = {
  /** Missing, malformed or unknown key at `connection_init`: fix the key; clients do not retry. */
  Unauthorized: 4401,
  /** A stalled reader: reconnect and resume with `events(after: lastCursor)`; graphql-ws clients retry it. */
  TryAgainLater: 1013,
} as const;

/** How use/ws.ts applies the limits; see attachWebSocket. */
export interface WebSocketGuard {
  readonly serverOptions: Pick<ServerOptions, "maxPayload" | "verifyClient">;
  readonly connectionInitWaitTimeout: number;
  /** Ping interval; a socket that did not answer the previous ping by the next one is dropped. 0 = no pings. */
  readonly keepAliveMs: number;
  /** Authenticates `connection_init`; false after closing the socket with 4401. */
  onConnect(connection: WebSocketConnection): boolean;
  /** Refuses an operation over the per-connection limit (errors for that operation only; the socket stays up). */
  admit(connection: WebSocketConnection): readonly GraphQLError[] | null;
  /** Starts watching the server's sockets for stalled readers; returns the stop function. */
  watch(wss: WebSocketServer): () => void;
}

export interface WebSocketGuardOptions {
  readonly config: TrustConfig;
  readonly keys: KeyRing;
  readonly connections: ConnectionCounter;
  /** Counts sockets closed as slow consumers (for tests and metrics). */
  readonly onSlowConsumer?: () => void;
}

/** After a 1013 close, a peer that does not read the close frame either is dropped this much later. */
const CLOSE_GRACE_MS = 10_000;

export function createWebSocketGuard({ config, keys, connections, onSlowConsumer }: WebSocketGuardOptions): WebSocketGuard {
  return {
    serverOptions: {
      maxPayload: config.maxWsPayloadBytes,
      // Refused before the upgrade, with a plain HTTP 429: graphql-ws clients see a failed connect and retry later.
      // ws calls this synchronously and completes the upgrade in the same tick, so concurrent handshakes cannot
      // overshoot the count; the slot is freed when the TCP connection closes, however the handshake ends.
      verifyClient: (info, callback) => {
        const address = info.req.socket.remoteAddress ?? "unknown";
        const release = connections.acquire(address);
        if (!release) {
          callback(false, 429, `Too many connections from ${address} (PULSE_MAX_CONNECTIONS_PER_ADDRESS=${connections.max})`);
          return;
        }
        info.req.socket.once("close", release);
        callback(true);
      },
    },
    connectionInitWaitTimeout: config.connectionInitTimeoutMs,
    keepAliveMs: config.keepAliveMs,
    onConnect(connection) {
      try {
        const params = connection.connectionParams ?? {};
        keys.authenticate(params["authorization"] ?? params["Authorization"]);
        return true;
      } catch (error) {
        if (!(error instanceof PulseError)) throw error;
        // 4401 says "authenticate" (rather than 4403 "forbidden"); graphql-ws clients do not retry it.
        connection.socket.close(CloseCodes.Unauthorized, `Unauthorized: ${error.message}`.slice(0, 120));
        return false;
      }
    },
    admit(connection) {
      // The operation being admitted has its id registered already; the others are the ones still open.
      const open = connection.openOperations - 1;
      if (open < config.maxSubscriptionsPerConnection) return null;
      return [
        new GraphQLError(
          `This connection has ${open} operations open, the limit is ${config.maxSubscriptionsPerConnection} (PULSE_MAX_SUBSCRIPTIONS_PER_CONNECTION); complete one or open another connection`,
          { extensions: { code: "RATE_LIMITED", limit: config.maxSubscriptionsPerConnection } },
        ),
      ];
    },
    watch(wss) {
      const stalledSince = new WeakMap<WebSocket, number>();
      const check = () => {
        const now = Date.now();
        for (const socket of wss.clients) {
          if (socket.readyState !== socket.OPEN || socket.bufferedAmount <= config.slowConsumerBytes) {
            stalledSince.delete(socket);
            continue;
          }
          const since = stalledSince.get(socket) ?? now;
          stalledSince.set(socket, since);
          if (now - since < config.slowConsumerMs) continue;
          stalledSince.delete(socket);
          onSlowConsumer?.();
          socket.close(CloseCodes.TryAgainLater, "Slow consumer: reconnect and resume with events(after: lastCursor)");
          // The close frame waits behind the unsent data; a peer that never reads again is dropped.
          setTimeout(() => socket.terminate(), CLOSE_GRACE_MS).unref();
        }
      };
      const interval = Math.min(1000, Math.max(25, Math.floor(config.slowConsumerMs / 4)));
      const timer = setInterval(check, interval);
      timer.unref();
      return () => clearInterval(timer);
    },
  };
}

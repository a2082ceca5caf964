import type { Server, ServerOptions } from "node:http";
import type { Socket } from "node:net";
import { ConnectionCounter } from "../limits/connections.ts";
import type { TrustConfig } from "../limits/settings.ts";

/** How long a refused connection may linger while its 429 goes out, and how many may linger at once. */
const REFUSAL_LINGER_MS = 1000;
const MAX_LINGERING_REFUSALS = 256;

type HttpTimeouts = Pick<TrustConfig, "httpHeadersTimeoutMs" | "httpRequestTimeoutMs" | "httpKeepAliveTimeoutMs">;

/**
 * Node's HTTP server options for Pulse's timeouts: `headersTimeout` (PULSE_HTTP_HEADERS_TIMEOUT_MS, capped at the
 * request timeout as Node requires), `requestTimeout` (PULSE_HTTP_REQUEST_TIMEOUT_MS: headers and body; a slow body
 * gets 408 and its connection closed) and `keepAliveTimeout` (PULSE_HTTP_KEEPALIVE_TIMEOUT_MS). Node checks the
 * first two every `connectionsCheckingInterval` (30 s by default, which would let a 10 s timeout run to 40 s): here a
 * quarter of the shorter one, at most a second.
 */
export function httpServerOptions(config: HttpTimeouts): ServerOptions {
  const requestTimeout = config.httpRequestTimeoutMs;
  const headersTimeout = Math.min(config.httpHeadersTimeoutMs, requestTimeout);
  return {
    requestTimeout,
    headersTimeout,
    keepAliveTimeout: config.httpKeepAliveTimeoutMs,
    connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(headersTimeout / 4))),
  };
}

/**
 * Bounds what one client can hold on the HTTP server:
 * - PULSE_MAX_CONNECTIONS_PER_ADDRESS (0 = none) counts every socket from one remote address when it connects,
 *   whatever it then carries (plain requests, a WebSocket, an event stream). The one past the limit never reaches
 *   the HTTP parser: it is answered `429 Too Many Requests` (`Retry-After: 1`, a JSON body with code RATE_LIMITED)
 *   as soon as it connects, then closed once the client has read it or within a second. Past 256 such refusals at
 *   once (a flood) the extra ones are dropped unanswered, so refusing costs no more descriptors than that.
 * - PULSE_HTTP_IDLE_TIMEOUT_MS: a socket with no bytes in either direction for that long is destroyed (Node's
 *   `server.timeout`): a client that stopped reading a response or a handler that never answers. WebSockets are
 *   exempt (Node clears it at the upgrade; they are pinged), event streams are pinged every 12 s.
 * Call before `listen`.
 */
export function limitHttpConnections(server: Server, config: Pick<TrustConfig, "maxConnectionsPerAddress" | "httpIdleTimeoutMs">): void {
  server.timeout = config.httpIdleTimeoutMs;
  const counter = new ConnectionCounter(config.maxConnectionsPerAddress);
  // Node's own `connection` listener sets up the HTTP parser; it runs only for the sockets admitted here, so a refused
  // one is never parsed and no request on it can reach a route.
  const parse = server.listeners("connection") as ((socket: Socket) => void)[];
  server.removeAllListeners("connection");
  let lingering = 0;
  server.on("connection", (socket: Socket) => {
    const address = socket.remoteAddress ?? "unknown";
    const release = counter.acquire(address);
    if (release) {
      socket.once("close", release);
      for (const listener of parse) listener.call(server, socket);
      return;
    }
    if (lingering >= MAX_LINGERING_REFUSALS) {
      socket.destroy();
      return;
    }
    lingering++;
    socket.once("close", () => lingering--);
    socket.on("error", () => {}); // a client resetting its refused socket is no one's concern
    socket.on("data", () => {}); // read and drop the request, so closing sends FIN rather than RST before the 429
    socket.once("end", () => socket.destroy());
    socket.setTimeout(REFUSAL_LINGER_MS, () => socket.destroy());
    socket.end(tooManyConnections(address, counter.max));
  });
}

function tooManyConnections(address: string, max: number): string {
  const body = JSON.stringify({
    errors: [
      {
        message: `Too many connections from ${address} (PULSE_MAX_CONNECTIONS_PER_ADDRESS=${max})`,
        extensions: { code: "RATE_LIMITED", limit: max, setting: "PULSE_MAX_CONNECTIONS_PER_ADDRESS", retryAfterSeconds: 1 },
      },
    ],
  });
  return [
    "HTTP/1.1 429 Too Many Requests",
    "content-type: application/json; charset=utf-8",
    `content-length: ${Buffer.byteLength(body)}`,
    "retry-after: 1",
    "connection: close",
    "",
    body,
  ].join("\r\n");
}

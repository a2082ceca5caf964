import type { IncomingMessage, ServerResponse } from "node:http";
import { useCSRFPrevention } from "@graphql-yoga/plugin-csrf-prevention";
import type { Plugin } from "graphql-yoga";
import { authenticateBareKey, KeyRing, type Principal } from "./auth/keys.ts";
import { PulseError } from "./domain/errors.ts";
import type { EventLimits } from "./domain/event-limits.ts";
import type { FilterLimits } from "./domain/filter.ts";
import { useApiKeys } from "./graphql/auth-plugin.ts";
import type { PulseContext } from "./graphql/context.ts";
import { useHttpStatusForCodes } from "./graphql/http-status.ts";
import { useQueryLimits } from "./graphql/query-limits.ts";
import { CaptureRateLimiter } from "./limits/capture-rate.ts";
import { ConnectionCounter } from "./limits/connections.ts";
import type { TrustConfig } from "./limits/settings.ts";
import { carriesBody, prepareBody } from "./transport/body.ts";
import { useSseGuard } from "./transport/sse-guard.ts";
import { SingleConnectionStreams } from "./transport/sse-streams.ts";
import { createWebSocketGuard, type WebSocketGuard } from "./transport/ws-guard.ts";

export interface TrustStats {
  /** WebSockets closed with 1013 for not reading. */
  readonly slowConsumerCloses: number;
  /** graphql-sse single connection streams: reserved (PUT) and not opened yet, and open. */
  readonly singleConnectionStreams: { readonly reserved: number; readonly open: number };
}

/** Keys and limits, built once per server from `config.trust`; server.ts wires each part to its transport. */
export interface Trust {
  /** False when no keys are configured: the server is open (main.ts warns). */
  readonly keysRequired: boolean;
  readonly keys: KeyRing;
  readonly rateLimiter: CaptureRateLimiter;
  /** Yoga plugins; they must come before the SSE plugin. */
  readonly plugins: Plugin<PulseContext>[];
  readonly webSocket: WebSocketGuard;
  /** graphql-sse's single connection streams: for the SSE plugin; closed with the server. */
  readonly sseStreams: SingleConnectionStreams;
  readonly eventLimits: EventLimits;
  readonly filterLimits: FilterLimits;
  /**
   * Pre-reads a request body within PULSE_MAX_BODY_BYTES (gzip inflated); false when it has answered the request.
   * With keys configured, a request with a body and without a valid `Authorization` is answered 401 UNAUTHENTICATED
   * before a byte of the body is read (and its connection closed); bodiless requests are left to the auth plugin.
   */
  prepareBody(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
  /**
   * For capture endpoints outside GraphQL (PostHog's `api_key`): who sends with this bare key (see
   * authenticateBareKey in src/auth/keys.ts). Throws UNAUTHENTICATED. The ingest charges the rate.
   */
  authenticateCapture(apiKey: string | null | undefined): Principal;
  /** For GET /metrics: true for an open server or an `Authorization: Bearer <read key>` (any scope). */
  authorizeRead(authorization: string | undefined): boolean;
  stats(): TrustStats;
}

/** The bounds every capture path checks each event against, from the trust settings. */
export function eventLimitsOf(config: TrustConfig): EventLimits {
  return {
    maxEventBytes: config.maxEventBytes,
    maxPropertyKeyLength: config.maxPropertyKeyLength,
    maxPropertyDepth: config.maxPropertyDepth,
    maxPropertyCount: config.maxPropertyCount,
    maxEventAgeMs: config.maxEventAgeSeconds * 1000,
  };
}

/** `onSlowConsumer` is told of every WebSocket closed with 1013 (metrics). */
export function createTrust(config: TrustConfig, hooks: { onSlowConsumer?: () => void } = {}): Trust {
  const keys = new KeyRing(config.captureKeys, config.readKeys);
  const rateLimiter = new CaptureRateLimiter({ ratePerSecond: config.captureRatePerSecond, burst: config.captureBurst });
  const connections = new ConnectionCounter(config.maxConnectionsPerAddress);
  const sseStreams = new SingleConnectionStreams({
    keys,
    connections,
    reservationTtlMs: config.sseReservationTtlMs,
    maxOperations: config.maxSubscriptionsPerConnection,
  });
  let slowConsumerCloses = 0;
  return {
    keysRequired: keys.enabled,
    keys,
    rateLimiter,
    plugins: [
      useApiKeys({ keys }),
      useSseGuard(connections) as Plugin<PulseContext>,
      useCSRFPrevention() as Plugin<PulseContext>,
      ...(useQueryLimits(config) as Plugin<PulseContext>[]),
      useHttpStatusForCodes() as Plugin<PulseContext>,
    ],
    webSocket: createWebSocketGuard({
      config,
      keys,
      connections,
      onSlowConsumer: () => {
        slowConsumerCloses++;
        hooks.onSlowConsumer?.();
      },
    }),
    sseStreams,
    eventLimits: eventLimitsOf(config),
    filterLimits: {
      maxConditions: config.maxFilterConditions,
      maxValueLength: config.maxFilterValueLength,
      maxRegexInputLength: config.maxRegexInputLength,
      maxPropertyKeyLength: config.maxPropertyKeyLength,
      maxValueDepth: config.maxPropertyDepth,
    },
    prepareBody: async (req, res) => {
      // The key first: an unauthenticated client must not get its body read (or inflated) at all.
      if (keys.enabled && carriesBody(req)) {
        try {
          keys.authenticate(req.headers.authorization);
        } catch (error) {
          if (!(error instanceof PulseError)) throw error;
          refuseUnauthenticated(res, error);
          return false;
        }
      }
      return prepareBody(req, res, config.maxBodyBytes);
    },
    authenticateCapture: (apiKey) => authenticateBareKey(keys, apiKey),
    authorizeRead: (authorization) => {
      try {
        return keys.authenticate(authorization).role === "read";
      } catch {
        return false;
      }
    },
    stats: () => ({ slowConsumerCloses, singleConnectionStreams: sseStreams.stats() }),
  };
}

/** The auth plugin's 401, sent before the body is read; the connection closes rather than drain the unread body. */
function refuseUnauthenticated(res: ServerResponse, error: PulseError): void {
  const body = JSON.stringify({ errors: [{ message: error.message, extensions: { code: error.code } }] });
  res.writeHead(401, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(body),
    "www-authenticate": 'Bearer realm="pulse"',
    connection: "close",
  });
  res.end(body);
}

import type { IncomingMessage, ServerResponse } from "node:http";
import { useCSRFPrevention } from "@graphql-yoga/plugin-csrf-prevention";
import type { Plugin } from "graphql-yoga";
import { authorizeCapture, captureRateKey, KeyRing, type CaptureGrant } from "./auth/keys.ts";
import type { EventLimits } from "./domain/event-limits.ts";
import type { FilterLimits } from "./domain/filter.ts";
import { useApiKeys } from "./graphql/auth-plugin.ts";
import type { PulseContext } from "./graphql/context.ts";
import { useHttpStatusForCodes } from "./graphql/http-status.ts";
import { useQueryLimits } from "./graphql/query-limits.ts";
import { CaptureRateLimiter } from "./limits/capture-rate.ts";
import { ConnectionCounter } from "./limits/connections.ts";
import type { TrustConfig } from "./limits/settings.ts";
import { prepareBody } from "./transport/body.ts";
import { useSseGuard } from "./transport/sse-guard.ts";
import { createWebSocketGuard, type WebSocketGuard } from "./transport/ws-guard.ts";

export interface TrustStats {
  /** WebSockets closed with 1013 for not reading. */
  readonly slowConsumerCloses: number;
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
  readonly eventLimits: EventLimits;
  readonly filterLimits: FilterLimits;
  /** Pre-reads a request body within PULSE_MAX_BODY_BYTES (gzip inflated); false when it has answered the request. */
  prepareBody(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
  /**
   * For capture endpoints outside GraphQL (PostHog's `api_key`): checks the key (see authorizeCapture in
   * src/auth/keys.ts) and charges `request.events` to its capture rate, the budget its GraphQL captures use too.
   * Throws UNAUTHENTICATED or RATE_LIMITED, having charged nothing.
   */
  authorizeCapture(apiKey: string | null | undefined, request: { readonly events: number; readonly address: string }): Promise<CaptureGrant>;
  /** For GET /metrics: true for an open server or an `Authorization: Bearer <read key>` (any scope). */
  authorizeRead(authorization: string | undefined): boolean;
  stats(): TrustStats;
}

/** `onSlowConsumer` is told of every WebSocket closed with 1013 (metrics). */
export function createTrust(config: TrustConfig, hooks: { onSlowConsumer?: () => void } = {}): Trust {
  const keys = new KeyRing(config.captureKeys, config.readKeys);
  const rateLimiter = new CaptureRateLimiter({ ratePerSecond: config.captureRatePerSecond, burst: config.captureBurst });
  const connections = new ConnectionCounter(config.maxConnectionsPerAddress);
  let slowConsumerCloses = 0;
  return {
    keysRequired: keys.enabled,
    keys,
    rateLimiter,
    plugins: [
      useApiKeys({ keys, rateLimiter }),
      useSseGuard(connections) as Plugin<PulseContext>,
      useCSRFPrevention() as Plugin<PulseContext>,
      ...(useQueryLimits(config) as Plugin<PulseContext>[]),
      useHttpStatusForCodes() as Plugin<PulseContext>,
    ],
    webSocket: createWebSocketGuard({ config, keys, connections, onSlowConsumer: () => {
        slowConsumerCloses++;
        hooks.onSlowConsumer?.();
      } }),
    eventLimits: {
      maxEventBytes: config.maxEventBytes,
      maxPropertyKeyLength: config.maxPropertyKeyLength,
      maxPropertyDepth: config.maxPropertyDepth,
      maxPropertyCount: config.maxPropertyCount,
      maxEventAgeMs: config.maxEventAgeSeconds * 1000,
    },
    filterLimits: {
      maxConditions: config.maxFilterConditions,
      maxValueLength: config.maxFilterValueLength,
      maxRegexInputLength: config.maxRegexInputLength,
      maxPropertyKeyLength: config.maxPropertyKeyLength,
      maxValueDepth: config.maxPropertyDepth,
    },
    prepareBody: (req, res) => prepareBody(req, res, config.maxBodyBytes),
    authorizeCapture: async (apiKey, { events, address }) => {
      const grant = authorizeCapture(keys, apiKey);
      await rateLimiter.consume(captureRateKey(grant.principal, address), events);
      return grant;
    },
    authorizeRead: (authorization) => {
      try {
        return keys.authenticate(authorization).role === "read";
      } catch {
        return false;
      }
    },
    stats: () => ({ slowConsumerCloses }),
  };
}

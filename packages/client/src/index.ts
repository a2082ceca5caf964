/**
 * Pulse's client (`@pulse-analytics/client`): `new RealtimeAnalytics(baseUrl, options)`, then `connect(filter)` and
 * `on(name, cb)`, over WebSocket or SSE as `options.transport` says. An app that uses one transport only imports
 * `@pulse-analytics/client/ws` or `/sse` instead, and its bundle leaves the other protocol client out.
 * Types are generated from schema.graphql (`npm run codegen`).
 */
import { RealtimeAnalyticsBase, trimBaseUrl, type ClientOptions } from "./realtime-analytics.ts";
import { sseTransport } from "./sse-transport.ts";
import { webSocketTransport, type WebSocketConstructor } from "./websocket-transport.ts";

export interface RealtimeAnalyticsOptions extends ClientOptions {
  /** Default "ws". */
  readonly transport?: "ws" | "sse" | undefined;
  /** The WebSocket class; default `globalThis.WebSocket` (browsers). Node 20 has none: pass `WebSocket` from `ws`. */
  readonly webSocketImpl?: WebSocketConstructor;
  /** The fetch used for SSE; default `globalThis.fetch`. */
  readonly fetchFn?: typeof fetch | undefined;
}

/** Pulse's realtime client over WebSocket (the default) or SSE (`transport: "sse"`). */
export class RealtimeAnalytics extends RealtimeAnalyticsBase {
  constructor(baseUrl: string, options: RealtimeAnalyticsOptions = {}) {
    const transportOptions = { ...options, baseUrl: trimBaseUrl(baseUrl) };
    super(options, options.transport === "sse" ? sseTransport(transportOptions) : webSocketTransport(transportOptions));
  }
}

export type {
  ClientOptions,
  ConnectOptions,
  ConnectionStatus,
  PulseEvent,
  RealtimeAnalyticsBase,
  RealtimeError,
} from "./realtime-analytics.ts";
export type { WebSocketConstructor } from "./websocket-transport.ts";
export type { EventFilter, FilterOperator, PropertyFilter } from "./generated/types.ts";

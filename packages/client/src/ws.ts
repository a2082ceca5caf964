/**
 * Pulse's client over WebSocket only (`@pulse-analytics/client/ws`): the same `RealtimeAnalytics` as the package's
 * main entry without the SSE transport, so a bundle carries graphql-ws and not graphql-sse.
 */
import { RealtimeAnalyticsBase, trimBaseUrl, type ClientOptions } from "./realtime-analytics.ts";
import { webSocketTransport, type WebSocketConstructor } from "./websocket-transport.ts";

export interface RealtimeAnalyticsOptions extends ClientOptions {
  /** The WebSocket class; default `globalThis.WebSocket` (browsers). Node 20 has none: pass `WebSocket` from `ws`. */
  readonly webSocketImpl?: WebSocketConstructor;
}

/** Pulse's realtime client over WebSocket (graphql-transport-ws on `/graphql`). */
export class RealtimeAnalytics extends RealtimeAnalyticsBase {
  constructor(baseUrl: string, options: RealtimeAnalyticsOptions = {}) {
    super(options, webSocketTransport({ ...options, baseUrl: trimBaseUrl(baseUrl) }));
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

/**
 * Pulse's client over Server-Sent Events only (`@pulse-analytics/client/sse`): the same `RealtimeAnalytics` as the
 * package's main entry without the WebSocket transport, so a bundle carries graphql-sse and not graphql-ws.
 */
import { RealtimeAnalyticsBase, trimBaseUrl, type ClientOptions } from "./realtime-analytics.ts";
import { sseTransport } from "./sse-transport.ts";

export interface RealtimeAnalyticsOptions extends ClientOptions {
  /** The fetch that opens the streams; default `globalThis.fetch`. */
  readonly fetchFn?: typeof fetch | undefined;
}

/** Pulse's realtime client over SSE (graphql-sse's distinct connections mode on `/graphql/stream`). */
export class RealtimeAnalytics extends RealtimeAnalyticsBase {
  constructor(baseUrl: string, options: RealtimeAnalyticsOptions = {}) {
    super(options, sseTransport({ ...options, baseUrl: trimBaseUrl(baseUrl) }));
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
export type { EventFilter, FilterOperator, PropertyFilter } from "./generated/types.ts";

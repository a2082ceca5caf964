/**
 * Pulse's client (`pulse/client`): `new RealtimeAnalytics(baseUrl, options)`, then `connect(filter)` and `on(name, cb)`.
 * Types are generated from schema.graphql (`npm run codegen`).
 */
export {
  RealtimeAnalytics,
  type ConnectOptions,
  type ConnectionStatus,
  type PulseEvent,
  type RealtimeAnalyticsOptions,
  type RealtimeError,
} from "./realtime-analytics.ts";
export type { EventFilter, FilterOperator, PropertyFilter } from "./generated.ts";

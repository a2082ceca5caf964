import { useEffect, useState } from "react";
import type { EventFilter } from "./generated/types.ts";
import { RealtimeAnalytics, type RealtimeAnalyticsOptions } from "./index.ts";
import type { ConnectionStatus, PulseEvent, RealtimeError } from "./realtime-analytics.ts";

export type { ConnectionStatus, PulseEvent, RealtimeError } from "./realtime-analytics.ts";
export type { EventFilter, FilterOperator, PropertyFilter } from "./generated/types.ts";

export interface UseRealtimeEventsOptions extends RealtimeAnalyticsOptions {
  /** Pulse's base URL; default the page's origin (Pulse serving the page, or a proxy in front of both). */
  readonly url?: string | undefined;
  /** More conditions besides the event names (environment, distinctId, properties). */
  readonly filter?: Omit<EventFilter, "events"> | undefined;
  /** How many events to keep, newest first; default 100. */
  readonly limit?: number | undefined;
}

export interface RealtimeEvents {
  /** The newest `limit` matching events, newest first. */
  readonly events: readonly PulseEvent[];
  readonly status: ConnectionStatus;
  /** The latest error reported by the client (it keeps reconnecting unless `error.fatal`). */
  readonly error: RealtimeError | null;
}

/**
 * Streams the events named in `events` (all events for an empty list) from Pulse into a component, keeping the
 * newest `limit` (100). One RealtimeAnalytics per mounted hook: it reconnects and resumes on its own, and is
 * disconnected (socket closed) when the component unmounts or the names, filter, url, key or transport change.
 * React is an optional peer dependency of the package: import this from `@pulse-analytics/client/react` in a React app.
 */
export function useRealtimeEvents(events: readonly string[], options: UseRealtimeEventsOptions = {}): RealtimeEvents {
  const [state, setState] = useState<RealtimeEvents>({ events: [], status: "idle", error: null });
  const { url, filter, limit = 100, apiKey, transport, webSocketImpl, fetchFn, includePerson, retry } = options;
  // Callers pass fresh arrays and objects on every render; reconnect only when their content changes.
  const names = JSON.stringify([...events].sort());
  const filterKey = JSON.stringify(filter ?? null);
  const retryKey = JSON.stringify(retry ?? null);

  useEffect(() => {
    const baseUrl = url ?? (globalThis as { location?: { origin?: string } }).location?.origin;
    if (!baseUrl) throw new Error("useRealtimeEvents needs options.url outside a browser page");
    setState({ events: [], status: "idle", error: null });
    const client = new RealtimeAnalytics(baseUrl, {
      apiKey,
      transport,
      webSocketImpl,
      fetchFn,
      includePerson,
      retry: JSON.parse(retryKey) as RealtimeAnalyticsOptions["retry"],
    });
    client.on("*", (event) => setState((s) => ({ ...s, events: [event, ...s.events].slice(0, limit) })));
    client.onStatus((status) => setState((s) => ({ ...s, status })));
    client.onError((error) => setState((s) => ({ ...s, error })));
    const wanted = JSON.parse(names) as string[];
    client.connect({ ...(JSON.parse(filterKey) as Omit<EventFilter, "events"> | null), events: wanted.length > 0 ? wanted : null });
    return () => {
      void client.disconnect();
    };
  }, [url, names, filterKey, limit, apiKey, transport, webSocketImpl, fetchFn, includePerson, retryKey]);

  return state;
}

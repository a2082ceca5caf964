import type { IResolvers } from "@graphql-tools/utils";
import type { EventFilter } from "../domain/filter.ts";
import type { LiveView, PulseContext } from "./context.ts";

export const Query: IResolvers<unknown, PulseContext>["Query"] = {
  recentEvents: (_, args: { limit: number; filter?: EventFilter | null }, { hub }) => hub.recent(args.limit, args.filter),
  liveUsers: (_, args: { environment?: string | null }, { hub }): LiveView => ({
    environment: args.environment ?? null,
    at: hub.clock.now(),
  }),
  liveDashboard: (_, args: { environment?: string | null }, { hub }): LiveView => ({
    environment: args.environment ?? null,
    at: hub.clock.now(),
  }),
  realtimeMetrics: (_, __, { hub, snapshots }) => {
    const metrics = hub.metrics();
    return {
      totalConnections: metrics.totalSubscriptions,
      activeConnections: metrics.activeSubscriptions,
      eventsPerSecond: metrics.eventsPerSecond,
      eventsTotal: metrics.eventsTotal,
      bufferedEvents: hub.bufferSize,
      bufferCapacity: hub.options.bufferSize,
      snapshotFailures: snapshots.failures,
      lastSnapshotAt: snapshots.lastSnapshotAt,
    };
  },
};

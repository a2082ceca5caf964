import type { LiveView } from "./context.ts";
import type { QueryResolvers } from "./generated/resolvers.ts";

export const Query: QueryResolvers = {
  recentEvents: (_, args, { reads }) => reads.recentEvents(args.limit, args.filter),
  liveUsers: (_, args, { reads }): LiveView => ({ environment: args.environment ?? null, at: reads.now() }),
  liveDashboard: (_, args, { reads }) => reads.liveDashboard(args.environment, args.filter),
  realtimeMetrics: (_, __, { reads, snapshots }) => {
    const metrics = reads.metrics();
    return {
      totalConnections: metrics.totalSubscriptions,
      activeConnections: metrics.activeSubscriptions,
      eventsPerSecond: metrics.eventsPerSecond,
      eventsTotal: metrics.eventsTotal,
      bufferedEvents: metrics.bufferedEvents,
      bufferCapacity: metrics.bufferCapacity,
      snapshotFailures: snapshots.failures,
      lastSnapshotAt: snapshots.lastSnapshotAt,
    };
  },
};

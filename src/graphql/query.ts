import type { LiveView } from "./context.ts";
import type { QueryResolvers } from "./generated/resolvers.ts";

export const Query: QueryResolvers = {
  recentEvents: (_, args, { hub }) => hub.recent(args.limit, args.filter),
  liveUsers: (_, args, { hub }): LiveView => ({ environment: args.environment ?? null, at: hub.clock.now() }),
  liveDashboard: (_, args, { hub }): LiveView => ({ environment: args.environment ?? null, at: hub.clock.now() }),
  realtimeMetrics: (_, __, { hub }) => {
    const metrics = hub.metrics();
    return {
      totalConnections: metrics.totalSubscriptions,
      activeConnections: metrics.activeSubscriptions,
      eventsPerSecond: metrics.eventsPerSecond,
      eventsTotal: metrics.eventsTotal,
      bufferedEvents: hub.bufferSize,
      bufferCapacity: hub.options.bufferSize,
    };
  },
};

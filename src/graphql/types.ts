import { encodeCursor } from "../domain/cursor.ts";
import type { EventResolvers, LiveDashboardResolvers, LiveUserResolvers, LiveUsersResolvers } from "./generated/resolvers.ts";

// Parents are the domain objects (the mappers in codegen.ts): StoredEvent, LiveView, DashboardView, the domain LiveUser.
export const Event: EventResolvers = {
  cursor: (event) => encodeCursor(event.seq),
  person: (event, _, { reads }) => reads.person(event.distinctId) ?? null,
};

export const LiveUserType: LiveUserResolvers = {
  person: (user, _, { reads }) => reads.person(user.distinctId) ?? null,
};

export const LiveUsers: LiveUsersResolvers = {
  count: (view, _, { reads }) => reads.liveUserCount(view.environment),
  users: (view, args, { reads }) => reads.liveUsers(args.limit, view.environment),
};

// The view was made by the caller's reads (Query.liveDashboard, Subscription.liveDashboard), scoped and filtered.
export const LiveDashboard: LiveDashboardResolvers = {
  liveUsers: (view) => view.liveUsers(),
  eventsPerMinute: (view, args) => view.eventCounts(args.limit),
  recentEvents: (view, args) => view.recentEvents(args.limit),
  topPages: (view, args) => view.topPages(args.limit),
  timeline: (view, args) => view.timeline(args.minutes),
  breakdown: (view, args) => view.breakdown(args.property, args.limit, args.minutes),
  timestamp: (view) => view.at,
};

import { encodeCursor } from "../domain/cursor.ts";
import type { EventResolvers, LiveDashboardResolvers, LiveUserResolvers, LiveUsersResolvers } from "./generated/resolvers.ts";

// Parents are the domain objects (the mappers in codegen.ts): StoredEvent, LiveView, the domain LiveUser.
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

export const LiveDashboard: LiveDashboardResolvers = {
  liveUsers: (view, _, { reads }) => reads.liveUserCount(view.environment),
  eventsPerMinute: (view, args, { reads }) => reads.eventCounts(args.limit, view.environment),
  recentEvents: (view, args, { reads }) =>
    reads.recentEvents(args.limit, view.environment === null ? null : { environment: view.environment }),
  topPages: (view, args, { reads }) => reads.topPages(args.limit, view.environment),
  timeline: (view, args, { reads }) => reads.timeline(args.minutes, view.environment),
  timestamp: (view) => view.at,
};

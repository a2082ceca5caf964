import { encodeCursor } from "../domain/cursor.ts";
import type { EventResolvers, LiveDashboardResolvers, LiveUserResolvers, LiveUsersResolvers } from "./generated/resolvers.ts";

// Parents are the domain objects (the mappers in codegen.ts): StoredEvent, LiveView, the domain LiveUser.
export const Event: EventResolvers = {
  cursor: (event) => encodeCursor(event.seq),
  person: (event, _, { hub }) => hub.person(event.distinctId) ?? null,
};

export const LiveUserType: LiveUserResolvers = {
  person: (user, _, { hub }) => hub.person(user.distinctId) ?? null,
};

export const LiveUsers: LiveUsersResolvers = {
  count: (view, _, { hub }) => hub.liveUserCount(view.environment),
  users: (view, args, { hub }) => hub.liveUserList(args.limit, view.environment),
};

export const LiveDashboard: LiveDashboardResolvers = {
  liveUsers: (view, _, { hub }) => hub.liveUserCount(view.environment),
  eventsPerMinute: (view, args, { hub }) => hub.eventCounts(args.limit, view.environment),
  recentEvents: (view, args, { hub }) => hub.recent(args.limit, view.environment === null ? null : { environment: view.environment }),
  topPages: (view, args, { hub }) => hub.topPages(args.limit, view.environment),
  timeline: (view, args, { hub }) => hub.timeline(args.minutes, view.environment),
  timestamp: (view) => view.at,
};

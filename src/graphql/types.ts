import type { IResolvers } from "@graphql-tools/utils";
import { encodeCursor } from "../domain/cursor.ts";
import type { StoredEvent } from "../domain/event.ts";
import type { LiveUser } from "../domain/live-users.ts";
import type { LiveView, PulseContext } from "./context.ts";

type Resolvers = IResolvers<unknown, PulseContext>;

export const Event: Resolvers["Event"] = {
  cursor: (event: StoredEvent) => encodeCursor(event.seq),
  person: (event: StoredEvent, _, { hub }) => hub.person(event.distinctId) ?? null,
};

export const LiveUserType: Resolvers["LiveUser"] = {
  person: (user: LiveUser, _, { hub }) => hub.person(user.distinctId) ?? null,
};

export const LiveUsers: Resolvers["LiveUsers"] = {
  count: (view: LiveView, _, { hub }) => hub.liveUserCount(view.environment),
  users: (view: LiveView, args: { limit: number }, { hub }) => hub.liveUserList(args.limit, view.environment),
};

export const LiveDashboard: Resolvers["LiveDashboard"] = {
  liveUsers: (view: LiveView, _, { hub }) => hub.liveUserCount(view.environment),
  eventsPerMinute: (view: LiveView, _, { hub }) => hub.eventCounts(view.environment),
  recentEvents: (view: LiveView, args: { limit: number }, { hub }) =>
    hub.recent(args.limit, view.environment === null ? null : { environment: view.environment }),
  topPages: (view: LiveView, args: { limit: number }, { hub }) => hub.topPages(args.limit, view.environment),
  timeline: (view: LiveView, args: { minutes: number }, { hub }) => hub.timeline(args.minutes, view.environment),
  timestamp: (view: LiveView) => view.at,
};

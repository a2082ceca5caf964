import { encodeCursor } from "../domain/cursor.ts";
import { PulseError } from "../domain/errors.ts";
import type { StoredEvent } from "../domain/event.ts";
import type { Delivery } from "../domain/subscriber.ts";
import type { DashboardView } from "../domain/live-dashboard.ts";
import type { SubscriptionResolvers } from "./generated/resolvers.ts";

export const Subscription: SubscriptionResolvers = {
  events: {
    subscribe: (_, args, { reads }) => reads.subscribe(args),
    // The end by lag is a field error, so it reaches the client as one last result, never as a thrown iterator
    // (which graphql-ws would answer by closing the whole socket).
    resolve: (delivery: Delivery): StoredEvent => {
      if (delivery.kind === "lagged") {
        const cursor = delivery.lastDeliveredSeq === null ? null : encodeCursor(delivery.lastDeliveredSeq);
        throw new PulseError("LAGGED", "This subscriber fell behind and was ended; resume with events(after: extensions.cursor)", {
          cursor,
        });
      }
      // `gap` is put on the result by the shared execution (shared-execution.ts).
      return delivery.event;
    },
  },
  liveDashboard: {
    subscribe: (_, args, { reads }) => reads.liveDashboardTicks(args.environment, args.filter, args.intervalMs),
    resolve: (view: DashboardView): DashboardView => view,
  },
};

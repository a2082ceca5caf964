import { Client, cacheExchange, fetchExchange, subscriptionExchange, type SubscriptionForwarder } from "@urql/core";
import { describe, expect, it } from "vitest";
import { onCleanup } from "../support/cleanup.ts";
import { sseClient, wsClient } from "../support/clients.ts";
import { captureEvent, waitForActive } from "../support/events.ts";
import { startServer } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";
import { DashboardDocument, EventsDocument, type EventsSubscription } from "./generated.ts";

// urql's subscriptionExchange takes any transport: the two Pulse serves, wired as urql's docs show.
const transports: Record<"graphql-ws" | "graphql-sse", (url: string) => SubscriptionForwarder> = {
  "graphql-ws": (url) => {
    const client = wsClient(url);
    return (request) => ({
      subscribe: (sink) => ({ unsubscribe: client.subscribe({ ...request, query: request.query ?? "" }, sink) }),
    });
  },
  "graphql-sse": (url) => {
    const client = sseClient(url);
    return (request) => ({
      subscribe: (sink) => ({ unsubscribe: client.subscribe({ ...request, query: request.query ?? "" }, sink) }),
    });
  },
};

describe.each(Object.keys(transports) as (keyof typeof transports)[])("urql 6 with subscriptions over %s", (transport) => {
  function urqlFor(url: string): Client {
    return new Client({
      url: `${url}/graphql`,
      requestPolicy: "network-only",
      // urql sends queries as GET by default; Pulse refuses a GET without a CSRF-safe header (see Security), so POST.
      preferGetMethod: false,
      exchanges: [cacheExchange, fetchExchange, subscriptionExchange({ forwardSubscription: transports[transport](url) })],
    });
  }

  it("queries liveDashboard over HTTP", async () => {
    const server = await startServer();
    await captureEvent(server.url, { event: "$pageview", distinctId: "ada", properties: { $current_url: "https://example.com/docs?x=1" } });

    const result = await urqlFor(server.url).query(DashboardDocument, {}).toPromise();

    expect(result.error).toBeUndefined();
    expect(result.data?.liveDashboard.liveUsers).toBe(1);
    expect(result.data?.liveDashboard.topPages).toEqual([expect.objectContaining({ path: "/docs", count: 1 })]);
  });

  it("subscribes to events(filter) and receives only the matching captured event", async () => {
    const server = await startServer();
    const received: EventsSubscription["events"][] = [];
    const errors: unknown[] = [];
    const subscription = urqlFor(server.url)
      .subscription(EventsDocument, { filter: { environment: "staging", events: ["purchase"] } })
      .subscribe((result) => {
        if (result.error) errors.push(result.error);
        if (result.data) received.push(result.data.events);
      });
    onCleanup(() => subscription.unsubscribe());
    await waitForActive(server.url, 1);

    await captureEvent(server.url, { event: "purchase", distinctId: "bob", properties: { amount: 5 } });
    const matching = await captureEvent(server.url, {
      event: "purchase",
      distinctId: "ada",
      environment: "staging",
      properties: { amount: 42 },
    });

    await waitFor(() => received.length > 0, { what: "the matching event" });
    expect(errors).toEqual([]);
    expect(received[0]).toMatchObject({
      id: matching.id,
      cursor: matching.cursor,
      event: "purchase",
      distinctId: "ada",
      environment: "staging",
      properties: { amount: 42 },
    });

    subscription.unsubscribe();
    await waitForActive(server.url, 0);
  });
});

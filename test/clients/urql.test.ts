import { Client, cacheExchange, fetchExchange, subscriptionExchange, type SubscriptionForwarder } from "@urql/core";
import { createClient as createSseClient } from "graphql-sse";
import { createClient as createWsClient } from "graphql-ws";
import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { activeConnections, capture, startPulse, useCleanup, waitFor } from "../support/e2e.ts";
import { DashboardDocument, EventsDocument, type EventsSubscription } from "./generated.ts";

type Defer = (close: () => unknown) => void;

// urql's subscriptionExchange takes any transport: the two Pulse serves, wired as urql's docs show.
const transports: Record<"graphql-ws" | "graphql-sse", (url: string, defer: Defer) => SubscriptionForwarder> = {
  "graphql-ws": (url, defer) => {
    const client = createWsClient({ url: `${url.replace(/^http/, "ws")}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0 });
    defer(() => client.dispose());
    return (request) => ({
      subscribe: (sink) => ({ unsubscribe: client.subscribe({ ...request, query: request.query ?? "" }, sink) }),
    });
  },
  "graphql-sse": (url, defer) => {
    const client = createSseClient({ url: `${url}/graphql/stream`, retryAttempts: 0 });
    defer(() => client.dispose());
    return (request) => ({
      subscribe: (sink) => ({ unsubscribe: client.subscribe({ ...request, query: request.query ?? "" }, sink) }),
    });
  },
};

describe.each(Object.keys(transports) as (keyof typeof transports)[])("urql 6 with subscriptions over %s", (transport) => {
  const defer = useCleanup();

  function urqlFor(url: string): Client {
    return new Client({
      url: `${url}/graphql`,
      requestPolicy: "network-only",
      exchanges: [cacheExchange, fetchExchange, subscriptionExchange({ forwardSubscription: transports[transport](url, defer) })],
    });
  }

  it("queries liveDashboard over HTTP", async () => {
    const server = await startPulse(defer);
    await capture(server.url, { event: "$pageview", distinctId: "ada", properties: { $current_url: "https://example.com/docs?x=1" } });

    const result = await urqlFor(server.url).query(DashboardDocument, {}).toPromise();

    expect(result.error).toBeUndefined();
    expect(result.data?.liveDashboard.liveUsers).toBe(1);
    expect(result.data?.liveDashboard.topPages).toEqual([expect.objectContaining({ path: "/docs", count: 1 })]);
  });

  it("subscribes to events(filter) and receives only the matching captured event", async () => {
    const server = await startPulse(defer);
    const received: EventsSubscription["events"][] = [];
    const errors: unknown[] = [];
    const subscription = urqlFor(server.url)
      .subscription(EventsDocument, { filter: { environment: "staging", events: ["purchase"] } })
      .subscribe((result) => {
        if (result.error) errors.push(result.error);
        if (result.data) received.push(result.data.events);
      });
    defer(() => subscription.unsubscribe());
    await waitFor("the subscription to start on the server", async () => (await activeConnections(server.url)) === 1);

    await capture(server.url, { event: "purchase", distinctId: "bob", properties: { amount: 5 } });
    const matching = await capture(server.url, { event: "purchase", distinctId: "ada", environment: "staging", properties: { amount: 42 } });

    await waitFor("the matching event", () => received.length > 0);
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
    await waitFor("the server to see the unsubscribe", async () => (await activeConnections(server.url)) === 0);
  });
});

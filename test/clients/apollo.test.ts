import { ApolloClient, HttpLink, InMemoryCache, split } from "@apollo/client";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { OperationTypeNode } from "graphql";
import { createClient } from "graphql-ws";
import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { activeConnections, capture, startPulse, useCleanup, waitFor } from "../support/e2e.ts";
import { DashboardDocument, EventsDocument, type EventsSubscription } from "./generated.ts";

// Apollo Client 4 as a frontend uses it: one client, queries over HTTP, subscriptions over graphql-ws, split by type.
describe("Apollo Client 4", () => {
  const defer = useCleanup();

  async function apolloFor(url: string) {
    const wsClient = createClient({ url: `${url.replace(/^http/, "ws")}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0 });
    defer(() => wsClient.dispose());
    const link = split(
      ({ operationType }) => operationType === OperationTypeNode.SUBSCRIPTION,
      new GraphQLWsLink(wsClient),
      new HttpLink({ uri: `${url}/graphql` }),
    );
    const client = new ApolloClient({ link, cache: new InMemoryCache() });
    defer(() => client.stop());
    return client;
  }

  it("queries liveDashboard over HTTP", async () => {
    const server = await startPulse(defer);
    await capture(server.url, { event: "$pageview", distinctId: "ada", properties: { $pathname: "/pricing" } });
    const client = await apolloFor(server.url);

    const { data, error } = await client.query({ query: DashboardDocument, fetchPolicy: "network-only" });

    expect(error).toBeUndefined();
    expect(data?.liveDashboard.liveUsers).toBe(1);
    expect(data?.liveDashboard.topPages).toEqual([{ __typename: "PageCount", path: "/pricing", count: 1 }]);
    expect(data?.liveDashboard.recentEvents.map((e) => e.event)).toEqual(["$pageview"]);
  });

  it("subscribes to events(filter) over WebSocket and receives only the matching captured event", async () => {
    const server = await startPulse(defer);
    const client = await apolloFor(server.url);
    const received: EventsSubscription["events"][] = [];
    const errors: unknown[] = [];
    const subscription = client
      .subscribe({
        query: EventsDocument,
        variables: { filter: { events: ["signup"], properties: [{ property: "plan", operator: "EQUALS", value: "pro" }] } },
      })
      .subscribe({
        next: (result) => {
          if (result.error) errors.push(result.error);
          if (result.data) received.push(result.data.events);
        },
        error: (error) => errors.push(error),
      });
    defer(() => subscription.unsubscribe());
    await waitFor("the subscription to start on the server", async () => (await activeConnections(server.url)) === 1);

    // Captured in this order: had the filter let the first through, it would arrive first.
    await capture(server.url, { event: "signup", distinctId: "bob", properties: { plan: "free" } });
    const matching = await capture(server.url, { event: "signup", distinctId: "ada", properties: { plan: "pro", $session_id: "s-1" } });

    await waitFor("the matching event", () => received.length > 0);
    expect(errors).toEqual([]);
    expect(received[0]).toMatchObject({
      id: matching.id,
      cursor: matching.cursor,
      event: "signup",
      distinctId: "ada",
      properties: { plan: "pro", $session_id: "s-1" },
      sessionId: "s-1",
      environment: "production",
    });

    subscription.unsubscribe();
    await waitFor("the server to see the unsubscribe", async () => (await activeConnections(server.url)) === 0);
  });
});

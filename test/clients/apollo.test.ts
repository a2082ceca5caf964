import { ApolloClient, HttpLink, InMemoryCache, split } from "@apollo/client";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { OperationTypeNode } from "graphql";
import { describe, expect, it } from "vitest";
import { onCleanup } from "../support/cleanup.ts";
import { wsClient } from "../support/clients.ts";
import { captureEvent, waitForActive } from "../support/events.ts";
import { startServer } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";
import { DashboardDocument, EventsDocument, type EventsSubscription } from "./generated.ts";

// Apollo Client 4 as a frontend uses it: one client, queries over HTTP, subscriptions over graphql-ws, split by type.
describe("Apollo Client 4", () => {
  function apolloFor(url: string) {
    const link = split(
      ({ operationType }) => operationType === OperationTypeNode.SUBSCRIPTION,
      new GraphQLWsLink(wsClient(url)),
      new HttpLink({ uri: `${url}/graphql` }),
    );
    const client = new ApolloClient({ link, cache: new InMemoryCache() });
    onCleanup(() => client.stop());
    return client;
  }

  it("queries liveDashboard over HTTP", async () => {
    const server = await startServer();
    await captureEvent(server.url, { event: "$pageview", distinctId: "ada", properties: { $pathname: "/pricing" } });
    const client = apolloFor(server.url);

    const { data, error } = await client.query({ query: DashboardDocument, fetchPolicy: "network-only" });

    expect(error).toBeUndefined();
    expect(data?.liveDashboard.liveUsers).toBe(1);
    expect(data?.liveDashboard.topPages).toEqual([{ __typename: "PageCount", path: "/pricing", count: 1 }]);
    expect(data?.liveDashboard.recentEvents.map((e) => e.event)).toEqual(["$pageview"]);
  });

  it("subscribes to events(filter) over WebSocket and receives only the matching captured event", async () => {
    const server = await startServer();
    const client = apolloFor(server.url);
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
    onCleanup(() => subscription.unsubscribe());
    await waitForActive(server.url, 1);

    // Captured in this order: had the filter let the first through, it would arrive first.
    await captureEvent(server.url, { event: "signup", distinctId: "bob", properties: { plan: "free" } });
    const matching = await captureEvent(server.url, {
      event: "signup",
      distinctId: "ada",
      properties: { plan: "pro", $session_id: "s-1" },
    });

    await waitFor(() => received.length > 0, { what: "the matching event" });
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
    await waitForActive(server.url, 0);
  });
});

import { describe, expect, it } from "vitest";
import type { PulseServer } from "../../src/index.ts";
import { captureInto } from "../domain/helpers.ts";
import { sseClient, subscribe, wsClient, type Result } from "../support/clients.ts";
import { startServer } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";

/**
 * Shared execution (src/graphql/shared-execution.ts) through real clients: identical subscriptions get identical
 * payloads from one execution per event; anything that makes them differ (variables, the caller) does not share.
 * Executions are counted on the real hub: `Event.person` asks `hub.views.person` once per execution.
 */
const SELECTION = "id event cursor person { distinctId }";

async function start(): Promise<{ server: PulseServer; personCalls: () => number }> {
  const server = await startServer();
  let calls = 0;
  const person = server.hub.views.person.bind(server.hub.views);
  server.hub.views.person = (distinctId) => {
    calls++;
    return person(distinctId);
  };
  return { server, personCalls: () => calls };
}

/** Subscribes and records every payload; the returned array fills as results arrive. */
function received(
  client: Parameters<typeof subscribe>[0],
  query: string,
  variables?: Record<string, unknown>,
): Result<{ events?: Record<string, unknown> }>[] {
  return subscribe<{ events?: Record<string, unknown> }>(client, query, variables).results;
}

async function capture(server: PulseServer, event = "$pageview"): Promise<void> {
  await captureInto(server.hub, [{ event, distinctId: "ada", properties: { plan: "pro" } }]);
}

describe("shared execution", () => {
  it("gives identical subscriptions on separate connections identical payloads from one execution per event", async () => {
    const { server, personCalls } = await start();
    const query = `subscription { events { ${SELECTION} } }`;
    const streams = [received(wsClient(server.url), query), received(wsClient(server.url), query), received(wsClient(server.url), query)];
    await waitFor(() => server.hub.metrics().activeSubscriptions === 3, { what: "3 subscriptions" });

    await capture(server);
    await capture(server, "signup");
    await waitFor(() => streams.every((s) => s.length === 2), { what: "2 events on every subscription" });

    expect(streams[1]).toEqual(streams[0]);
    expect(streams[2]).toEqual(streams[0]);
    expect(streams[0]!.map((p) => p.data?.events?.["event"])).toEqual(["$pageview", "signup"]);
    expect(streams[0]![0]!.data?.events?.["person"]).toEqual({ distinctId: "ada" });
    // One execution per event for the three of them, not one per subscriber.
    expect(personCalls()).toBe(2);
  });

  it("shares between different filters: they choose the events, not what an event's execution gives", async () => {
    const { server, personCalls } = await start();
    const query = `subscription ($filter: EventFilter) { events(filter: $filter) { ${SELECTION} } }`;
    const client = wsClient(server.url);
    const byName = received(client, query, { filter: { events: ["$pageview", "signup"] } });
    const byPlan = received(client, query, { filter: { properties: [{ property: "plan", operator: "EQUALS", value: "pro" }] } });
    const signupsOnly = received(client, query, { filter: { events: ["signup"] } });
    await waitFor(() => server.hub.metrics().activeSubscriptions === 3, { what: "3 subscriptions" });

    await capture(server);
    await capture(server, "signup");
    await waitFor(() => byName.length === 2 && byPlan.length === 2 && signupsOnly.length === 1, { what: "every filter's events" });

    expect(signupsOnly.map((p) => p.data?.events?.["event"])).toEqual(["signup"]);
    expect(byPlan).toEqual(byName);
    expect(signupsOnly[0]).toEqual(byName[1]);
    // One execution per event, whichever filters it passed.
    expect(personCalls()).toBe(2);
  });

  it("does not share between different values of a variable the selection uses", async () => {
    const { server, personCalls } = await start();
    const query = `subscription ($withPerson: Boolean!) { events { id person @include(if: $withPerson) { distinctId } } }`;
    const client = wsClient(server.url);
    const withPerson = received(client, query, { withPerson: true });
    const withoutPerson = received(client, query, { withPerson: false });
    const alsoWithPerson = received(wsClient(server.url), query, { withPerson: true });
    await waitFor(() => server.hub.metrics().activeSubscriptions === 3, { what: "3 subscriptions" });

    await capture(server);
    await waitFor(() => withPerson.length === 1 && withoutPerson.length === 1 && alsoWithPerson.length === 1, {
      what: "the event everywhere",
    });

    expect(withPerson[0]!.data?.events?.["person"]).toEqual({ distinctId: "ada" });
    expect(withoutPerson[0]!.data?.events).not.toHaveProperty("person");
    expect(alsoWithPerson).toEqual(withPerson);
    expect(personCalls()).toBe(1);
  });

  it("does not share between callers: different connectionParams execute apart, equal ones share", async () => {
    const { server, personCalls } = await start();
    const query = `subscription { events { ${SELECTION} } }`;
    const streams = [
      received(wsClient(server.url, { connectionParams: { key: "key-a" } }), query),
      received(wsClient(server.url, { connectionParams: { key: "key-a" } }), query),
      received(wsClient(server.url, { connectionParams: { key: "key-b" } }), query),
    ];
    await waitFor(() => server.hub.metrics().activeSubscriptions === 3, { what: "3 subscriptions" });

    await capture(server);
    await waitFor(() => streams.every((s) => s.length === 1), { what: "the event on every subscription" });

    expect(streams[1]).toEqual(streams[0]);
    expect(streams[2]).toEqual(streams[0]);
    // key-a's two subscribers shared one execution; key-b's ran its own.
    expect(personCalls()).toBe(2);
  });

  it("keeps transports apart and delivers the same payload over SSE", async () => {
    const { server, personCalls } = await start();
    const query = `subscription { events { ${SELECTION} } }`;
    const overSse = received(sseClient(server.url), query);
    const overWs = received(wsClient(server.url), query);
    await waitFor(() => server.hub.metrics().activeSubscriptions === 2, { what: "2 subscriptions" });

    await capture(server);
    await waitFor(() => overSse.length === 1 && overWs.length === 1, { what: "the event on both transports" });

    expect(overSse).toEqual(overWs);
    expect(personCalls()).toBe(2);
  });

  it("a member leaving does not end the others, and a new member joins the running group", async () => {
    const { server, personCalls } = await start();
    const query = `subscription { events { ${SELECTION} } }`;
    const leaving = wsClient(server.url);
    const first = received(leaving, query);
    const staying = received(wsClient(server.url), query);
    await waitFor(() => server.hub.metrics().activeSubscriptions === 2, { what: "2 subscriptions" });
    await capture(server);
    await waitFor(() => first.length === 1 && staying.length === 1, { what: "the first event" });

    await leaving.dispose();
    await waitFor(() => server.hub.metrics().activeSubscriptions === 1, { what: "the member to leave" });
    const joined = received(wsClient(server.url), query);
    await waitFor(() => server.hub.metrics().activeSubscriptions === 2, { what: "the new member" });
    await capture(server, "signup");
    await waitFor(() => staying.length === 2 && joined.length === 1, { what: "the second event" });

    expect(joined[0]).toEqual(staying[1]);
    expect(first).toHaveLength(1);
    expect(personCalls()).toBe(2);
  });
});

import { describe, expect, it } from "vitest";
import { ManualClock } from "../../src/index.ts";
import { gql, gqlData, streamClient, STREAM_TRANSPORTS } from "../support/clients.ts";
import {
  CAPTURE_EVENT,
  CAPTURE_EVENTS,
  captureEvent,
  captureEvents,
  pageview,
  recentEvents,
  type CaptureInput,
} from "../support/events.ts";
import { startServer } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";

const T0 = Date.UTC(2026, 0, 1);
const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Seven events, one second apart on the server's (manual) clock:
 * ada, bob (staging), ada, cy, bob (staging), ada, dee; pages by $pathname, else the path of $current_url.
 */
async function seed(baseUrl: string, clock: ManualClock): Promise<void> {
  const inputs: CaptureInput[] = [
    {
      event: "$pageview",
      distinctId: "ada",
      properties: { $pathname: "/pricing", $current_url: "https://shop.example/pricing?x=1", $set: { plan: "pro" } },
    },
    {
      event: "$pageview",
      distinctId: "bob",
      environment: "staging",
      properties: { $current_url: "https://shop.example/docs/start?ref=x" },
    },
    { event: "$pageview", distinctId: "ada", sessionId: "s-ada", properties: { $current_url: "https://shop.example/cart" } },
    { event: "signup", distinctId: "cy", properties: { plan: "free" } },
    { event: "$pageview", distinctId: "bob", environment: "staging", properties: { $pathname: "/docs/start" } },
    { event: "$pageview", distinctId: "ada", properties: { $pathname: "/pricing" } },
    { event: "$autocapture", distinctId: "dee", properties: { $current_url: "https://shop.example/pricing" } },
  ];
  for (const input of inputs) {
    await captureEvent(baseUrl, input);
    clock.advance(1000);
  }
  clock.set(T0 + 6000);
}

describe("recentEvents", () => {
  it("is newest first, honours limit, filter, and returns the whole buffer for a limit above it", async () => {
    const server = await startServer({ bufferSize: 5 });
    await captureEvents(server.url, [
      pageview(0),
      pageview(1, { event: "signup", distinctId: "ada", properties: { n: 1, plan: "pro" } }),
      pageview(2, { environment: "staging" }),
      pageview(3, { distinctId: "ada" }),
      pageview(4, { event: "signup", properties: { n: 4, plan: "free" } }),
      pageview(5),
    ]);
    const n = (events: { properties: Record<string, unknown> }[]) => events.map((e) => e.properties["n"]);

    expect(n(await recentEvents(server.url, 3))).toEqual([5, 4, 3]);
    expect(n(await recentEvents(server.url, 100))).toEqual([5, 4, 3, 2, 1]); // bufferSize 5: event 0 is gone
    expect(n(await recentEvents(server.url, 0))).toEqual([]);
    expect(n(await recentEvents(server.url, 10, { events: ["signup"] }))).toEqual([4, 1]);
    expect(n(await recentEvents(server.url, 10, { environment: "staging" }))).toEqual([2]);
    expect(n(await recentEvents(server.url, 10, { distinctId: "ada" }))).toEqual([3, 1]);
    expect(n(await recentEvents(server.url, 1, { distinctId: "ada" }))).toEqual([3]);
    expect(
      n(
        await recentEvents(server.url, 10, {
          events: ["signup"],
          properties: [{ property: "plan", operator: "EQUALS", value: "pro" }],
        }),
      ),
    ).toEqual([1]);
    expect(n(await recentEvents(server.url, 10, { properties: [{ property: "n", operator: "GTE", value: "4" }] }))).toEqual([5, 4]);
    expect(n(await recentEvents(server.url, 10, { properties: [{ property: "plan", operator: "IS_NOT_SET" }] }))).toEqual([5, 3, 2]);

    // The default limit is 100.
    const all = await gqlData<{ recentEvents: unknown[] }>(server.url, "{ recentEvents { id } }");
    expect(all.recentEvents).toHaveLength(5);
  });

  it.each([
    ["a negative limit", "{ recentEvents(limit: -1) { id } }", "limit"],
    [
      "a regex RE2 cannot compile (a lookbehind)",
      '{ recentEvents(filter: { properties: [{ property: "a", operator: REGEX, value: "(?<=x)y" }] }) { id } }',
      "filter.properties[0].value",
    ],
    [
      "a non-numeric GT",
      '{ recentEvents(filter: { properties: [{ property: "a", operator: GT, value: "big" }] }) { id } }',
      "filter.properties[0].value",
    ],
  ])("%s is BAD_USER_INPUT naming the field", async (_, query, field) => {
    const server = await startServer();
    const result = await gql(server.url, query);
    expect(result.data ?? null).toBeNull();
    expect(result.errors).toHaveLength(1);
    expect(result.errors![0]!.extensions).toMatchObject({ code: "BAD_USER_INPUT", field });
    expect(result.errors![0]!.message).toContain(field === "limit" ? "-1" : field);
  });
});

describe("liveUsers", () => {
  const QUERY = `query ($environment: String, $limit: Int) {
    liveUsers(environment: $environment) {
      count
      users(limit: $limit) { distinctId sessionId currentUrl lastSeen person { distinctId properties } }
    }
  }`;
  type LiveUsers = {
    count: number;
    users: {
      distinctId: string;
      sessionId: string | null;
      currentUrl: string | null;
      lastSeen: string;
      person: { properties: unknown } | null;
    }[];
  };
  const liveUsers = async (baseUrl: string, variables: Record<string, unknown> = {}) =>
    (await gqlData<{ liveUsers: LiveUsers }>(baseUrl, QUERY, variables)).liveUsers;

  it("counts users by their latest event, most recent first, with currentUrl, per environment or all", async () => {
    const clock = new ManualClock(T0);
    const server = await startServer({ clock });
    await seed(server.url, clock);

    const all = await liveUsers(server.url);
    expect(all.count).toBe(4);
    expect(all.users).toEqual([
      {
        distinctId: "dee",
        sessionId: null,
        currentUrl: "https://shop.example/pricing",
        lastSeen: iso(T0 + 6000),
        person: { distinctId: "dee", properties: {} },
      },
      // ada's latest event has no URL nor session: the earlier ones stay.
      {
        distinctId: "ada",
        sessionId: "s-ada",
        currentUrl: "https://shop.example/cart",
        lastSeen: iso(T0 + 5000),
        person: { distinctId: "ada", properties: { plan: "pro" } },
      },
      {
        distinctId: "bob",
        sessionId: null,
        currentUrl: "https://shop.example/docs/start?ref=x",
        lastSeen: iso(T0 + 4000),
        person: { distinctId: "bob", properties: {} },
      },
      {
        distinctId: "cy",
        sessionId: null,
        currentUrl: null,
        lastSeen: iso(T0 + 3000),
        person: { distinctId: "cy", properties: {} },
      },
    ]);
    expect((await liveUsers(server.url, { limit: 2 })).users.map((u) => u.distinctId)).toEqual(["dee", "ada"]);

    const staging = await liveUsers(server.url, { environment: "staging" });
    expect(staging.count).toBe(1);
    expect(staging.users.map((u) => u.distinctId)).toEqual(["bob"]);
    const production = await liveUsers(server.url, { environment: "production" });
    expect(production.count).toBe(3);
    expect(production.users.map((u) => u.distinctId)).toEqual(["dee", "ada", "cy"]);
    expect((await liveUsers(server.url, { environment: "nowhere" })).count).toBe(0);

    // A user is live while their latest event is less than 60 s old (PULSE_LIVE_WINDOW_SECONDS default).
    clock.set(T0 + 63_500);
    const later = await liveUsers(server.url);
    expect(later.count).toBe(3);
    expect(later.users.map((u) => u.distinctId)).toEqual(["dee", "ada", "bob"]);
    clock.set(T0 + 70_000);
    expect(await liveUsers(server.url)).toEqual({ count: 0, users: [] });
  });

  it("a negative users limit is BAD_USER_INPUT", async () => {
    const server = await startServer();
    const result = await gql(server.url, QUERY, { limit: -5 });
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "limit" });
  });
});

describe("liveDashboard", () => {
  const QUERY = `query ($environment: String) {
    liveDashboard(environment: $environment) {
      liveUsers
      eventsPerMinute { event count }
      topPages { path count }
      top: topPages(limit: 1) { path count }
      recentEvents(limit: 2) { distinctId event environment }
      timestamp
    }
  }`;

  it("shows events per minute, top pages by $pathname or $current_url path, recent events, per environment or all", async () => {
    const clock = new ManualClock(T0);
    const server = await startServer({ clock });
    await seed(server.url, clock);

    const all = (await gqlData<{ liveDashboard: unknown }>(server.url, QUERY)).liveDashboard;
    expect(all).toEqual({
      liveUsers: 4,
      // Most first, ties by name.
      eventsPerMinute: [
        { event: "$pageview", count: 5 },
        { event: "$autocapture", count: 1 },
        { event: "signup", count: 1 },
      ],
      // Only $pageview counts; ties by path. "/docs/start" once from $current_url, once from $pathname.
      topPages: [
        { path: "/docs/start", count: 2 },
        { path: "/pricing", count: 2 },
        { path: "/cart", count: 1 },
      ],
      top: [{ path: "/docs/start", count: 2 }],
      recentEvents: [
        { distinctId: "dee", event: "$autocapture", environment: "production" },
        { distinctId: "ada", event: "$pageview", environment: "production" },
      ],
      timestamp: iso(T0 + 6000),
    });

    const staging = (await gqlData<{ liveDashboard: unknown }>(server.url, QUERY, { environment: "staging" })).liveDashboard;
    expect(staging).toEqual({
      liveUsers: 1,
      eventsPerMinute: [{ event: "$pageview", count: 2 }],
      topPages: [{ path: "/docs/start", count: 2 }],
      top: [{ path: "/docs/start", count: 2 }],
      recentEvents: [
        { distinctId: "bob", event: "$pageview", environment: "staging" },
        { distinctId: "bob", event: "$pageview", environment: "staging" },
      ],
      timestamp: iso(T0 + 6000),
    });

    // Past the window, the counts are gone but the buffer is not.
    clock.set(T0 + 10 * 60_000);
    const later = (
      await gqlData<{
        liveDashboard: { liveUsers: number; eventsPerMinute: unknown[]; topPages: unknown[]; recentEvents: unknown[] };
      }>(server.url, QUERY)
    ).liveDashboard;
    expect(later).toMatchObject({ liveUsers: 0, eventsPerMinute: [], topPages: [] });
    expect(later.recentEvents).toHaveLength(2);
  });

  describe.each(STREAM_TRANSPORTS)("the subscription over %s", (transport) => {
    const SUBSCRIPTION = `subscription ($environment: String) {
      liveDashboard(environment: $environment, intervalMs: 250) { liveUsers eventsPerMinute { event count } timestamp }
    }`;
    type Dashboard = { liveUsers: number; eventsPerMinute: { event: string; count: number }[]; timestamp: string };

    it("pushes the dashboard at once, then again every interval, per environment", async () => {
      const clock = new ManualClock(T0);
      const server = await startServer({ clock });
      const client = streamClient(transport, server.url);
      const all = client.subscribe(SUBSCRIPTION);
      const staging = client.subscribe(SUBSCRIPTION, { environment: "staging" });

      // The first push comes without any event to trigger it.
      await all.waitForResults(1);
      expect(all.values<Dashboard>("liveDashboard")[0]).toEqual({ liveUsers: 0, eventsPerMinute: [], timestamp: iso(T0) });

      clock.advance(1000);
      await captureEvent(server.url, pageview(1, { distinctId: "ada" }));
      // A later push shows it (a push already in flight when the event came may still show the old state).
      const updated = await waitFor(() => all.values<Dashboard>("liveDashboard").find((dashboard) => dashboard.liveUsers === 1), {
        what: "a push showing the new event",
      });
      expect(updated).toEqual({ liveUsers: 1, eventsPerMinute: [{ event: "$pageview", count: 1 }], timestamp: iso(T0 + 1000) });

      await staging.waitForResults(3);
      for (const dashboard of staging.values<Dashboard>("liveDashboard"))
        expect(dashboard).toMatchObject({ liveUsers: 0, eventsPerMinute: [] });
      expect([...all.results, ...staging.results].every((r) => r.errors === undefined)).toBe(true);
      expect(all.end).toBeNull();
    });
  });
});

describe("invalid capture input", () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ["an empty event", { event: "", distinctId: "ada" }, "event"],
    ["a blank distinctId", { event: "$pageview", distinctId: "   " }, "distinctId"],
    ["a bad timestamp", { event: "$pageview", distinctId: "ada", timestamp: "yesterday" }, "timestamp"],
    ["array properties", { event: "$pageview", distinctId: "ada", properties: [1, 2] }, "properties"],
    ["string properties", { event: "$pageview", distinctId: "ada", properties: "{}" }, "properties"],
    ["an id that is not a UUID", { id: "42", event: "$pageview", distinctId: "ada" }, "id"],
    ["an empty environment", { event: "$pageview", distinctId: "ada", environment: "" }, "environment"],
  ];

  it.each(cases)("captureEvent with %s is BAD_USER_INPUT naming the field, and stores nothing", async (_, input, field) => {
    const server = await startServer();
    const result = await gql(server.url, CAPTURE_EVENT, { input });
    expect(result.data ?? null).toBeNull();
    expect(result.errors).toHaveLength(1);
    expect(result.errors![0]!.extensions).toEqual({ code: "BAD_USER_INPUT", field });
    expect(result.errors![0]!.message).toContain(field);
    expect(await recentEvents(server.url)).toEqual([]);
  });

  it.each(cases)(
    "captureEvents with %s at index 2 names the field and the index, and stores none of the batch",
    async (_, input, field) => {
      const server = await startServer();
      const client = streamClient("ws", server.url);
      const events = client.subscribe("subscription { events { id } }");
      const result = await gql(server.url, CAPTURE_EVENTS, { inputs: [pageview(0), pageview(1), input, pageview(3)] });
      expect(result.data ?? null).toBeNull();
      expect(result.errors).toHaveLength(1);
      expect(result.errors![0]!.extensions).toEqual({ code: "BAD_USER_INPUT", field, index: 2 });
      expect(result.errors![0]!.message).toContain(`inputs[2].${field}`);
      expect(await recentEvents(server.url)).toEqual([]);

      // The next valid capture is the first event anyone sees.
      const ok = await captureEvent(server.url, pageview(4));
      await events.waitForResults(1);
      expect(events.values("events")).toEqual([{ id: ok.id }]);
    },
  );

  it("a batch above PULSE_MAX_BATCH is BAD_USER_INPUT on inputs", async () => {
    const server = await startServer({ maxBatch: 3 });
    const result = await gql(server.url, CAPTURE_EVENTS, { inputs: [pageview(0), pageview(1), pageview(2), pageview(3)] });
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "inputs", limit: 3 });
    expect(await recentEvents(server.url)).toEqual([]);
  });
});

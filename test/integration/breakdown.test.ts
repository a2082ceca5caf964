import { describe, expect, it } from "vitest";
import { ManualClock } from "../../src/index.ts";
import { codeOf, gql, gqlData, STREAM_TRANSPORTS, streamClient, subscribe, wsClient } from "../support/clients.ts";
import { CAPTURE_EVENTS, captureEvents, type CaptureInput } from "../support/events.ts";
import { KEYED, KEYS } from "../support/keys.ts";
import { scrape } from "../support/metrics.ts";
import { startServer } from "../support/server.ts";

const T0 = Date.UTC(2026, 0, 1);
const MINUTE = 60_000;

/** A page view as the tracker and enrichment would leave it: path, source, browser, country, session. */
function visit(distinctId: string, session: string, $pathname: string, more: Record<string, unknown> = {}): CaptureInput {
  return {
    event: "$pageview",
    distinctId,
    properties: { $pathname, $session_id: session, $source: "Google", $browser: "Chrome", $geoip_country_code: "US", ...more },
  };
}

/** Two minutes of traffic: ada and bob from the US (Chrome), cy from France (Firefox, no $pathname: an old client). */
async function captureTraffic(url: string, clock: ManualClock): Promise<void> {
  await captureEvents(url, [
    visit("ada", "s-ada", "/", { plan: "pro" }),
    visit("ada", "s-ada", "/pricing", { plan: "pro" }),
    visit("bob", "s-bob", "/blog", { $source: "Direct", plan: "free" }),
  ]);
  clock.advance(MINUTE);
  await captureEvents(url, [
    visit("ada", "s-ada", "/docs", { plan: "pro" }),
    {
      event: "$pageview",
      distinctId: "cy",
      sessionId: "s-cy",
      properties: { $current_url: "https://shop.example/pricing?ref=x", $source: "GitHub", $browser: "Firefox", $geoip_country_code: "FR" },
    },
    { event: "signup", distinctId: "cy", properties: { $browser: "Firefox", $geoip_country_code: "FR", plan: 2 } },
    { event: "signup", distinctId: "dee", environment: "staging", properties: { $browser: "Safari", $geoip_country_code: "US" } },
  ]);
}

type Rows = { value: string; events: number; users: number; approximate: boolean }[];

const BREAKDOWNS = `query ($environment: String, $filter: EventFilter) {
  liveDashboard(environment: $environment, filter: $filter) {
    pages: breakdown(property: "$pathname", minutes: 2) { value events users approximate }
    entries: breakdown(property: "$entry_pathname", minutes: 2) { value events users approximate }
    lastMinuteEntries: breakdown(property: "$entry_pathname") { value events users approximate }
    sources: breakdown(property: "$source", minutes: 2, limit: 2) { value events users approximate }
    countries: breakdown(property: "$geoip_country_code", minutes: 2) { value events users approximate }
    plans: breakdown(property: "plan", minutes: 2) { value events users approximate }
    environments: breakdown(property: "environment", minutes: 2) { value events users approximate }
    people: breakdown(property: "distinctId", minutes: 2, limit: 1) { value events users approximate }
  }
}`;

const row = (value: string, events: number, users: number): Rows[number] => ({ value, events, users, approximate: false });

describe("liveDashboard.breakdown over HTTP", () => {
  it("serves the top values of tracked and untracked properties, and entry pages by session", async () => {
    const clock = new ManualClock(T0);
    const server = await startServer({ clock });
    await captureTraffic(server.url, clock);

    const { liveDashboard } = await gqlData<{ liveDashboard: Record<string, Rows> }>(server.url, BREAKDOWNS, {});
    expect(liveDashboard).toEqual({
      pages: [row("/pricing", 2, 2), row("/", 1, 1), row("/blog", 1, 1), row("/docs", 1, 1)],
      entries: [row("/", 1, 1), row("/blog", 1, 1), row("/pricing", 1, 1)],
      // The current minute alone (the dashboard window, 60 s): ada's session entered it at /docs.
      lastMinuteEntries: [row("/docs", 1, 1), row("/pricing", 1, 1)],
      sources: [row("Google", 3, 1), row("Direct", 1, 1)],
      countries: [row("US", 5, 3), row("FR", 2, 1)],
      plans: [row("pro", 3, 1), row("2", 1, 1), row("free", 1, 1)],
      environments: [row("production", 6, 3), row("staging", 1, 1)],
      people: [row("ada", 3, 1)],
    });

    const staging = await gqlData<{ liveDashboard: Record<string, Rows> }>(server.url, BREAKDOWNS, { environment: "staging" });
    expect(staging.liveDashboard["countries"]).toEqual([row("US", 1, 1)]);
    expect(staging.liveDashboard["environments"]).toEqual([row("staging", 1, 1)]);
    expect(staging.liveDashboard["pages"]).toEqual([]);
  });

  it("answers an environment past PULSE_BREAKDOWN_MAX_ENVIRONMENTS from the buffer, with the same rows", async () => {
    const answers: Record<string, unknown>[] = [];
    for (const maxBreakdownEnvironments of [1, 10]) {
      const clock = new ManualClock(T0);
      const server = await startServer({ clock, trust: { maxBreakdownEnvironments } });
      await captureTraffic(server.url, clock);
      // staging's event came last: with room for one environment, production's breakdowns were dropped.
      const answer: Record<string, unknown> = {};
      for (const environment of ["production", "staging"]) {
        answer[environment] = (
          await gqlData<{ liveDashboard: Record<string, Rows> }>(server.url, BREAKDOWNS, { environment })
        ).liveDashboard;
      }
      answers.push(answer);
    }
    expect(answers[0]).toEqual(answers[1]);
    expect((answers[0]!["production"] as Record<string, Rows>)["countries"]).toEqual([row("US", 4, 2), row("FR", 2, 1)]);
  });

  it.each([
    ["minutes: 0", "minutes"],
    ["minutes: 61", "minutes"],
    ["limit: -1", "limit"],
    ['property: ""', "property"],
  ])("refuses %s with BAD_USER_INPUT", async (argument, field) => {
    const server = await startServer();
    const property = argument.startsWith("property") ? "" : 'property: "$browser", ';
    const result = await gql(server.url, `{ liveDashboard { breakdown(${property}${argument}) { value } } }`);
    expect(codeOf(result)).toBe("BAD_USER_INPUT");
    expect(result.errors?.[0]?.extensions?.["field"]).toBe(field);
  });
});

const US = { properties: [{ property: "$geoip_country_code", operator: "EQUALS", value: "US" }] };

const FILTERED_FIELDS = `
  liveUsers
  eventsPerMinute { event count }
  topPages { path count }
  timeline(minutes: 2) { events uniqueUsers }
  recentEvents(limit: 3) { distinctId environment }
  browsers: breakdown(property: "$browser", minutes: 2) { value events users approximate }
  entries: breakdown(property: "$entry_pathname", minutes: 2) { value events users approximate }
  timestamp
`;

describe("liveDashboard(filter:)", () => {
  it("counts matching events only in every field, over HTTP", async () => {
    const clock = new ManualClock(T0);
    const server = await startServer({ clock });
    await captureTraffic(server.url, clock);

    const query = `query ($environment: String, $filter: EventFilter) { liveDashboard(environment: $environment, filter: $filter) { ${FILTERED_FIELDS} } }`;
    const { liveDashboard } = await gqlData<{ liveDashboard: Record<string, unknown> }>(server.url, query, { filter: US });
    expect(liveDashboard).toEqual({
      liveUsers: 2,
      eventsPerMinute: [
        { event: "$pageview", count: 1 },
        { event: "signup", count: 1 },
      ],
      topPages: [{ path: "/docs", count: 1 }],
      timeline: [
        { events: 3, uniqueUsers: 2 },
        { events: 2, uniqueUsers: 2 },
      ],
      recentEvents: [
        { distinctId: "dee", environment: "staging" },
        { distinctId: "ada", environment: "production" },
        { distinctId: "bob", environment: "production" },
      ],
      browsers: [row("Chrome", 4, 2), row("Safari", 1, 1)],
      entries: [row("/", 1, 1), row("/blog", 1, 1)],
      timestamp: new Date(T0 + MINUTE).toISOString(),
    });

    const production = await gqlData<{ liveDashboard: Record<string, unknown> }>(server.url, query, {
      filter: US,
      environment: "production",
    });
    expect(production.liveDashboard["liveUsers"]).toBe(1);
    expect(production.liveDashboard["browsers"]).toEqual([row("Chrome", 4, 2)]);

    const invalid = await gql(server.url, query, { filter: { properties: [{ property: "n", operator: "GT", value: "many" }] } });
    expect(codeOf(invalid)).toBe("BAD_USER_INPUT");
  });

  it("pushes the filtered dashboard over WebSocket, one computation per tick for identical subscriptions", async () => {
    const clock = new ManualClock(T0);
    const server = await startServer({ clock });
    await captureTraffic(server.url, clock);
    const scansBefore = (await scrape(server.url)).value("pulse_dashboard_buffer_scans_total");

    const subscription = `subscription ($filter: EventFilter) { liveDashboard(filter: $filter, intervalMs: 250) { ${FILTERED_FIELDS} } }`;
    const client = wsClient(server.url);
    const members = [0, 1, 2].map(() => subscribe<{ liveDashboard: Record<string, unknown> }>(client, subscription, { filter: US }));
    await Promise.all(members.map((member) => member.waitForResults(6)));
    for (const member of members) member.unsubscribe();

    for (const member of members) {
      expect(member.results.every((result) => result.errors === undefined)).toBe(true);
      const latest = member.values<Record<string, unknown>>("liveDashboard").at(-1)!;
      expect(latest["browsers"]).toEqual([row("Chrome", 4, 2), row("Safari", 1, 1)]);
      expect(latest["liveUsers"]).toBe(2);
    }
    // Each member's first view is its own; every later one is the group's, computed (one buffer scan) once per tick.
    const scans = (await scrape(server.url)).value("pulse_dashboard_buffer_scans_total") - scansBefore;
    const mostResults = Math.max(...members.map((member) => member.results.length));
    const allResults = members.reduce((sum, member) => sum + member.results.length, 0);
    expect(scans).toBeGreaterThanOrEqual(mostResults + 2);
    // A tick or two may be computed after the last delivery, before the unsubscribes arrive (a loaded machine). Were
    // the members computing their own views, scans would be allResults (three times as many).
    expect(scans).toBeLessThanOrEqual(mostResults + 5);
    expect(allResults).toBeGreaterThan(mostResults + 5);
  });

  it.each(STREAM_TRANSPORTS)("refuses a subscription with a bad filter over %s with BAD_USER_INPUT, as one result", async (transport) => {
    const server = await startServer();
    const client = streamClient(transport, server.url);
    const run = client.subscribe(`subscription ($filter: EventFilter) { liveDashboard(filter: $filter) { liveUsers } }`, {
      filter: { properties: [{ property: "path", operator: "REGEX", value: "(a" }] },
    });
    expect(await run.ended).toEqual({ kind: "complete" });
    expect(codeOf(run.results[0]!)).toBe("BAD_USER_INPUT");
  });

  it("keeps a scoped read key inside its environment, through filter and breakdown", async () => {
    const clock = new ManualClock(T0);
    const server = await startServer({ clock, trust: KEYED });
    const inputs = [visit("ada", "s1", "/"), { ...visit("dee", "s2", "/staging"), environment: "staging" }];
    await gqlData(server.url, CAPTURE_EVENTS, { inputs }, { key: KEYS.capture });

    const read = (query: string, variables: Record<string, unknown> = {}) => gql(server.url, query, variables, { key: KEYS.stagingRead });
    const forbidden = await read(`query ($filter: EventFilter) { liveDashboard(filter: $filter) { liveUsers } }`, {
      filter: { environment: "production" },
    });
    expect(codeOf(forbidden)).toBe("FORBIDDEN");

    const fields = `environments: breakdown(property: "environment") { value } pages: breakdown(property: "$pathname") { value } recentEvents { distinctId }`;
    for (const filter of [null, US]) {
      const result = await read(`query ($filter: EventFilter) { liveDashboard(filter: $filter) { ${fields} } }`, { filter });
      expect(result.errors).toBeUndefined();
      expect(result.data).toEqual({
        liveDashboard: { environments: [{ value: "staging" }], pages: [{ value: "/staging" }], recentEvents: [{ distinctId: "dee" }] },
      });
    }

    const subscription = subscribe(
      wsClient(server.url, { key: KEYS.stagingRead }),
      `subscription { liveDashboard(filter: { environment: "production" }) { liveUsers } }`,
    );
    // Refused when it starts, as one result with the error, then complete.
    expect(await subscription.ended).toEqual({ kind: "complete" });
    expect(codeOf(subscription.results[0]!)).toBe("FORBIDDEN");
  });
});

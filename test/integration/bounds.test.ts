import { describe, expect, it } from "vitest";
import { gql, gqlData, streamClient } from "../support/clients.ts";
import { captureEvent, captureEvents, type CaptureInput } from "../support/events.ts";
import { scrape } from "../support/metrics.ts";
import { tempDatabaseUrl } from "../support/process.ts";
import { startServer } from "../support/server.ts";

const DASHBOARD = `query ($env: String, $limit: Int) {
  liveDashboard(environment: $env) { liveUsers eventsPerMinute(limit: $limit) { event count } }
}`;
type Dashboard = { liveDashboard: { liveUsers: number; eventsPerMinute: { event: string; count: number }[] } };

const PERSON = `query ($id: String!) { recentEvents(limit: 1, filter: { distinctId: $id }) { person { properties } } }`;
type PersonResult = { recentEvents: { person: { properties: Record<string, unknown> } | null }[] };

async function personProperties(url: string, distinctId: string): Promise<Record<string, unknown>> {
  const data = await gqlData<PersonResult>(url, PERSON, { id: distinctId });
  return data.recentEvents[0]!.person!.properties;
}

describe("a flood of environment names (PULSE_MAX_ENVIRONMENTS)", () => {
  it("keeps per-environment views for the most recently active only; their events and the all-environments views stay whole", async () => {
    const server = await startServer({ trust: { maxEnvironments: 100 } });
    const flood = (from: number): CaptureInput[] =>
      Array.from({ length: 1000 }, (_, i) => ({ event: "flood", distinctId: `u${from + i}`, environment: `env-${from + i}` }));
    await captureEvents(server.url, flood(0));
    await captureEvents(server.url, flood(1000));

    const metrics = await scrape(server.url);
    expect(metrics.value("pulse_environments_tracked")).toBe(100);
    expect(metrics.value("pulse_environments_evicted_total")).toBe(1900);

    const newest = await gqlData<Dashboard>(server.url, DASHBOARD, { env: "env-1999" });
    expect(newest.liveDashboard).toEqual({ liveUsers: 1, eventsPerMinute: [{ event: "flood", count: 1 }] });
    // The least recently active environment's views were dropped...
    const evicted = await gqlData<Dashboard>(server.url, DASHBOARD, { env: "env-0" });
    expect(evicted.liveDashboard).toEqual({ liveUsers: 0, eventsPerMinute: [] });
    // ...not its events, and the all-environments views count everything.
    const kept = await gqlData<{ recentEvents: { distinctId: string }[] }>(
      server.url,
      `{ recentEvents(limit: 5, filter: { environment: "env-0" }) { distinctId } }`,
    );
    expect(kept.recentEvents).toEqual([{ distinctId: "u0" }]);
    const all = await gqlData<Dashboard>(server.url, DASHBOARD, {});
    expect(all.liveDashboard).toEqual({ liveUsers: 2000, eventsPerMinute: [{ event: "flood", count: 2000 }] });

    // An evicted environment that comes back starts counting from its next event.
    await captureEvent(server.url, { event: "back", distinctId: "u0", environment: "env-0" });
    const back = await gqlData<Dashboard>(server.url, DASHBOARD, { env: "env-0" });
    expect(back.liveDashboard).toEqual({ liveUsers: 1, eventsPerMinute: [{ event: "back", count: 1 }] });
    expect((await scrape(server.url)).value("pulse_environments_tracked")).toBe(100);
  });
});

describe("eventsPerMinute(limit)", () => {
  it("returns the 50 most frequent names by default, as a query and in every liveDashboard push", async () => {
    const server = await startServer();
    // name-000 is captured once, name-001 twice, ...: the most frequent come last.
    const inputs = Array.from({ length: 200 }, (_, n) => `name-${String(n).padStart(3, "0")}`).flatMap((event, n) =>
      Array.from({ length: (n % 5) + 1 }, () => ({ event, distinctId: "ada" })),
    );
    await captureEvents(server.url, inputs);

    const byDefault = await gqlData<Dashboard>(server.url, DASHBOARD, {});
    expect(byDefault.liveDashboard.eventsPerMinute).toHaveLength(50);
    expect(byDefault.liveDashboard.eventsPerMinute.slice(0, 2)).toEqual([
      { event: "name-004", count: 5 },
      { event: "name-009", count: 5 },
    ]);
    const everything = await gqlData<Dashboard>(server.url, DASHBOARD, { limit: 1000 });
    expect(everything.liveDashboard.eventsPerMinute).toHaveLength(200);
    expect(everything.liveDashboard.eventsPerMinute.slice(0, 50)).toEqual(byDefault.liveDashboard.eventsPerMinute);

    const refused = await gql(server.url, DASHBOARD, { limit: -1 });
    expect(refused.errors?.[0]?.extensions?.["code"]).toBe("BAD_USER_INPUT");
    expect(refused.errors?.[0]?.message).toContain("limit");

    const client = streamClient("ws", server.url);
    const pushes = client.subscribe(`subscription { liveDashboard(intervalMs: 250) { eventsPerMinute { event count } } }`);
    const [first] = await pushes.waitForResults(1);
    expect((first!.data!["liveDashboard"] as Dashboard["liveDashboard"]).eventsPerMinute).toEqual(byDefault.liveDashboard.eventsPerMinute);
    pushes.unsubscribe();
  });
});

describe("person properties (PULSE_MAX_PERSON_PROPERTIES)", () => {
  it("a person sent 5,000 keys keeps 1,000; new keys are dropped and counted, existing ones still update", async () => {
    const server = await startServer({ trust: { maxPropertyCount: 2000 } });
    for (let batch = 0; batch < 5; batch++) {
      const $set = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${batch * 1000 + i}`, i]));
      await captureEvent(server.url, { event: "identify", distinctId: "ada", properties: { $set } });
    }
    await captureEvent(server.url, { event: "identify", distinctId: "ada", properties: { $set: { k0: "updated", brandNew: true } } });

    const properties = await personProperties(server.url, "ada");
    expect(Object.keys(properties)).toHaveLength(1000);
    expect(properties["k0"]).toBe("updated");
    expect(properties).not.toHaveProperty("brandNew");
    const metrics = await scrape(server.url);
    expect(metrics.value("pulse_person_property_writes_dropped_total")).toBe(4001);
    expect(metrics.value("pulse_persons_property_limited_total")).toBe(1);
  });
});

describe("person properties named like Object.prototype members", () => {
  // JSON.parse, not an object literal: in a literal, "__proto__": sets the prototype instead of a property.
  const $set = () => JSON.parse('{"__proto__": {"polluted": true}, "constructor": "c", "toString": "t"}') as Record<string, unknown>;
  const expected = JSON.parse('{"__proto__": {"polluted": true}, "constructor": "c", "toString": "t"}') as Record<string, unknown>;

  it("are stored and returned like any key, and survive a snapshot and restart", async () => {
    const databaseUrl = tempDatabaseUrl();
    const first = await startServer({ databaseUrl });
    await first.ready;
    await captureEvent(first.url, { event: "identify", distinctId: "eve", properties: { $set: $set() } });
    const served = await personProperties(first.url, "eve");
    expect(Object.keys(served).sort()).toEqual(["__proto__", "constructor", "toString"]);
    expect(served).toEqual(expected);
    await first.close(); // writes the final snapshot

    const second = await startServer({ databaseUrl });
    await second.ready;
    const restored = await personProperties(second.url, "eve");
    expect(Object.keys(restored).sort()).toEqual(["__proto__", "constructor", "toString"]);
    expect(restored).toEqual(expected);
  });
});

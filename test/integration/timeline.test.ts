import { describe, expect, it } from "vitest";
import { ManualClock } from "../../src/index.ts";
import { gql, gqlData } from "../support/clients.ts";
import { captureEvent } from "../support/events.ts";
import { startServer } from "../support/server.ts";

const T0 = Date.UTC(2026, 0, 1);
const QUERY = `query ($env: String, $minutes: Int) {
  liveDashboard(environment: $env) { timeline(minutes: $minutes) { minute events uniqueUsers } }
}`;

describe("liveDashboard.timeline", () => {
  it("serves per-minute events and distinct users, all environments or one", async () => {
    const clock = new ManualClock(T0);
    const server = await startServer({ clock });
    await captureEvent(server.url, { event: "a", distinctId: "ada" });
    await captureEvent(server.url, { event: "a", distinctId: "bob", environment: "staging" });
    clock.advance(60_000);
    await captureEvent(server.url, { event: "b", distinctId: "ada" });
    await captureEvent(server.url, { event: "b", distinctId: "ada" });

    const all = await gqlData<{ liveDashboard: { timeline: unknown[] } }>(server.url, QUERY, { minutes: 2 });
    expect(all.liveDashboard.timeline).toEqual([
      { minute: new Date(T0).toISOString(), events: 2, uniqueUsers: 2 },
      { minute: new Date(T0 + 60_000).toISOString(), events: 2, uniqueUsers: 1 },
    ]);
    const staging = await gqlData<{ liveDashboard: { timeline: { events: number }[] } }>(server.url, QUERY, {
      minutes: 2,
      env: "staging",
    });
    expect(staging.liveDashboard.timeline.map((p) => p.events)).toEqual([1, 0]);
    const byDefault = await gqlData<{ liveDashboard: { timeline: unknown[] } }>(server.url, QUERY, {});
    expect(byDefault.liveDashboard.timeline).toHaveLength(30);
  });

  it.each([0, 61])("rejects minutes=%s with BAD_USER_INPUT", async (minutes) => {
    const server = await startServer();
    const result = await gql(server.url, QUERY, { minutes });
    expect(result.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(result.errors?.[0]?.message).toContain(String(minutes));
  });
});

import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../src/index.ts";
import { gql, graphqlErrors, streamClient, STREAM_TRANSPORTS } from "../support/clients.ts";
import { CAPTURE_EVENT, captureEvents, captureUntilLagged, pageview } from "../support/events.ts";
import { scrape, type Scrape } from "../support/metrics.ts";
import { startServer } from "../support/server.ts";
import { startTcpProxy } from "../support/tcp-proxy.ts";
import { waitFor } from "../support/wait.ts";

const EVENTS = `subscription ($filter: EventFilter) { events(filter: $filter) { id } }`;
/** Frames of ~30 KB each: a socket that is not read fills up after a few hundred. */
const HEAVY_EVENTS = `subscription ($filter: EventFilter) { events(filter: $filter) { id properties } }`;
const PADDING = "x".repeat(30_000);

/** Scrapes until `condition` holds (subscriptions register asynchronously), and returns that scrape. */
async function scrapeUntil(baseUrl: string, condition: (s: Scrape) => boolean, what: string): Promise<Scrape> {
  let last: Scrape | undefined;
  return waitFor(
    async () => {
      last = await scrape(baseUrl);
      return condition(last) ? last : null;
    },
    {
      what: () =>
        `${what}; last scrape:\n${last?.text
          .split("\n")
          .filter((l) => l.startsWith("pulse_"))
          .join("\n")}`,
    },
  );
}

describe("capture counters", () => {
  it("count stored events, duplicates and refused captures by code, over HTTP and WebSocket", async () => {
    const server = await startServer({ maxBatch: 5 });
    const [a, b, c] = [pageview(1), pageview(2), pageview(3)];

    // 3 stored, 1 duplicate inside the batch.
    const batch = await captureEvents(server.url, [a, b, c, { ...a }]);
    expect(batch).toMatchObject({ accepted: 3, duplicates: 1 });
    // 1 duplicate of a buffered event.
    expect((await gql(server.url, CAPTURE_EVENT, { input: b })).errors).toBeUndefined();

    // Refused, each once: an invalid field, a batch over the limit, variables that do not fit the schema.
    const refusals = await Promise.all([
      gql(server.url, CAPTURE_EVENT, { input: { event: "", distinctId: "u" } }),
      gql(server.url, `mutation ($inputs: [CaptureEventInput!]!) { captureEvents(inputs: $inputs) { accepted } }`, {
        inputs: Array.from({ length: 6 }, (_, i) => pageview(10 + i)),
      }),
      gql(server.url, CAPTURE_EVENT, { input: { event: "no-distinct-id" } }),
    ]);
    for (const refusal of refusals) expect(refusal.errors?.length).toBe(1);

    // Two capture fields in one mutation: the valid one is stored, only the invalid one is refused.
    const mixed = await gql(
      server.url,
      `mutation { ok: captureEvent(input: { event: "signup", distinctId: "u-ok" }) { id }
                  bad: captureEvent(input: { event: "signup", distinctId: "" }) { id } }`,
    );
    expect(mixed.errors?.map((e) => e.extensions?.code)).toEqual(["BAD_USER_INPUT"]);

    // Over WebSocket: 1 stored, 1 refused.
    const ws = streamClient("ws", server.url);
    const stored = ws.subscribe(CAPTURE_EVENT, { input: pageview(4) });
    const refused = ws.subscribe(CAPTURE_EVENT, { input: { event: "x", distinctId: "" } });
    await Promise.all([stored.ended, refused.ended]);
    expect(graphqlErrors(stored)).toEqual([]);
    expect(graphqlErrors(refused)[0]?.extensions?.code).toBe("BAD_USER_INPUT");

    const metrics = await scrape(server.url);
    expect(metrics.value("pulse_events_captured_total")).toBe(3 + 1 + 1);
    expect(metrics.value("pulse_events_duplicates_total")).toBe(2);
    expect(metrics.value("pulse_capture_rejected_total", { code: "BAD_USER_INPUT" })).toBe(3 + 1 + 1);
    for (const code of ["UNAUTHENTICATED", "FORBIDDEN", "RATE_LIMITED", "UNAVAILABLE"]) {
      expect(metrics.value("pulse_capture_rejected_total", { code })).toBe(0);
    }
    expect(metrics.family("pulse_capture_rejected_total").metrics.map((m) => m.labels?.code)).not.toContain("INTERNAL_SERVER_ERROR");
    expect(server.hub.metrics().eventsTotal).toBe(5);
  });

  it("are per server: two servers in one process count separately", async () => {
    const [first, second] = await Promise.all([startServer(), startServer()]);
    await captureEvents(first.url, [pageview(1), pageview(2)]);
    expect((await scrape(first.url)).value("pulse_events_captured_total")).toBe(2);
    expect((await scrape(second.url)).value("pulse_events_captured_total")).toBe(0);
  });
});

describe("subscription metrics", () => {
  it("count subscriptions started and active, and events delivered, by transport", async () => {
    const server = await startServer();
    const ws = streamClient("ws", server.url);
    const sse = streamClient("sse", server.url);
    const wsAll = ws.subscribe(EVENTS);
    const wsAliased = ws.subscribe(`subscription { pageviews: events(filter: { events: ["$pageview"] }) { id } }`);
    const wsDashboard = ws.subscribe(`subscription { liveDashboard(intervalMs: 60000) { liveUsers } }`);
    const sseAll = sse.subscribe(EVENTS);
    // Refused when it starts (a lookahead, which RE2 does not have): never started, never active.
    const refused = ws.subscribe(EVENTS, { filter: { properties: [{ property: "x", operator: "REGEX", value: "(?=a)b" }] } });
    await refused.ended;
    expect(graphqlErrors(refused)[0]?.extensions?.code).toBe("BAD_USER_INPUT");

    await scrapeUntil(
      server.url,
      (s) =>
        s.value("pulse_subscriptions_active", { transport: "ws" }) === 3 &&
        s.value("pulse_subscriptions_active", { transport: "sse" }) === 1,
      "3 ws and 1 sse subscriptions active",
    );
    await captureEvents(server.url, [pageview(1), pageview(2), pageview(3), { event: "signup", distinctId: "u" }]);
    await Promise.all([wsAll.waitForResults(4), wsAliased.waitForResults(3), sseAll.waitForResults(4), wsDashboard.waitForResults(1)]);

    const during = await scrape(server.url);
    expect(during.value("pulse_events_delivered_total", { transport: "ws" })).toBe(4 + 3);
    expect(during.value("pulse_events_delivered_total", { transport: "sse" })).toBe(4);
    expect(during.value("pulse_events_delivered_total", { transport: "http" })).toBe(0);
    expect(during.value("pulse_subscriptions_started_total", { transport: "ws" })).toBe(3);
    expect(during.value("pulse_subscriptions_started_total", { transport: "sse" })).toBe(1);
    expect(during.value("pulse_subscriptions_started_total", { transport: "http" })).toBe(0);
    expect(server.hub.metrics().activeSubscriptions).toBe(4);

    wsAliased.unsubscribe();
    sseAll.unsubscribe();
    const after = await scrapeUntil(
      server.url,
      (s) =>
        s.value("pulse_subscriptions_active", { transport: "ws" }) === 2 &&
        s.value("pulse_subscriptions_active", { transport: "sse" }) === 0,
      "the unsubscribed operations inactive",
    );
    expect(after.value("pulse_subscriptions_started_total", { transport: "ws" })).toBe(3);
    expect(after.value("pulse_subscriptions_started_total", { transport: "sse" })).toBe(1);
    expect(after.value("pulse_subscriptions_lagged_total", { transport: "ws" })).toBe(0);
  });

  describe.each(STREAM_TRANSPORTS)("over %s", (transport) => {
    it("count a LAGGED ending and the events it dropped", async () => {
      const server = await startServer({ subscriberQueue: 2 });
      // A reader that stops reading: the proxy holds what the server sends.
      const proxy = await startTcpProxy(server.port);
      const client = streamClient(transport, proxy.url);
      const slow = client.subscribe(HEAVY_EVENTS, { filter: { events: ["burst"] } });
      await scrapeUntil(server.url, (s) => s.value("pulse_subscriptions_active", { transport }) === 1, "the subscription active");

      proxy.hold(true);
      const captured = await captureUntilLagged(server.url, transport, (_from, count) =>
        captureEvents(
          server.url,
          Array.from({ length: count }, (_, i) => ({
            id: randomUUID(),
            event: "burst",
            distinctId: `u${i}`,
            properties: { padding: PADDING },
          })),
        ),
      );
      proxy.hold(false);
      await slow.ended;
      expect(graphqlErrors(slow).map((e) => e.extensions?.code)).toEqual(["LAGGED"]);
      const received = slow.values("events").length;
      expect(received).toBeLessThan(captured);

      const metrics = await scrapeUntil(
        server.url,
        (s) => s.value("pulse_subscriptions_active", { transport }) === 0,
        "the subscription ended",
      );
      expect(metrics.value("pulse_subscriptions_lagged_total", { transport })).toBe(1);
      // The queue (2) and the event that overflowed it; later events are no longer offered.
      expect(metrics.value("pulse_events_dropped_total", { transport })).toBe(3);
      expect(metrics.value("pulse_events_delivered_total", { transport })).toBe(received);
    });
  });
});

describe("state gauges and hooks", () => {
  it("report the buffer, live users, and what the snapshot and slow-consumer hooks were told", async () => {
    const clock = new ManualClock();
    const server = await startServer({ bufferSize: 3, clock });
    await captureEvents(server.url, [pageview(1), pageview(2), pageview(8), pageview(9), pageview(15)]);

    const before = await scrape(server.url);
    expect(before.value("pulse_buffer_events")).toBe(3);
    expect(before.value("pulse_buffer_capacity_events")).toBe(3);
    expect(before.value("pulse_live_users")).toBe(2); // user-1 and user-2
    expect(before.value("pulse_snapshot_age_seconds")).toBeNaN();
    expect(before.histogram("pulse_snapshot_duration_seconds")).toEqual({ count: 0, sum: 0 });

    server.metrics.snapshotWritten(0.25);
    server.metrics.snapshotFailed();
    server.metrics.snapshotFailed();
    server.metrics.slowConsumerClosed("ws");
    // Past the live window (60 s): gauges are read at scrape time.
    clock.advance(61_000);

    const after = await scrape(server.url);
    expect(after.histogram("pulse_snapshot_duration_seconds")).toEqual({ count: 1, sum: 0.25 });
    expect(after.value("pulse_snapshot_failures_total")).toBe(2);
    expect(after.value("pulse_snapshot_age_seconds")).toBe(61);
    expect(after.value("pulse_slow_consumer_closes_total", { transport: "ws" })).toBe(1);
    expect(after.value("pulse_slow_consumer_closes_total", { transport: "sse" })).toBe(0);
    expect(after.value("pulse_live_users")).toBe(0);
  });
});

/** Every metric docs/operations.md documents, with its type. */
const DOCUMENTED: Record<string, "COUNTER" | "GAUGE" | "HISTOGRAM"> = {
  pulse_events_captured_total: "COUNTER",
  pulse_events_duplicates_total: "COUNTER",
  pulse_capture_rejected_total: "COUNTER",
  pulse_events_delivered_total: "COUNTER",
  pulse_events_dropped_total: "COUNTER",
  pulse_subscriptions_started_total: "COUNTER",
  pulse_subscriptions_active: "GAUGE",
  pulse_subscriptions_lagged_total: "COUNTER",
  pulse_slow_consumer_closes_total: "COUNTER",
  pulse_buffer_events: "GAUGE",
  pulse_buffer_capacity_events: "GAUGE",
  pulse_live_users: "GAUGE",
  pulse_environments_tracked: "GAUGE",
  pulse_environments_evicted_total: "COUNTER",
  pulse_dashboard_untracked_total: "COUNTER",
  pulse_breakdown_evictions_total: "COUNTER",
  pulse_dashboard_buffer_scans_total: "COUNTER",
  pulse_person_property_writes_dropped_total: "COUNTER",
  pulse_persons_property_limited_total: "COUNTER",
  pulse_snapshot_duration_seconds: "HISTOGRAM",
  pulse_snapshot_failures_total: "COUNTER",
  pulse_snapshot_age_seconds: "GAUGE",
  pulse_snapshot_writer: "GAUGE",
  pulse_build_info: "GAUGE",
  // prom-client's defaults: the process, and the event-loop delay.
  process_cpu_user_seconds_total: "COUNTER",
  process_resident_memory_bytes: "GAUGE",
  nodejs_heap_size_used_bytes: "GAUGE",
  nodejs_eventloop_lag_seconds: "GAUGE",
  nodejs_eventloop_lag_p99_seconds: "GAUGE",
};

describe("GET /metrics", () => {
  it("is valid Prometheus text with every documented metric, typed and described", async () => {
    const server = await startServer();
    await captureEvents(server.url, [pageview(1)]);
    const response = await fetch(`${server.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const metrics = await scrape(server.url); // parses, and holds every line to the format's grammar
    for (const [name, type] of Object.entries(DOCUMENTED)) {
      expect(metrics.family(name).type, name).toBe(type);
    }
    for (const family of metrics.families.values()) {
      expect(family.help, family.name).not.toBe("");
      if (family.type === "COUNTER") expect(family.name, "counters end in _total").toMatch(/_total$/);
    }
    expect([...metrics.families.keys()].filter((name) => name.startsWith("pulse_")).sort()).toEqual(
      Object.keys(DOCUMENTED)
        .filter((name) => name.startsWith("pulse_"))
        .sort(),
    );
  });

  it("answers GET and HEAD only", async () => {
    const server = await startServer();
    const post = await fetch(`${server.url}/metrics`, { method: "POST" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
    const head = await fetch(`${server.url}/metrics`, { method: "HEAD" });
    expect(head.status).toBe(200);
  });
});

describe("protection of /metrics", () => {
  const METRICS_KEY = "metrics-key-0123456789";
  const READ_KEY = "read-key-abcdef";
  const readKeyCheck = (authorization: string | undefined) => authorization === `Bearer ${READ_KEY}`;

  async function status(baseUrl: string, authorization?: string): Promise<number> {
    const response = await fetch(`${baseUrl}/metrics`, { headers: authorization ? { authorization } : {} });
    await response.arrayBuffer();
    return response.status;
  }

  it("is open when no key is configured", async () => {
    const server = await startServer();
    expect(await status(server.url)).toBe(200);
  });

  it("requires PULSE_METRICS_KEY, and only it, when set", async () => {
    const server = await startServer({ metricsKey: METRICS_KEY, authorizeRead: readKeyCheck });
    const refused = await fetch(`${server.url}/metrics`);
    expect(refused.status).toBe(401);
    expect(refused.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect(await refused.json()).toMatchObject({ error: { code: "UNAUTHENTICATED" } });
    expect(await refused.text().catch(() => "")).not.toContain(METRICS_KEY);
    expect(await status(server.url, `Bearer ${METRICS_KEY}x`)).toBe(401);
    expect(await status(server.url, `Bearer ${METRICS_KEY.slice(0, -1)}`)).toBe(401);
    expect(await status(server.url, METRICS_KEY)).toBe(401);
    expect(await status(server.url, `Bearer ${READ_KEY}`)).toBe(401);
    expect(await status(server.url, `Bearer ${METRICS_KEY}`)).toBe(200);
    expect(await status(server.url, `bearer ${METRICS_KEY}`)).toBe(200);
    // The probes stay open: an orchestrator has no key.
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
  });

  it("defers to the read-key check without PULSE_METRICS_KEY", async () => {
    const server = await startServer({ authorizeRead: readKeyCheck });
    expect(await status(server.url)).toBe(401);
    expect(await status(server.url, "Bearer someone-else")).toBe(401);
    expect(await status(server.url, `Bearer ${READ_KEY}`)).toBe(200);
  });
});

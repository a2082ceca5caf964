import { randomUUID } from "node:crypto";
import { runInNewContext } from "node:vm";
import { gzipSync } from "node:zlib";
import { PostHog } from "posthog-node";
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../src/domain/clock.ts";
import { PulseError } from "../../src/domain/errors.ts";
import { Hub } from "../../src/domain/hub.ts";
import { createApplication } from "../../src/app/application.ts";
import { EVENT_LIMITS } from "../support/settings.ts";
import { CaptureRateLimiter } from "../../src/limits/capture-rate.ts";
import { createPostHogIngestion, POSTHOG_CAPTURE_PATHS, type AuthenticateCapture } from "../../src/transport/posthog.ts";
import { onCleanup } from "../support/cleanup.ts";
import { gql, graphqlErrors, streamClient } from "../support/clients.ts";
import { realtimeMetrics, recentEvents, type EventPayload } from "../support/events.ts";
import { startRecordingProxy } from "../support/http-proxy.ts";
import { startHttpServer } from "../support/http-server.ts";
import { startServer } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";

/** The shared event payload, without the person these tests do not select. */
type EventView = Omit<EventPayload, "person">;
const EVENT_FIELDS = "id event distinctId timestamp properties sessionId environment cursor";

/** Every stored event, newest first. */
const storedEvents = (url: string): Promise<EventView[]> => recentEvents(url, 1000, undefined, EVENT_FIELDS);

const eventsTotal = async (url: string) => (await realtimeMetrics(url)).eventsTotal;

function post(url: string, path: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<Response> {
  const payload = typeof body === "string" ? body : new Uint8Array(body);
  return fetch(`${url}${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: payload });
}

describe("PostHog ingestion with the real posthog-node client", () => {
  function posthogFor(host: string, options: ConstructorParameters<typeof PostHog>[1] = {}): PostHog {
    // flushAt 1: each capture is sent at once; compression stays at its default (gzip on).
    const client = new PostHog("phc_pulse_test", { host, flushAt: 1, flushInterval: 0, fetchRetryDelay: 10, ...options });
    onCleanup(() => client.shutdown());
    return client;
  }

  it("stores captured events (gzip) and delivers them to a live subscription with PostHog's fields mapped", async () => {
    const server = await startServer();
    const proxy = await startRecordingProxy(server.url);
    const live = streamClient("ws", server.url).subscribe(`subscription { events(filter: { events: ["signed_up"] }) { ${EVENT_FIELDS} } }`);
    await waitFor(() => server.hub.metrics().activeSubscriptions === 1, { what: "the subscription to start" });

    const posthog = posthogFor(proxy.url);
    const uuid = randomUUID();
    posthog.capture({
      distinctId: "ada@example.com",
      event: "signed_up",
      uuid,
      properties: { plan: "pro", $session_id: "session-7", $environment: "staging", $current_url: "https://example.com/join" },
    });
    await posthog.shutdown();

    const [stored] = await storedEvents(server.url);
    expect(stored).toMatchObject({
      id: uuid,
      event: "signed_up",
      distinctId: "ada@example.com",
      sessionId: "session-7",
      environment: "staging",
      properties: { plan: "pro", $session_id: "session-7", $lib: "posthog-node" },
    });
    await live.waitForResults(1);
    expect(live.values<EventView>("events")).toEqual([stored]);
    expect(graphqlErrors(live)).toEqual([]);

    // What the SDK really sent: a gzip-compressed POST /batch/.
    expect(proxy.requests.map((r) => [r.method, r.path, r.headers["content-encoding"]])).toEqual([["POST", "/batch/", "gzip"]]);
  });

  it("takes $set from identify into the person, and an unscoped key's events default to production", async () => {
    const server = await startServer();
    const posthog = posthogFor(server.url);

    posthog.identify({ distinctId: "bob", properties: { email: "bob@example.com" } });
    posthog.capture({ distinctId: "bob", event: "$pageview", properties: { $current_url: "https://example.com/pricing" } });
    await posthog.shutdown();

    const result = await gql<{
      recentEvents: { event: string; environment: string; person: { properties: Record<string, unknown> } }[];
      liveDashboard: { topPages: { path: string; count: number }[] };
    }>(server.url, "{ recentEvents { event environment person { properties } } liveDashboard { topPages { path count } } }");
    expect(result.data!.recentEvents.map((e) => e.event)).toEqual(["$pageview", "$identify"]);
    expect(result.data!.recentEvents.every((e) => e.environment === "production")).toBe(true);
    expect(result.data!.recentEvents[0]!.person.properties).toMatchObject({ email: "bob@example.com" });
    expect(result.data!.liveDashboard.topPages).toEqual([{ path: "/pricing", count: 1 }]);
  });

  it("deduplicates the SDK's own retry: the same uuid sent twice is stored and delivered once", async () => {
    const server = await startServer();
    // The first request reaches Pulse, but the SDK never sees the answer: it retries the same batch.
    const proxy = await startRecordingProxy(server.url, { dropResponses: 1 });
    const live = streamClient("ws", server.url).subscribe(`subscription { events { ${EVENT_FIELDS} } }`);
    await waitFor(() => server.hub.metrics().activeSubscriptions === 1, { what: "the subscription to start" });

    const posthog = posthogFor(proxy.url);
    posthog.capture({ distinctId: "ada", event: "purchase", properties: { amount: 42 } });
    await posthog.flush();
    posthog.capture({ distinctId: "ada", event: "after-the-retry" });
    await posthog.shutdown();

    // The batch, its retry (same bytes), then the next batch.
    expect(proxy.requests.map((r) => r.path)).toEqual(["/batch/", "/batch/", "/batch/"]);
    expect(proxy.requests[0]!.headers["content-length"]).toBe(proxy.requests[1]!.headers["content-length"]);
    expect((await storedEvents(server.url)).map((e) => e.event)).toEqual(["after-the-retry", "purchase"]);
    expect(await eventsTotal(server.url)).toBe(2);
    await live.waitForResults(2);
    expect(live.values<EventView>("events").map((e) => e.event)).toEqual(["purchase", "after-the-retry"]);
  });
});

describe("PostHog endpoints", () => {
  it.each(POSTHOG_CAPTURE_PATHS)("POST %s accepts a single event and answers like PostHog", async (path) => {
    const server = await startServer();
    const response = await post(server.url, path, JSON.stringify({ event: "hello", distinct_id: "u1", properties: { token: "phc" } }));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 1 });
    expect((await storedEvents(server.url)).map((e) => [e.event, e.distinctId])).toEqual([["hello", "u1"]]);
  });

  it("accepts an array of events, gzip announced only by ?compression=gzip-js, with sent_at in the _ parameter", async () => {
    const server = await startServer();
    const body = gzipSync(
      JSON.stringify([
        { event: "a", distinct_id: 42, properties: { $environment: "staging" } },
        { event: "b", properties: { distinct_id: "from-properties", $session_id: "s-1" } },
      ]),
    );
    const response = await post(server.url, `/e/?compression=gzip-js&_=${Date.now()}`, body, { "content-type": "text/plain" });
    expect(response.status).toBe(200);
    const events = await storedEvents(server.url);
    expect(events.map((e) => [e.event, e.distinctId, e.environment, e.sessionId])).toEqual([
      ["b", "from-properties", "production", "s-1"],
      ["a", "42", "staging", null],
    ]);
  });

  it("accepts posthog-js's form body: data= base64 JSON", async () => {
    const server = await startServer();
    const data = Buffer.from(JSON.stringify({ event: "from-form", distinct_id: "u" })).toString("base64");
    const response = await post(server.url, "/e/", `data=${encodeURIComponent(data)}&compression=base64`, {
      "content-type": "application/x-www-form-urlencoded",
    });
    expect(response.status).toBe(200);
    expect((await storedEvents(server.url)).map((e) => e.event)).toEqual(["from-form"]);
  });

  it("corrects a skewed client clock with sent_at: timestamp + (now - sent_at)", async () => {
    const server = await startServer();
    const hourAhead = 3_600_000;
    const before = Date.now();
    // The client's clock is an hour fast; the event happened 5 s before it was sent.
    const sentAt = Date.now() + hourAhead;
    // Within PULSE_MAX_EVENT_AGE_SECONDS (7 days): an older event would be refused, skew or not.
    const yesterday = new Date(Date.now() - 86_400_000).toISOString();
    const response = await post(
      server.url,
      "/batch/",
      JSON.stringify({
        api_key: "phc",
        sent_at: new Date(sentAt).toISOString(),
        batch: [
          { event: "skewed", distinct_id: "u", timestamp: new Date(sentAt - 5_000).toISOString() },
          { event: "ignored-skew", distinct_id: "u", timestamp: yesterday, properties: { $ignore_sent_at: true } },
          { event: "offset", distinct_id: "u", offset: 10_000 },
        ],
      }),
    );
    const after = Date.now();
    expect(response.status).toBe(200);
    const byName = new Map((await storedEvents(server.url)).map((e) => [e.event, Date.parse(e.timestamp)]));
    expect(byName.get("skewed")).toBeGreaterThanOrEqual(before - 5_000);
    expect(byName.get("skewed")).toBeLessThanOrEqual(after - 5_000);
    expect(byName.get("ignored-skew")).toBe(Date.parse(yesterday));
    expect(byName.get("offset")).toBeGreaterThanOrEqual(before - 10_000);
    expect(byName.get("offset")).toBeLessThanOrEqual(after - 10_000);
  });

  it("answers CORS preflights and reflects the page's origin, as PostHog's capture does", async () => {
    const server = await startServer();
    const preflight = await fetch(`${server.url}/e/`, {
      method: "OPTIONS",
      headers: { origin: "https://app.example", "access-control-request-method": "POST", "access-control-request-headers": "content-type" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("https://app.example");
    expect(preflight.headers.get("access-control-allow-methods")).toContain("POST");
    const response = await post(server.url, "/e/", JSON.stringify({ event: "x", distinct_id: "u" }), { origin: "https://app.example" });
    expect(response.headers.get("access-control-allow-origin")).toBe("https://app.example");
  });

  it("answers ?beacon=1 with 204", async () => {
    const server = await startServer();
    const response = await post(server.url, "/e/?beacon=1", JSON.stringify({ event: "x", distinct_id: "u" }));
    expect(response.status).toBe(204);
    expect(await eventsTotal(server.url)).toBe(1);
  });

  it.each([
    ["/s/", "session recording"],
    ["/api/surveys/", "surveys"],
  ])("refuses %s (%s) with 501 and a JSON error", async (path, feature) => {
    const server = await startServer();
    const response = await post(server.url, path, "{}");
    expect(response.status).toBe(501);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("NOT_IMPLEMENTED");
    expect(body.error.message).toContain(feature);
  });

  it("answers flags and remote config for any key: no flags, every remote feature off, autocapture allowed", async () => {
    const server = await startServer({ trust: { captureKeys: ["capture-key-0123456789abcdef"] } });
    for (const path of ["/flags/?v=2", "/decide/?v=3"]) {
      const response = await post(server.url, path, JSON.stringify({ token: "phc_unknown", distinct_id: "u" }), {
        origin: "https://app.example",
      });
      expect(response.status).toBe(200);
      expect(response.headers.get("access-control-allow-origin")).toBe("https://app.example");
      expect(response.headers.get("cache-control")).toBe("no-store");
      expect(await response.json()).toMatchObject({
        flags: {},
        featureFlags: {},
        errorsWhileComputingFlags: false,
        sessionRecording: false,
        autocapture_opt_out: false,
      });
    }

    const config = await fetch(`${server.url}/array/phc_key/config`, { headers: { origin: "https://app.example" } });
    expect(config.status).toBe(200);
    expect(config.headers.get("content-type")).toBe("application/json");
    expect(config.headers.get("access-control-allow-origin")).toBe("https://app.example");
    const remote = (await config.json()) as Record<string, unknown>;
    expect(remote).toMatchObject({
      hasFeatureFlags: false,
      autocapture_opt_out: false,
      sessionRecording: false,
      siteApps: [],
    });
    // Left out: with `surveys: false` posthog-js would still load its surveys script, which Pulse does not serve.
    expect(remote).not.toHaveProperty("surveys");

    // config.js, as posthog-js's default bundle loads it: a script that leaves the same config where it looks.
    const script = await fetch(`${server.url}/array/phc_a%22b%3C/config.js`);
    expect(script.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    const body = await script.text();
    expect(body).not.toContain("<");
    const window: { _POSTHOG_REMOTE_CONFIG?: Record<string, { config: unknown }> } = {};
    runInNewContext(body, { window });
    expect(window._POSTHOG_REMOTE_CONFIG).toEqual({ 'phc_a"b<': { config: remote, siteApps: [] } });

    expect((await fetch(`${server.url}/flags/`, { method: "PUT" })).status).toBe(405);
  });

  it("refuses GET on a capture endpoint with 405", async () => {
    const server = await startServer();
    const response = await fetch(`${server.url}/batch/`);
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("POST, OPTIONS");
  });
});

describe("PostHog ingestion refuses bad payloads with a typed error and stores nothing", () => {
  const valid = { event: "ok", distinct_id: "u" };
  const bomb = gzipSync(Buffer.alloc(8 * 1024 * 1024, 32));

  it.each<[string, string | Buffer, Record<string, string>, number, RegExp, string]>([
    ["malformed JSON", "{nope", {}, 400, /not valid JSON/, "body"],
    ["a body of another shape", JSON.stringify({ hello: 1 }), {}, 400, /must be a PostHog event/, "body"],
    ["an empty batch", JSON.stringify({ api_key: "k", batch: [] }), {}, 400, /no events/, "batch"],
    ["batch that is not an array", JSON.stringify({ batch: {} }), {}, 400, /^batch must be an array/, "batch"],
    ["a non-object event", JSON.stringify({ batch: [valid, 5] }), {}, 400, /^batch\[1\] must be a JSON object/, "batch[1]"],
    ["a missing event name", JSON.stringify({ batch: [valid, { distinct_id: "u" }] }), {}, 400, /^batch\[1\]\.event is required/, "event"],
    [
      "an empty event name",
      JSON.stringify({ batch: [valid, { event: "", distinct_id: "u" }] }),
      {},
      400,
      /^batch\[1\]\.event must not be empty/,
      "event",
    ],
    ["a missing distinct_id", JSON.stringify([valid, { event: "x" }]), {}, 400, /^\[1\]\.distinct_id is required/, "distinct_id"],
    [
      "an empty distinct_id",
      JSON.stringify({ event: "x", distinct_id: " " }),
      {},
      400,
      /^event\.distinct_id must not be empty/,
      "distinct_id",
    ],
    [
      "a uuid that is not a UUID",
      JSON.stringify({ batch: [valid, { ...valid, uuid: "42" }] }),
      {},
      400,
      /^batch\[1\]\.uuid must be a UUID/,
      "uuid",
    ],
    [
      "properties that are not an object",
      JSON.stringify({ batch: [{ ...valid, properties: [1] }] }),
      {},
      400,
      /^batch\[0\]\.properties must be a JSON object/,
      "properties",
    ],
    [
      "a garbage timestamp",
      JSON.stringify({ batch: [valid, { ...valid, timestamp: "yesterday" }] }),
      {},
      400,
      /^batch\[1\]\.timestamp "yesterday" is not a date-time/,
      "timestamp",
    ],
    [
      "an offset that is not a number",
      JSON.stringify({ batch: [{ ...valid, offset: "10" }] }),
      {},
      400,
      /^batch\[0\]\.offset must be a number/,
      "offset",
    ],
    [
      "an empty $environment",
      JSON.stringify({ batch: [{ ...valid, properties: { $environment: "" } }] }),
      {},
      400,
      /^batch\[0\]\.properties\.\$environment must not be empty/,
      "properties.$environment",
    ],
    [
      "events with different api keys",
      JSON.stringify([
        { ...valid, api_key: "a" },
        { ...valid, token: "b" },
      ]),
      {},
      400,
      /different api keys/,
      "api_key",
    ],
    ["gzip that is not gzip", "not gzip", { "content-encoding": "gzip" }, 400, /not valid gzip/, "body"],
    [
      "an unsupported Content-Encoding",
      JSON.stringify(valid),
      { "content-encoding": "br" },
      400,
      /Content-Encoding "br" is not supported/,
      "content-encoding",
    ],
    ["a form body without a data field", "N4Ig", { "content-type": "application/x-www-form-urlencoded" }, 400, /data field/, "data"],
    [
      "a body over the limit",
      JSON.stringify({ batch: [{ ...valid, properties: { big: "x".repeat(1_100_000) } }] }),
      {},
      413,
      /larger than 1048576 bytes/,
      "body",
    ],
    ["a gzip bomb (small compressed, 8 MiB inflated)", bomb, { "content-encoding": "gzip" }, 413, /larger than 1048576 bytes/, "body"],
  ])("%s", async (_, body, headers, status, message, field) => {
    const server = await startServer();
    const response = await post(server.url, "/batch/", body, headers);
    expect(response.status).toBe(status);
    const answer = (await response.json()) as { error: { code: string; message: string; field: string } };
    expect(answer.error.code).toBe("BAD_USER_INPUT");
    expect(answer.error.message).toMatch(message);
    expect(answer.error.field).toBe(field);
    expect(await eventsTotal(server.url)).toBe(0);
  });

  it("lz64 named in the query string is refused", async () => {
    const server = await startServer();
    const response = await post(server.url, "/e/?compression=lz64", "N4Ig", { "content-type": "text/plain" });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { message: string } }).error.message).toMatch(/lz64" is not supported/);
  });

  it("an event over the server's event limits (PULSE_MAX_EVENT_BYTES, ...), as over GraphQL", async () => {
    const server = await startServer({ trust: { maxEventBytes: 1024, maxPropertyDepth: 2 } });
    const big = await post(server.url, "/batch/", JSON.stringify({ batch: [{ ...valid, properties: { text: "x".repeat(2000) } }] }));
    expect(big.status).toBe(400);
    const bigAnswer = (await big.json()) as { error: { code: string; message: string } };
    expect(bigAnswer.error).toMatchObject({
      code: "BAD_USER_INPUT",
      message: expect.stringMatching(/the limit is 1024 \(PULSE_MAX_EVENT_BYTES\)/),
    });
    const deep = await post(server.url, "/batch/", JSON.stringify({ batch: [{ ...valid, properties: { a: { b: { c: 1 } } } }] }));
    expect(deep.status).toBe(400);
    expect(((await deep.json()) as { error: { message: string } }).error.message).toMatch(/PULSE_MAX_PROPERTY_DEPTH/);
    expect(await eventsTotal(server.url)).toBe(0);
  });

  it("more events than PULSE_MAX_BATCH", async () => {
    const server = await startServer({ maxBatch: 2 });
    const response = await post(server.url, "/batch/", JSON.stringify({ batch: [valid, valid, valid] }));
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { message: string } }).error.message).toMatch(/3 events, the limit is 2/);
    expect(await eventsTotal(server.url)).toBe(0);
  });
});

describe("PostHog ingestion's key check (authenticate)", () => {
  /** The handler alone on its own HTTP server, with a key check like the one the key store will provide. */
  async function ingestionWith(authenticate: AuthenticateCapture) {
    const hub = new Hub({
      bufferSize: 100,
      liveWindowSeconds: 60,
      dashboardWindowSeconds: 60,
      subscriberQueue: 10,
      personsCapacity: 10,
      clock: new ManualClock(),
    });
    const rateLimiter = new CaptureRateLimiter({ ratePerSecond: 1000, burst: 0 });
    const { ingest } = createApplication({ hub, limits: EVENT_LIMITS, maxBatch: 100, rateLimiter });
    const ingestion = createPostHogIngestion({ ingest, clock: hub.clock, maxBodyBytes: 1024 * 1024, authenticate });
    const { url } = await startHttpServer((req, res) => void ingestion.handle(req, res));
    return { hub, url };
  }

  const keys: AuthenticateCapture = (key) => {
    if (key === undefined) throw new PulseError("UNAUTHENTICATED", "No api key");
    if (key === "phc_staging") return { role: "capture", environment: "staging", keyId: "staging" };
    if (key === "read_only") throw new PulseError("FORBIDDEN", "This key may not capture");
    throw new PulseError("UNAUTHENTICATED", `Unknown api key`);
  };

  it("puts a scoped key's events into its environment, over $environment", async () => {
    const { hub, url } = await ingestionWith(keys);
    const posthog = new PostHog("phc_staging", { host: url, flushAt: 1, flushInterval: 0 });
    onCleanup(() => posthog.shutdown());
    posthog.capture({ distinctId: "u", event: "scoped", properties: { $environment: "production" } });
    await posthog.shutdown();
    expect(hub.stream.recent(10).map((e) => [e.event, e.environment])).toEqual([["scoped", "staging"]]);
  });

  it.each([
    ["no key", { event: "x", distinct_id: "u" }, {}, 401, "UNAUTHENTICATED"],
    ["an unknown key", { api_key: "nope", batch: [{ event: "x", distinct_id: "u" }] }, {}, 401, "UNAUTHENTICATED"],
    ["a key that may not capture", { event: "x", distinct_id: "u", properties: { token: "read_only" } }, {}, 403, "FORBIDDEN"],
    ["a bad Bearer key", { event: "x", distinct_id: "u" }, { authorization: "Bearer nope" }, 401, "UNAUTHENTICATED"],
  ])("refuses %s and stores nothing", async (_, body, headers, status, code) => {
    const { hub, url } = await ingestionWith(keys);
    const response = await post(url, "/batch/", JSON.stringify(body), headers);
    expect(response.status).toBe(status);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe(code);
    expect(hub.stream.size).toBe(0);
  });

  it("takes the key from Authorization: Bearer when the body has none", async () => {
    const { hub, url } = await ingestionWith(keys);
    const response = await post(url, "/e/", JSON.stringify({ event: "x", distinct_id: "u" }), { authorization: "Bearer phc_staging" });
    expect(response.status).toBe(200);
    expect(hub.stream.recent(1)[0]!.environment).toBe("staging");
  });
});

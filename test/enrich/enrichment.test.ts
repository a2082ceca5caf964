import { PostHog } from "posthog-node";
import { describe, expect, it } from "vitest";
import { USER_AGENT_CACHE_SIZE } from "../../src/enrich/user-agent.ts";
import type { PulseServer } from "../../src/index.ts";
import { codeOf, post, wsClient, type Result } from "../support/clients.ts";
import { CAPTURE_EVENT, CAPTURE_EVENTS, recentEvents, type CaptureInput } from "../support/events.ts";
import { onCleanup } from "../support/cleanup.ts";
import { recordingLogger } from "../support/logs.ts";
import { startServer } from "../support/server.ts";

const CHROME_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
const SAFARI_IPHONE =
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";

/** What the bundled database (@ip-location-db/geo-whois-asn-country-mmdb) says of these addresses. */
const GOOGLE_DNS = "8.8.8.8"; // US
const UK_ADDRESS = "81.2.69.142"; // GB

/** `captureEvent` over HTTP with the request headers given (User-Agent, X-Forwarded-For). */
async function captureWith(server: PulseServer, headers: Record<string, string>, input: CaptureInput): Promise<Result> {
  const answer = await post(server.url, JSON.stringify({ query: CAPTURE_EVENT, variables: { input } }), {
    "content-type": "application/json",
    ...headers,
  });
  return answer.body;
}

/** The properties of the newest stored event, as `recentEvents` reads them back. */
async function latestProperties(server: PulseServer): Promise<Record<string, unknown>> {
  const [event] = await recentEvents(server.url, 1);
  return event!.properties;
}

const page = (properties: Record<string, unknown> = {}): CaptureInput => ({
  event: "$pageview",
  distinctId: "ada",
  properties: { $current_url: "https://shop.example/pricing?utm_source=newsletter", ...properties },
});

describe("enrichment at capture", () => {
  it("gives GraphQL captures over HTTP the browser, OS and device type of their User-Agent", async () => {
    const server = await startServer();
    await captureWith(server, { "user-agent": CHROME_WINDOWS }, page());
    expect(await latestProperties(server)).toMatchObject({
      $browser: "Chrome",
      $browser_version: 120,
      $os: "Windows",
      $device_type: "Desktop",
    });
    await captureWith(server, { "user-agent": SAFARI_IPHONE }, page());
    expect(await latestProperties(server)).toMatchObject({
      $browser: "Mobile Safari",
      $browser_version: 17.4,
      $os: "iOS",
      $device_type: "Mobile",
    });
  });

  it("gives captures over a WebSocket the User-Agent of its upgrade request", async () => {
    const server = await startServer();
    const client = wsClient(server.url, { headers: { "user-agent": SAFARI_IPHONE } });
    const result = await new Promise<unknown>((resolve, reject) => {
      client.subscribe({ query: CAPTURE_EVENT, variables: { input: page() } }, { next: resolve, error: reject, complete: () => {} });
    });
    expect((result as Result).errors).toBeUndefined();
    expect(await latestProperties(server)).toMatchObject({ $browser: "Mobile Safari", $os: "iOS", $device_type: "Mobile" });
  });

  it("derives the path, campaign, referring domain and source from the page's URLs", async () => {
    const server = await startServer();
    await captureWith(server, {}, page({ $referrer: "https://www.google.de/search?q=pulse" }));
    expect(await latestProperties(server)).toMatchObject({
      $pathname: "/pricing",
      utm_source: "newsletter",
      $referring_domain: "www.google.de",
      $source: "Google",
    });
    await captureWith(server, {}, page());
    expect(await latestProperties(server)).toMatchObject({ $referring_domain: "$direct", $source: "Direct" });
  });

  it("reads the country of the address a trusted proxy forwarded, and ignores X-Forwarded-For otherwise", async () => {
    const behindProxy = await startServer({ trustedProxies: ["127.0.0.1"] });
    await captureWith(behindProxy, { "x-forwarded-for": `203.0.113.9, ${GOOGLE_DNS}` }, page());
    const forwarded = await latestProperties(behindProxy);
    expect(forwarded).toMatchObject({ $geoip_country_code: "US", $geoip_country_name: "United States" });
    expect(forwarded).not.toHaveProperty("$ip");

    const direct = await startServer();
    await captureWith(direct, { "x-forwarded-for": GOOGLE_DNS }, page());
    // The socket's peer is 127.0.0.1: no country for a loopback address.
    const properties = await latestProperties(direct);
    expect(properties).not.toHaveProperty("$geoip_country_code");
    expect(properties).toHaveProperty("$pathname", "/pricing");
  });

  it("charges an open server's capture rate to the forwarded address, each client its own budget", async () => {
    const rate = { captureRatePerSecond: 1, captureBurst: 0 };
    const behindProxy = await startServer({ trustedProxies: ["127.0.0.1"], trust: rate });
    expect((await captureWith(behindProxy, { "x-forwarded-for": GOOGLE_DNS }, page())).errors).toBeUndefined();
    expect(codeOf(await captureWith(behindProxy, { "x-forwarded-for": GOOGLE_DNS }, page()))).toBe("RATE_LIMITED");
    expect((await captureWith(behindProxy, { "x-forwarded-for": UK_ADDRESS }, page())).errors).toBeUndefined();

    const direct = await startServer({ trust: rate });
    expect((await captureWith(direct, { "x-forwarded-for": GOOGLE_DNS }, page())).errors).toBeUndefined();
    expect(codeOf(await captureWith(direct, { "x-forwarded-for": UK_ADDRESS }, page()))).toBe("RATE_LIMITED");
  });

  it("keeps the client's own values, whatever they are", async () => {
    const server = await startServer({ trustedProxies: ["127.0.0.1"] });
    const own = {
      $browser: "Pulse Browser",
      $os: null,
      $geoip_country_code: "FR",
      $pathname: "/mine",
      utm_source: "own",
      $referring_domain: "www.bing.com",
      $source: "Partner",
    };
    await captureWith(server, { "user-agent": CHROME_WINDOWS, "x-forwarded-for": GOOGLE_DNS }, page(own));
    // Own values stay; what the client left out is still derived.
    expect(await latestProperties(server)).toMatchObject({
      ...own,
      $browser_version: 120,
      $device_type: "Desktop",
      $geoip_country_name: "United States",
    });
  });

  it("skips the country for $geoip_disable, and reads it from the event's own $ip without storing it", async () => {
    const server = await startServer({ trustedProxies: ["127.0.0.1"] });
    await captureWith(server, { "x-forwarded-for": GOOGLE_DNS }, page({ $geoip_disable: true }));
    const disabled = await latestProperties(server);
    expect(disabled).not.toHaveProperty("$geoip_country_code");
    expect(disabled).toMatchObject({ $geoip_disable: true, $pathname: "/pricing" });

    // A backend capturing for a user: the user's address and browser, not the backend's.
    await captureWith(
      server,
      { "x-forwarded-for": GOOGLE_DNS, "user-agent": "posthog-node/5.70.0" },
      page({ $ip: UK_ADDRESS, $raw_user_agent: SAFARI_IPHONE }),
    );
    const onBehalf = await latestProperties(server);
    expect(onBehalf).toMatchObject({ $geoip_country_code: "GB", $geoip_country_name: "United Kingdom", $browser: "Mobile Safari" });
    expect(onBehalf).not.toHaveProperty("$ip");
  });

  it("stores $ip only with PULSE_STORE_IP: the event's own, else the client's address", async () => {
    const server = await startServer({ trustedProxies: ["127.0.0.1"], storeIp: true });
    await captureWith(server, { "x-forwarded-for": GOOGLE_DNS }, page());
    expect(await latestProperties(server)).toMatchObject({ $ip: GOOGLE_DNS, $geoip_country_code: "US" });
    await captureWith(server, { "x-forwarded-for": GOOGLE_DNS }, page({ $ip: UK_ADDRESS }));
    expect(await latestProperties(server)).toMatchObject({ $ip: UK_ADDRESS, $geoip_country_code: "GB" });
  });

  it("turns off by part, and still removes $ip when off", async () => {
    const server = await startServer({ trustedProxies: ["127.0.0.1"], enrich: ["url"] });
    await captureWith(server, { "user-agent": CHROME_WINDOWS, "x-forwarded-for": GOOGLE_DNS }, page({ $ip: UK_ADDRESS }));
    expect(await latestProperties(server)).toEqual({
      $current_url: "https://shop.example/pricing?utm_source=newsletter",
      $pathname: "/pricing",
      utm_source: "newsletter",
      $referring_domain: "$direct",
      $source: "Direct",
    });
    const none = await startServer({ enrich: [] });
    await captureWith(none, { "user-agent": CHROME_WINDOWS }, page({ $ip: UK_ADDRESS }));
    expect(await latestProperties(none)).toEqual({ $current_url: "https://shop.example/pricing?utm_source=newsletter" });
    expect(none.app.enrichment?.stats()).toEqual({ userAgentsCached: 0, geo: false });
  });

  it("gives posthog-node captures URL properties and applies the same $ip and $geoip_disable rules", async () => {
    const server = await startServer();
    const capture = async (options: { disableGeoip?: boolean }) => {
      const posthog = new PostHog("phc_enrich", { host: server.url, flushAt: 1, flushInterval: 0, ...options });
      onCleanup(() => posthog.shutdown());
      posthog.capture({
        distinctId: "bob",
        event: "$pageview",
        properties: {
          $current_url: "https://shop.example/docs/start?utm_campaign=launch",
          $referrer: "https://news.ycombinator.com/item?id=1",
          $ip: UK_ADDRESS,
        },
      });
      await posthog.shutdown();
      return latestProperties(server);
    };

    // posthog-node sends $geoip_disable: true unless told otherwise (its address is the backend's): no country.
    const byDefault = await capture({});
    expect(byDefault).toMatchObject({
      $pathname: "/docs/start",
      utm_campaign: "launch",
      $referring_domain: "news.ycombinator.com",
      $source: "Hacker News",
      $geoip_disable: true,
      $lib: "posthog-node",
    });
    expect(byDefault).not.toHaveProperty("$geoip_country_code");
    expect(byDefault).not.toHaveProperty("$ip");
    // posthog-node's own User-Agent names no browser: nothing is guessed.
    expect(byDefault).not.toHaveProperty("$browser");
    expect(byDefault).not.toHaveProperty("$device_type");

    // With geo on, the user's $ip gives the country, and is not stored.
    const withGeo = await capture({ disableGeoip: false });
    expect(withGeo).toMatchObject({ $geoip_country_code: "GB", $geoip_country_name: "United Kingdom", $source: "Hacker News" });
    expect(withGeo).not.toHaveProperty("$ip");
  });

  it("keeps the User-Agent cache at its cap under 20,000 distinct User-Agents", async () => {
    const server = await startServer({ trust: { captureRatePerSecond: 1_000_000, captureBurst: 0 } });
    for (let batch = 0; batch < 20; batch++) {
      const inputs = Array.from({ length: 1000 }, (_, i) => ({
        event: "flood",
        distinctId: "bot",
        properties: {
          $raw_user_agent: `Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${batch * 1000 + i}.0 Safari/537.36`,
        },
      }));
      const answer = await post(server.url, JSON.stringify({ query: CAPTURE_EVENTS, variables: { inputs } }));
      expect(answer.body.errors).toBeUndefined();
    }
    expect(server.app.enrichment?.stats().userAgentsCached).toBe(USER_AGENT_CACHE_SIZE);
    // The newest was parsed like any other.
    expect(await latestProperties(server)).toMatchObject({ $browser: "Chrome", $browser_version: 19999, $os: "Linux" });
  });

  it("starts without countries when the GeoIP database cannot be read, and says so", async () => {
    const logger = recordingLogger();
    const server = await startServer({ geoipDatabase: "/nonexistent/GeoLite2-Country.mmdb", trustedProxies: ["127.0.0.1"], logger });
    expect(logger.lines).toContainEqual(
      expect.objectContaining({
        level: "warn",
        message: expect.stringMatching(/GeoIP database unreadable/),
        fields: expect.objectContaining({ path: "/nonexistent/GeoLite2-Country.mmdb" }),
      }),
    );
    await captureWith(server, { "user-agent": CHROME_WINDOWS, "x-forwarded-for": GOOGLE_DNS }, page());
    const properties = await latestProperties(server);
    expect(properties).toMatchObject({ $browser: "Chrome", $pathname: "/pricing" });
    expect(properties).not.toHaveProperty("$geoip_country_code");
    expect(server.app.enrichment?.stats().geo).toBe(false);
  });
});

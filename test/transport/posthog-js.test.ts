import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { Request } from "playwright-core";
import { describe, expect, it } from "vitest";
import { launchBrowser } from "../support/browser.ts";
import { streamClient } from "../support/clients.ts";
import { recentEvents, waitForActive, type EventPayload } from "../support/events.ts";
import { startHttpServer } from "../support/http-server.ts";
import { startServer } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";

// posthog-js's own browser build, as a site loads it with a script tag (the variant that loads no further scripts).
const POSTHOG_JS = readFileSync(createRequire(import.meta.url).resolve("posthog-js/dist/array.no-external.js"), "utf8");

/** The instrumented site: its own origin, a page that loads posthog-js. */
async function startSite(): Promise<string> {
  const { url } = await startHttpServer((req, res) => {
    if (req.url === "/posthog.js") {
      res.writeHead(200, { "content-type": "text/javascript" }).end(POSTHOG_JS);
      return;
    }
    res.writeHead(200, { "content-type": "text/html" }).end('<!doctype html><title>shop</title><script src="/posthog.js"></script>');
  });
  return url;
}

// Pulse serves capture only (docs/posthog.md): the SDK's other features off, so it asks for nothing else.
const CAPTURE_ONLY = {
  advanced_disable_flags: true,
  advanced_disable_decide: true,
  disable_session_recording: true,
  disable_surveys: true,
};

describe("PostHog ingestion with the real posthog-js in Chromium", { timeout: 120_000 }, () => {
  it.each([
    ["configured for capture only", CAPTURE_ONLY, []],
    ["left at its defaults (remote config and flags answered 501)", {}, ["/array/phc_pulse_test/config", "/flags/"]],
  ])("captures from a page on another origin, %s", async (_, config, refused) => {
    const pulse = await startServer();
    const site = await startSite();
    const live = streamClient("ws", pulse.url).subscribe(
      'subscription { events(filter: { events: ["clicked_buy"] }) { id event distinctId sessionId } }',
    );
    await waitForActive(pulse.url, 1);

    const browser = await launchBrowser();
    const page = await browser.newPage();
    const toPulse: Request[] = [];
    const elsewhere: string[] = [];
    page.on("request", (request) => {
      if (request.url().startsWith(pulse.url)) toPulse.push(request);
      else if (!request.url().startsWith(site)) elsewhere.push(request.url());
    });
    const failures: string[] = [];
    page.on("requestfailed", (request) => failures.push(`${request.url()} ${request.failure()?.errorText}`));

    await page.goto(`${site}/checkout?step=2`);
    const answers: [string, number][] = [];
    page.on("response", (response) => {
      if (response.url().startsWith(pulse.url)) answers.push([new URL(response.url()).pathname, response.status()]);
    });
    const ids = await page.evaluate(
      ([host, config]) => {
        const posthog = (window as unknown as { posthog: PostHogPage }).posthog;
        posthog.init("phc_pulse_test", {
          api_host: host,
          ...config,
          autocapture: false,
          capture_pageview: false,
          persistence: "memory",
          // Headless Chromium's user agent says "HeadlessChrome": posthog-js would drop its events as a bot's.
          opt_out_useragent_filter: true,
        });
        posthog.capture("clicked_buy", { plan: "pro", $set: { tier: "gold" } });
        return { distinctId: posthog.get_distinct_id(), sessionId: posthog.get_session_id() };
      },
      [pulse.url, config] as const,
    );

    const [event] = await waitFor(
      async () => {
        const found = await recentEvents(
          pulse.url,
          10,
          { events: ["clicked_buy"] },
          "id event distinctId sessionId environment properties person { properties }",
        );
        return found.length > 0 ? found : null;
      },
      { what: "the posthog-js event in recentEvents", timeoutMs: 60_000 },
    );
    expect(event).toMatchObject({
      event: "clicked_buy",
      distinctId: ids.distinctId,
      sessionId: ids.sessionId,
      environment: "production",
      properties: { plan: "pro", $lib: "web", $current_url: `${site}/checkout?step=2` },
    });
    expect((event as EventPayload & { person: { properties: unknown } }).person.properties).toMatchObject({ tier: "gold" });
    await live.waitForResults(1);
    expect(live.values<{ id: string }>("events").map((e) => e.id)).toEqual([event!.id]);

    // It posted to a capture endpoint (200); anything else it asked for was refused with 501; nothing went elsewhere.
    expect(toPulse.some((r) => r.method() === "POST" && /^\/(e|i\/v0\/e|batch|capture)\/?$/.test(new URL(r.url()).pathname))).toBe(true);
    expect(answers.filter(([, status]) => status !== 200).sort()).toEqual(refused.map((path) => [path, 501]).sort());
    expect(failures).toEqual([]);
    expect(elsewhere).toEqual([]);
  });
});

interface PostHogPage {
  init(token: string, config: Record<string, unknown>): void;
  capture(event: string, properties?: Record<string, unknown>): void;
  get_distinct_id(): string;
  get_session_id(): string;
}

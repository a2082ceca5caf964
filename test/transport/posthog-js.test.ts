import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { Request } from "playwright-core";
import { describe, expect, it } from "vitest";
import { browserForFile } from "../support/browser.ts";
import { onCleanup } from "../support/cleanup.ts";
import { streamClient } from "../support/clients.ts";
import { recentEvents, waitForActive, type EventPayload } from "../support/events.ts";
import { startHttpServer } from "../support/http-server.ts";
import { startServer } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";

/** posthog-js's own browser builds, as a site loads them with a script tag. */
const BUNDLES = {
  // The default: it loads what it needs later with script tags of its own (the remote config as config.js first).
  "array.js": readFileSync(createRequire(import.meta.url).resolve("posthog-js/dist/array.js"), "utf8"),
  // The variant that loads no further scripts: it asks for the remote config as JSON.
  "array.no-external.js": readFileSync(createRequire(import.meta.url).resolve("posthog-js/dist/array.no-external.js"), "utf8"),
};
type Bundle = keyof typeof BUNDLES;

const browser = browserForFile();

/** The instrumented site: its own origin, a page that loads posthog-js (`bundle`) and has a button. */
async function startSite(bundle: Bundle): Promise<string> {
  const { url } = await startHttpServer((req, res) => {
    if (req.url === "/posthog.js") {
      res.writeHead(200, { "content-type": "text/javascript" }).end(BUNDLES[bundle]);
      return;
    }
    if (req.url === "/favicon.ico") {
      res.writeHead(204).end();
      return;
    }
    res
      .writeHead(200, { "content-type": "text/html" })
      .end('<!doctype html><title>shop</title><script src="/posthog.js"></script><button id="buy">Buy now</button>');
  });
  return url;
}

/** A page in a fresh profile, whose requests to Pulse, their answers, and console errors and warnings are kept. */
async function openPage(pulseUrl: string, site: string) {
  const context = await (await browser()).newContext();
  onCleanup(() => context.close());
  const page = await context.newPage();
  const toPulse: Request[] = [];
  const elsewhere: string[] = [];
  const answers: [string, number][] = [];
  const problems: string[] = [];
  page.on("request", (request) => {
    if (request.url().startsWith(pulseUrl)) toPulse.push(request);
    else if (!request.url().startsWith(site)) elsewhere.push(request.url());
  });
  page.on("response", (response) => {
    if (response.url().startsWith(pulseUrl)) answers.push([new URL(response.url()).pathname, response.status()]);
  });
  page.on("requestfailed", (request) => problems.push(`failed: ${request.url()} ${request.failure()?.errorText}`));
  page.on("console", (message) => {
    if (message.type() === "error" || message.type() === "warning") problems.push(`console ${message.type()}: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  return { page, toPulse, elsewhere, answers, problems };
}

const isCapture = (request: Request) =>
  request.method() === "POST" && /^\/(e|i\/v0\/e|batch|capture)\/?$/.test(new URL(request.url()).pathname);

// Headless Chromium under automation says "HeadlessChrome" and navigator.webdriver: posthog-js would drop its events as
// a bot's. Its own advice for end-to-end tests; it turns no feature off.
const NOT_A_BOT = { opt_out_useragent_filter: true };

// Pulse serves capture only (docs/posthog.md): the SDK's other features off, so it asks for nothing else.
const CAPTURE_ONLY = {
  advanced_disable_flags: true,
  advanced_disable_decide: true,
  disable_session_recording: true,
  disable_surveys: true,
};

describe("PostHog ingestion with the real posthog-js in Chromium", { timeout: 60_000 }, () => {
  it("captures from a page on another origin, configured for capture only", async () => {
    const pulse = await startServer();
    const site = await startSite("array.no-external.js");
    const live = streamClient("ws", pulse.url).subscribe(
      'subscription { events(filter: { events: ["clicked_buy"] }) { id event distinctId sessionId } }',
    );
    await waitForActive(pulse.url, 1);
    const { page, toPulse, elsewhere, answers, problems } = await openPage(pulse.url, site);

    await page.goto(`${site}/checkout?step=2`);
    const ids = await page.evaluate(
      ([host, config]) => {
        const posthog = (window as unknown as { posthog: PostHogPage }).posthog;
        posthog.init("phc_pulse_test", {
          api_host: host,
          ...config,
          autocapture: false,
          capture_pageview: false,
          persistence: "memory",
        });
        posthog.capture("clicked_buy", { plan: "pro", $set: { tier: "gold" } });
        return { distinctId: posthog.get_distinct_id(), sessionId: posthog.get_session_id() };
      },
      [pulse.url, { ...CAPTURE_ONLY, ...NOT_A_BOT }] as const,
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
      { what: "the posthog-js event in recentEvents", timeoutMs: 30_000 },
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

    // It posted to a capture endpoint and asked for nothing else; nothing went elsewhere.
    expect(toPulse.length).toBeGreaterThan(0);
    expect(toPulse.filter((request) => !isCapture(request)).map((request) => request.url())).toEqual([]);
    expect(answers.filter(([, status]) => status !== 200)).toEqual([]);
    expect(problems).toEqual([]);
    expect(elsewhere).toEqual([]);
  });

  it.each<[Bundle, string]>([
    ["array.js", "/array/phc_pulse_test/config.js"],
    ["array.no-external.js", "/array/phc_pulse_test/config"],
  ])("left at its defaults (%s), gets Pulse's remote config (%s), autocaptures clicks, and logs nothing", async (bundle, configPath) => {
    const pulse = await startServer();
    const site = await startSite(bundle);
    const { page, toPulse, elsewhere, answers, problems } = await openPage(pulse.url, site);

    await page.goto(`${site}/checkout`);
    await page.evaluate(
      ([host, notABot]) => (window as unknown as { posthog: PostHogPage }).posthog.init("phc_pulse_test", { api_host: host, ...notABot }),
      [pulse.url, NOT_A_BOT] as const,
    );
    // Autocapture starts once the remote config is in: click until a click is captured.
    const [click] = await waitFor(
      async () => {
        await page.click("#buy");
        const found = await recentEvents(pulse.url, 10, { events: ["$autocapture"] }, "id event distinctId properties");
        return found.length > 0 ? found : null;
      },
      { what: "a $autocapture event in recentEvents", timeoutMs: 30_000, intervalMs: 500 },
    );
    expect(click!.properties).toMatchObject({
      $event_type: "click",
      $el_text: "Buy now",
      $elements_chain: expect.stringContaining('button:attr__id="buy"'),
      $current_url: `${site}/checkout`,
    });
    const [pageview] = await recentEvents(pulse.url, 10, { events: ["$pageview"] }, "id event distinctId properties");
    expect(pageview).toMatchObject({ distinctId: click!.distinctId, properties: { $pathname: "/checkout" } });

    // What it asked Pulse for beside capture: the remote config, answered 200; nothing refused, nothing elsewhere.
    const asked = toPulse.filter((request) => !isCapture(request)).map((request) => new URL(request.url()).pathname);
    expect(asked).toContain(configPath);
    expect(
      asked.every((path) => /^\/(array\/phc_pulse_test\/config(\.js)?|flags\/|decide\/)$/.test(path)),
      asked.join(", "),
    ).toBe(true);
    expect(answers.filter(([, status]) => status !== 200)).toEqual([]);
    expect(problems).toEqual([]);
    expect(elsewhere).toEqual([]);
  });
});

interface PostHogPage {
  init(token: string, config: Record<string, unknown>): void;
  capture(event: string, properties?: Record<string, unknown>): void;
  get_distinct_id(): string;
  get_session_id(): string;
}

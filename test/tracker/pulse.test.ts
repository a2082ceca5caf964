import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { brotliDecompressSync, gzipSync } from "node:zlib";
import type { BrowserContext, Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { createTrackerRoute } from "../../src/transport/tracker.ts";
import type { PulseWindow } from "../../tracker/pulse.ts";
import { browserForFile } from "../support/browser.ts";
import { onCleanup } from "../support/cleanup.ts";
import { gqlData } from "../support/clients.ts";
import type { EventPayload } from "../support/events.ts";
import { startHttpServer } from "../support/http-server.ts";
import { KEYED, KEYS } from "../support/keys.ts";
import { exchange } from "../support/raw-http.ts";
import { startServer } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";

const browser = browserForFile();
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

type TrackedEvent = EventPayload & { sessionId: string | null };

/** The events Pulse holds, oldest first (recentEvents is newest first), read with the read key. */
async function events(pulseUrl: string, names?: string[]): Promise<TrackedEvent[]> {
  const data = await gqlData<{ recentEvents: TrackedEvent[] }>(
    pulseUrl,
    "query ($filter: EventFilter) { recentEvents(limit: 100, filter: $filter) { id event distinctId sessionId environment properties } }",
    { filter: names ? { events: names } : null },
    { key: KEYS.read },
  );
  return data.recentEvents.reverse();
}

/** Waits until Pulse holds `count` events (of `names`), and returns them oldest first. */
function eventsArrived(pulseUrl: string, count: number, names?: string[]): Promise<TrackedEvent[]> {
  let last: TrackedEvent[] = [];
  return waitFor(
    async () => {
      last = await events(pulseUrl, names);
      return last.length >= count ? last : null;
    },
    {
      what: () =>
        `${count} events ${names?.join(", ") ?? ""} (have: ${last.map((e) => `${e.event} ${String(e.properties["$pathname"])}`).join("; ")})`,
    },
  );
}

/**
 * The instrumented site, on an origin of its own: every path is a page that loads the tracker with the attributes
 * `tag(path)` gives (the script from Pulse unless the tag says otherwise), and a copy of the script at /copy/pulse.js.
 */
async function startSite(pulseUrl: string, tag: (path: string) => string): Promise<string> {
  const script = (await exchange(`${pulseUrl}/pulse.js`)).body;
  const { url } = await startHttpServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://site.invalid").pathname;
    if (path === "/copy/pulse.js") {
      res.writeHead(200, { "content-type": "text/javascript" }).end(script);
      return;
    }
    if (path === "/favicon.ico") {
      res.writeHead(204).end();
      return;
    }
    res.writeHead(200, { "content-type": "text/html" }).end(`<!doctype html><title>shop ${path}</title>${tag(path)}<p>${path}</p>`);
  });
  return url;
}

/** A fresh browser profile (no storage, no cookies) whose console errors, failed requests and requests to Pulse are kept. */
async function openPage(
  pulseUrl: string,
  init?: () => void,
): Promise<{ context: BrowserContext; page: Page; problems: string[]; toPulse: string[] }> {
  const context = await (await browser()).newContext({ viewport: { width: 1024, height: 700 } });
  onCleanup(() => context.close());
  if (init) await context.addInitScript(init);
  const page = await context.newPage();
  const problems: string[] = [];
  const toPulse: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error" || message.type() === "warning") problems.push(`console ${message.type()}: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("requestfailed", (request) => problems.push(`failed: ${request.url()} ${request.failure()?.errorText}`));
  page.on("request", (request) => {
    if (request.url().startsWith(pulseUrl)) toPulse.push(`${request.method()} ${new URL(request.url()).pathname}`);
  });
  return { context, page, problems, toPulse };
}

describe("GET /pulse.js", () => {
  it("serves the built script as JavaScript, cached briefly, compressed as built, at most 2 KB gzipped", async () => {
    const pulse = await startServer();
    const plain = await exchange(`${pulse.url}/pulse.js`);
    expect(plain.status).toBe(200);
    expect(plain.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    expect(plain.headers["cache-control"]).toBe("public, max-age=300");
    expect(plain.headers["content-encoding"]).toBeUndefined();
    expect(plain.body.toString()).toContain("pulse.js");
    expect(gzipSync(plain.body, { level: 9 }).length).toBeLessThanOrEqual(2048);

    const br = await exchange(`${pulse.url}/pulse.js`, { headers: { "accept-encoding": "gzip, br" } });
    expect(br.headers["content-encoding"]).toBe("br");
    expect(brotliDecompressSync(br.body).equals(plain.body)).toBe(true);

    const etag = plain.headers["etag"]!;
    expect(etag).toMatch(/^"[\w-]+"$/);
    const revalidated = await exchange(`${pulse.url}/pulse.js`, { headers: { "if-none-match": etag } });
    expect(revalidated.status).toBe(304);
    expect(revalidated.body.length).toBe(0);
    expect((await exchange(`${pulse.url}/pulse.js`, { method: "POST" })).status).toBe(405);
  });

  it("answers 503 naming the build command when the script was never built", async () => {
    const missing = join(mkdtempSync(join(tmpdir(), "pulse-tracker-")), "pulse.js");
    const { url } = await startHttpServer((req, res) => void createTrackerRoute(missing)(req, res));
    const answer = await exchange(`${url}/pulse.js`);
    expect(answer.status).toBe(503);
    expect(answer.body.toString()).toBe("tracker not built: run npm run build:tracker\n");
  });
});

describe("the tracker in Chromium, on a site of another origin", { timeout: 60_000 }, () => {
  it("sends $pageview on load and on SPA navigation, capture, identify and $pageleave, with no cookie and no console error", async () => {
    const pulse = await startServer({ trust: KEYED });
    const site = await startSite(pulse.url, () => `<script defer src="${pulse.url}/pulse.js" data-key="${KEYS.capture}"></script>`);
    const { context, page, problems, toPulse } = await openPage(pulse.url);

    await page.goto(`${site}/landing?utm_source=newsletter`, { referer: "https://search.example/?q=pulse" });
    const [first] = await eventsArrived(pulse.url, 1);
    expect(first).toMatchObject({
      event: "$pageview",
      environment: "production",
      properties: {
        $current_url: `${site}/landing?utm_source=newsletter`,
        $host: new URL(site).host,
        $pathname: "/landing",
        $referrer: "https://search.example/?q=pulse",
        $screen_width: expect.any(Number),
        $screen_height: expect.any(Number),
        $viewport_width: 1024,
        $viewport_height: 700,
        $lib: "pulse.js",
      },
    });
    const anonymous = first!.distinctId;
    expect(anonymous).toMatch(UUID);
    expect(first!.sessionId).toMatch(UUID);
    expect(first!.properties["$session_id"]).toBe(first!.sessionId);
    // The key travelled in the body, not into the event.
    expect(JSON.stringify(first)).not.toContain(KEYS.capture);

    // Each step waits for its event, so the order below is the order things happened in (beacons may travel on
    // parallel connections). A single-page app's navigation: a new path is a pageview, a query change is not.
    const arrived = (count: number) => eventsArrived(pulse.url, count);
    await page.evaluate(() => history.pushState({}, "", "/pricing"));
    await arrived(2);
    await page.evaluate(() => history.replaceState({}, "", "/pricing?plan=pro"));
    await page.evaluate(
      () =>
        new Promise<void>((popped) => {
          addEventListener("popstate", () => popped(), { once: true });
          history.back();
        }),
    );
    await arrived(3);
    await page.evaluate(() => (window as PulseWindow).pulse.capture("clicked_buy", { plan: "pro", $pathname: "/checkout" }));
    await arrived(4);
    await page.evaluate(() => (window as PulseWindow).pulse.identify("user-42", { email: "ada@example.com" }));
    await arrived(5);
    await page.evaluate(() => (window as PulseWindow).pulse.capture("after_identify"));
    await arrived(6);
    // A new document on the site: $pageleave for the last page, then a $pageview there, as the same user and session.
    await page.goto(`${site}/docs`);
    const all = await eventsArrived(pulse.url, 8);
    expect(all.map((e) => [e.event, e.properties["$pathname"], e.distinctId])).toEqual([
      ["$pageview", "/landing", anonymous],
      ["$pageview", "/pricing", anonymous],
      ["$pageview", "/landing", anonymous],
      ["clicked_buy", "/checkout", anonymous],
      ["$identify", "/landing", "user-42"],
      ["after_identify", "/landing", "user-42"],
      ["$pageleave", "/landing", "user-42"],
      ["$pageview", "/docs", "user-42"],
    ]);
    expect(new Set(all.map((e) => e.sessionId))).toEqual(new Set([first!.sessionId]));
    expect(all[1]!.properties["$current_url"]).toBe(`${site}/pricing`);
    expect(all[3]!.properties["plan"]).toBe("pro");
    expect(all[4]!.properties).toMatchObject({ $anon_distinct_id: anonymous, $set: { email: "ada@example.com" } });

    // Beacons with a plain-text body: no preflight, nothing but the script and the capture endpoint.
    expect(new Set(toPulse)).toEqual(new Set(["GET /pulse.js", "POST /e/"]));
    expect(await context.cookies()).toEqual([]);
    expect(await page.evaluate(() => Object.keys(localStorage).concat(Object.keys(sessionStorage)).sort())).toEqual([
      "pulse_id",
      "pulse_session",
    ]);
    expect(problems).toEqual([]);
  });

  it("sends nothing with data-respect-dnt when the browser asks not to be tracked, and keeps window.pulse callable", async () => {
    const pulse = await startServer({ trust: KEYED });
    const site = await startSite(pulse.url, (path) =>
      path === "/dnt"
        ? `<script defer src="${pulse.url}/pulse.js" data-key="${KEYS.capture}" data-respect-dnt></script>`
        : `<script defer src="${pulse.url}/pulse.js" data-key="${KEYS.capture}"></script>`,
    );
    const { page, problems, toPulse } = await openPage(pulse.url, () => {
      Object.defineProperty(Navigator.prototype, "doNotTrack", { get: () => "1" });
    });

    await page.goto(`${site}/dnt`);
    await page.evaluate(() => {
      (window as PulseWindow).pulse.capture("ignored");
      (window as PulseWindow).pulse.identify("nobody");
      history.pushState({}, "", "/dnt/next");
    });
    expect(toPulse).toEqual(["GET /pulse.js"]);
    // The same browser on a page without the attribute is tracked: only its pageview arrives.
    await page.goto(`${site}/tracked`);
    const arrived = await eventsArrived(pulse.url, 1);
    expect(arrived.map((e) => [e.event, e.properties["$pathname"]])).toEqual([["$pageview", "/tracked"]]);
    expect(problems).toEqual([]);
  });

  it("with data-persist=memory stores nothing; data-api sends to Pulse from a script served elsewhere; fetch when beacons fail", async () => {
    const pulse = await startServer({ trust: KEYED });
    const site = await startSite(
      pulse.url,
      () => `<script defer src="/copy/pulse.js" data-api="${pulse.url}/" data-key="${KEYS.stagingCapture}" data-persist="memory"
        data-environment="ignored-by-scoped-key"></script>`,
    );
    // A browser that refuses beacons (its queue full, say): the tracker falls back to fetch with keepalive, which
    // must pass CORS from the site's origin (a refusal would be a console error).
    const { context, page, problems, toPulse } = await openPage(pulse.url, () => {
      Navigator.prototype.sendBeacon = () => false;
    });
    await page.goto(`${site}/one`);
    await page.goto(`${site}/two`);

    const [one, two] = await eventsArrived(pulse.url, 3);
    expect([one!.event, two!.event]).toEqual(["$pageview", "$pageleave"]);
    const [, , three] = await events(pulse.url);
    expect(three).toMatchObject({ event: "$pageview", environment: "staging", properties: { $pathname: "/two" } });
    // Nothing kept: each page load is a new visitor and a new session.
    expect(three!.distinctId).not.toBe(one!.distinctId);
    expect(three!.sessionId).not.toBe(one!.sessionId);
    // Plain-text bodies, so no preflight (the page reports no request of a document being unloaded, hence a set).
    expect(new Set(toPulse)).toEqual(new Set(["POST /e/"]));
    expect(await page.evaluate(() => localStorage.length + sessionStorage.length)).toBe(0);
    expect(await context.cookies()).toEqual([]);
    // A keepalive request outlives its document: Chromium tells the page it was aborted when the page goes, though it
    // is still sent (the $pageleave above arrived through it).
    expect(problems.filter((problem) => !/^failed: \S+\/e\/\?beacon=1 net::ERR_ABORTED$/.test(problem))).toEqual([]);
  });
});

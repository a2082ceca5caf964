// Screenshots of the dashboard for docs/: a real Pulse (in this process) with half an hour of realistic traffic
// (about 40 visitors from several sources, countries and browsers), photographed in headless Chromium: empty, busy
// (light, dark, and the whole page), filtered by a source, and disconnected, at 1440×900; light and dark on a
// 390×844 phone. Writes dashboard.png (the README's), dashboard-{full,dark,filtered,empty,disconnected}.png and
// dashboard-phone{,-dark}.png.
//
//   npm run build:dashboard && node --import tsx scripts/dashboard-screenshots.ts [--out docs] [--serve]
//
// --serve keeps the seeded server running (its URL is printed) to look at by hand instead.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import chromium from "@sparticuz/chromium";
import { chromium as playwright, type Page } from "playwright-core";
import { createPulseServer, type PulseServer } from "../src/index.ts";

const { values: args } = parseArgs({ options: { out: { type: "string", default: "docs" }, serve: { type: "boolean", default: false } } });
const MINUTE = 60_000;

/** Receive time as the server sees it: the real clock, shifted back while the past half hour is replayed. */
let offset = 0;
const clock = { now: () => Date.now() + offset };

/** A small deterministic generator, so the screenshots change only when the page does. */
let state = 42;
const random = () => (state = (state * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
const pickWeighted = <C extends readonly (readonly [unknown, number])[]>(choices: C): C[number][0] => {
  let r = random() * choices.reduce((sum, [, w]) => sum + w, 0);
  for (const [value, weight] of choices) if ((r -= weight) < 0) return value;
  return choices[0]![0];
};

interface Source {
  readonly source: string;
  readonly referrer: string;
  /** utm_campaign, utm_source, utm_medium */
  readonly utm?: readonly [string, string, string];
}
const SOURCES: readonly (readonly [Source, number])[] = [
  [{ source: "Google", referrer: "https://www.google.com/" }, 30],
  [{ source: "Direct", referrer: "" }, 22],
  [{ source: "news.ycombinator.com", referrer: "https://news.ycombinator.com/item?id=1" }, 12],
  [{ source: "X", referrer: "https://t.co/abc" }, 8],
  [{ source: "GitHub", referrer: "https://github.com/pulse-analytics/pulse" }, 8],
  [{ source: "Reddit", referrer: "https://www.reddit.com/r/selfhosted/" }, 5],
  [{ source: "DuckDuckGo", referrer: "https://duckduckgo.com/" }, 4],
  [{ source: "Newsletter", referrer: "", utm: ["spring-launch", "newsletter", "email"] }, 10],
  [{ source: "LinkedIn", referrer: "https://www.linkedin.com/", utm: ["realtime-webinar", "linkedin", "social"] }, 4],
];
const COUNTRIES = [
  ["US", 30],
  ["DE", 12],
  ["GB", 10],
  ["FR", 7],
  ["IN", 7],
  ["BR", 5],
  ["CA", 5],
  ["NL", 4],
  ["JP", 4],
  ["SE", 3],
  ["PL", 3],
  ["AU", 3],
  ["ES", 3],
  ["NG", 2],
  ["KR", 2],
] as const;
const DEVICES = [
  [{ browser: "Chrome", os: "Windows", type: "Desktop" }, 26],
  [{ browser: "Chrome", os: "Mac OS X", type: "Desktop" }, 16],
  [{ browser: "Safari", os: "Mac OS X", type: "Desktop" }, 10],
  [{ browser: "Mobile Safari", os: "iOS", type: "Mobile" }, 16],
  [{ browser: "Chrome", os: "Android", type: "Mobile" }, 12],
  [{ browser: "Firefox", os: "Linux", type: "Desktop" }, 8],
  [{ browser: "Firefox", os: "Windows", type: "Desktop" }, 4],
  [{ browser: "Microsoft Edge", os: "Windows", type: "Desktop" }, 6],
  [{ browser: "Samsung Internet", os: "Android", type: "Mobile" }, 3],
  [{ browser: "Mobile Safari", os: "iOS", type: "Tablet" }, 3],
] as const;
const ENTRY_PAGES = [
  ["/", 40],
  ["/blog/realtime-analytics-without-cookies", 22],
  ["/pricing", 12],
  ["/docs", 12],
  ["/docs/getting-started", 8],
  ["/changelog", 6],
] as const;
const NEXT_PAGES = [
  ["/pricing", 30],
  ["/docs", 20],
  ["/docs/getting-started", 18],
  ["/docs/api", 10],
  ["/signup", 14],
  ["/blog", 8],
  ["/about", 5],
] as const;
const CUSTOM_EVENTS = [
  ["signup", 6],
  ["docs_search", 9],
  ["checkout_started", 4],
  ["plan_upgraded", 2],
  ["video_played", 5],
] as const;

interface Visit {
  readonly distinctId: string;
  readonly start: number;
  readonly events: { at: number; event: string; path: string }[];
  readonly properties: Record<string, unknown>;
}

/** About 40 visitors over the last 30 minutes, a dozen of them in the last two, each with a few pages and events. */
function visits(count = 40): Visit[] {
  return Array.from({ length: count }, (_, i) => {
    const recent = i >= count - 12;
    const start = recent ? -2 * MINUTE + random() * 1.5 * MINUTE : -30 * MINUTE + random() * 27 * MINUTE;
    const source = pickWeighted(SOURCES);
    const country = pickWeighted(COUNTRIES);
    const device = pickWeighted(DEVICES);
    const entry = pickWeighted(ENTRY_PAGES);
    const session = `s-${i}-${Math.floor(random() * 1e9).toString(36)}`;
    const query = source.utm ? `?utm_campaign=${source.utm[0]}&utm_source=${source.utm[1]}&utm_medium=${source.utm[2]}` : "";
    const properties: Record<string, unknown> = {
      $session_id: session,
      $source: source.source,
      $referrer: source.referrer || "$direct",
      $referring_domain: source.referrer ? new URL(source.referrer).host : "$direct",
      $geoip_country_code: country,
      $browser: device.browser,
      $os: device.os,
      $device_type: device.type,
      $screen_width: device.type === "Desktop" ? 1920 : 390,
      ...(source.utm ? { utm_campaign: source.utm[0], utm_source: source.utm[1], utm_medium: source.utm[2] } : {}),
    };
    const events = [{ at: start, event: "$pageview", path: entry + query }];
    let at = start;
    for (let n = Math.floor(random() * 5); n > 0; n--) {
      at += 10_000 + random() * 70_000;
      if (at > -5_000) break;
      if (random() < 0.3) events.push({ at, event: pickWeighted(CUSTOM_EVENTS), path: events[events.length - 1]!.path });
      else events.push({ at, event: "$pageview", path: pickWeighted(NEXT_PAGES) });
    }
    return { distinctId: `visitor-${(i * 7919).toString(36)}`, start, events, properties };
  });
}

/** Replays the visits in time order, the server's clock set to each event's time. */
async function seed(server: PulseServer, list: readonly Visit[]): Promise<void> {
  const all = list.flatMap((v) => v.events.map((e) => ({ visit: v, ...e }))).sort((a, b) => a.at - b.at);
  for (const { visit, at, event, path } of all) {
    offset = at;
    const url = new URL(path, "https://pulse-demo.example");
    await capture(server.url, {
      event,
      distinctId: visit.distinctId,
      properties: { ...visit.properties, $current_url: url.href, $pathname: url.pathname, $host: url.host },
    });
  }
  offset = 0;
}

async function capture(url: string, input: Record<string, unknown>): Promise<void> {
  const response = await fetch(`${url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query: "mutation ($input: CaptureEventInput!) { captureEvent(input: $input) { id } }", variables: { input } }),
  });
  const body = (await response.json()) as { errors?: unknown };
  if (body.errors) throw new Error(`capture failed: ${JSON.stringify(body.errors)}`);
}

async function shoot(page: Page, name: string, options: { fullPage?: boolean } = {}): Promise<void> {
  await page.waitForTimeout(600);
  const path = join(args.out, `${name}.png`);
  await page.screenshot({ path, fullPage: options.fullPage ?? false });
  console.log(`wrote ${path}`);
}

async function waitForLive(page: Page): Promise<void> {
  await page.waitForFunction(() => document.getElementById("status")?.textContent === "live", undefined, { timeout: 15_000 });
}

const server = await createPulseServer({ port: 0, host: "127.0.0.1", clock, logLevel: "warn" });
await server.ready;
mkdirSync(args.out, { recursive: true });
const browser = await playwright.launch({
  executablePath: await chromium.executablePath(),
  args: ["--headless", "--no-sandbox", "--disable-gpu"],
});
try {
  const desktop = { viewport: { width: 1440, height: 900 } };
  const phone = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

  if (!args.serve) {
    const page = await browser.newPage(desktop);
    await page.goto(`${server.url}/`);
    await waitForLive(page);
    await page.waitForSelector("#empty:not([hidden])");
    await shoot(page, "dashboard-empty");
    await page.close();
  }

  const seeded = visits();
  await seed(server, seeded);
  if (args.serve) {
    console.log(`Pulse with demo traffic at ${server.url}/ (Ctrl+C to stop)`);
    await new Promise(() => {});
  }
  // Keep a trickle coming from the visitors still on the site, so the stream and the chart's last minute move.
  const trickle = setInterval(() => {
    const visit = seeded[seeded.length - 1 - Math.floor(random() * 12)]!;
    const custom = random() < 0.25;
    const path = custom ? "/pricing" : pickWeighted(NEXT_PAGES);
    void capture(server.url, {
      event: custom ? pickWeighted(CUSTOM_EVENTS) : "$pageview",
      distinctId: visit.distinctId,
      properties: { ...visit.properties, $pathname: path, $current_url: `https://pulse-demo.example${path}` },
    });
  }, 3000);

  for (const scheme of ["light", "dark"] as const) {
    const page = await browser.newPage({ ...desktop, colorScheme: scheme });
    await page.goto(`${server.url}/`);
    await waitForLive(page);
    await page.waitForSelector("#map svg");
    await shoot(page, scheme === "light" ? "dashboard" : "dashboard-dark");
    if (scheme === "light") {
      await shoot(page, "dashboard-full", { fullPage: true });
      await page.locator("#sources .row", { hasText: "Google" }).click();
      await page.waitForSelector(".chip");
      await waitForLive(page);
      await shoot(page, "dashboard-filtered");
    }
    await page.close();

    const mobile = await browser.newPage({ ...phone, colorScheme: scheme });
    await mobile.goto(`${server.url}/`);
    await waitForLive(mobile);
    await mobile.waitForSelector("#map svg");
    await shoot(mobile, scheme === "light" ? "dashboard-phone" : "dashboard-phone-dark");
    await mobile.close();
  }
  clearInterval(trickle);

  const page = await browser.newPage(desktop);
  await page.goto(`${server.url}/`);
  await waitForLive(page);
  await server.close();
  await page.waitForSelector("#offline:not([hidden])", { timeout: 15_000 });
  await shoot(page, "dashboard-disconnected");
} finally {
  await browser.close();
  await server.close().catch(() => {});
}

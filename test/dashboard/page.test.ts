import { createRequire } from "node:module";
import { mkdirSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHROMIUM } from "../support/browser.ts";
import { onCleanup } from "../support/cleanup.ts";
import { captureEvent, type CaptureInput } from "../support/events.ts";
import { startServer } from "../support/server.ts";

// Bounded polling (not a timing assertion): the page gets a push every second; 8 s of margin on a noisy machine.
const WAIT = { timeout: 8000, interval: 100 };
const AXE = createRequire(import.meta.url).resolve("axe-core/axe.min.js");

let browser: Browser;
beforeAll(async () => {
  browser = await chromium.launch(CHROMIUM);
});
afterAll(() => browser?.close());

/** A page on `url` in a context of its own, closed after the test; uncaught page errors are collected. */
async function open(url: string, viewport = { width: 1440, height: 900 }): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport });
  onCleanup(() => context.close());
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(url);
  return { page, errors };
}

const visit = (distinctId: string, properties: Record<string, unknown>, event = "$pageview"): CaptureInput => ({
  event,
  distinctId,
  properties: { $session_id: `session-${distinctId}`, ...properties },
});

const text = (page: Page, selector: string) => page.locator(selector).innerText();

describe("dashboard page", () => {
  it("shows the tracking snippet until the first event, with a working copy button", async () => {
    const pulse = await startServer();
    const { page, errors } = await open(`${pulse.url}/`);
    await page.context().grantPermissions(["clipboard-read", "clipboard-write"], { origin: pulse.url });

    await expect.poll(() => page.locator("#empty").isVisible(), WAIT).toBe(true);
    // A Pulse without keys: the tracker needs none.
    const snippet = `<script defer src="${pulse.url}/pulse.js"></script>`;
    expect(await page.locator("#snippet").textContent()).toBe(snippet);
    expect(await page.locator("#widgets").isVisible()).toBe(false);
    await page.getByRole("button", { name: "Copy" }).click();
    await expect.poll(() => page.locator("#copy-status").textContent(), WAIT).toBe("Copied.");
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(snippet);

    await captureEvent(pulse.url, visit("ada", { $pathname: "/" }));
    await expect.poll(() => page.locator("#widgets").isVisible(), WAIT).toBe(true);
    expect(await page.locator("#empty").isVisible()).toBe(false);
    expect(errors).toEqual([]);
  });

  it("fills every widget, filters them all by a clicked row, works at 375 px, light and dark, and dims while Pulse is away", async () => {
    const pulse = await startServer();
    const { page, errors } = await open(`${pulse.url}/`);
    await expect.poll(() => page.locator("#status").textContent(), WAIT).toBe("live");

    const ada = { $source: "Google", $geoip_country_code: "DE", $browser: "Firefox", $os: "Linux", $device_type: "Desktop" };
    const bob = { $source: "Direct", $geoip_country_code: "US", $browser: "Chrome", $os: "Windows", $device_type: "Desktop" };
    await captureEvent(
      pulse.url,
      visit("ada", { ...ada, $pathname: "/pricing", utm_campaign: "spring", $current_url: "https://shop.example/pricing" }),
    );
    await captureEvent(pulse.url, visit("ada", { ...ada, $pathname: "/docs" }));
    await captureEvent(pulse.url, visit("bob", { ...bob, $pathname: "/about" }));
    await captureEvent(pulse.url, visit("ada", { ...ada, $current_url: "https://shop.example/checkout?plan=pro" }, "signup"));

    // The numbers, the chart with both axes and its table.
    await expect.poll(() => text(page, "#live-users"), WAIT).toBe("2");
    await expect.poll(() => text(page, "#events-total"), WAIT).toBe("4");
    await expect.poll(() => text(page, "#pageviews-total"), WAIT).toBe("3");
    expect(await text(page, "#visitors-total")).toBe("2");
    expect(await page.locator("#chart .grid text").count()).toBeGreaterThanOrEqual(2);
    expect(await page.locator("#chart .axis text").count()).toBeGreaterThanOrEqual(2);
    expect(await page.locator("#chart .bars rect").count()).toBeGreaterThanOrEqual(1);
    expect(await page.locator("#chart svg").getAttribute("aria-label")).toMatch(/4 events/);
    expect(await page.locator("#chart-rows tr").count()).toBe(30);

    // Each breakdown where it belongs.
    await expect.poll(() => text(page, "#sources .rows"), WAIT).toMatch(/Google[\s\S]*Direct|Direct[\s\S]*Google/);
    await expect.poll(() => text(page, "#pages .rows"), WAIT).toContain("/pricing");
    await page.getByRole("tab", { name: "Entry pages" }).click();
    await expect.poll(() => text(page, "#pages .rows"), WAIT).toMatch(/^\/pricing[\s\S]*\/about|^\/about[\s\S]*\/pricing/);
    expect(await text(page, "#pages .rows")).not.toContain("/docs");
    await expect.poll(() => text(page, "#locations .rows"), WAIT).toMatch(/Germany/);
    expect(await text(page, "#locations .rows")).toMatch(/United States/);
    await expect.poll(() => page.locator("#map path.visited").count(), WAIT).toBe(2);
    await expect.poll(() => text(page, "#devices .rows"), WAIT).toContain("Firefox");
    const os = page.getByRole("tab", { name: "OS" });
    await page.getByRole("tab", { name: "Browser" }).focus();
    await page.keyboard.press("ArrowRight");
    expect(await os.getAttribute("aria-selected")).toBe("true");
    await expect.poll(() => text(page, "#devices .rows"), WAIT).toContain("Linux");
    await expect.poll(() => text(page, "#campaigns .rows"), WAIT).toContain("spring");
    await expect.poll(() => text(page, "#custom-events .rows"), WAIT).toContain("signup");
    expect(await text(page, "#custom-events .rows")).not.toContain("$pageview");

    // The stream: each row with its path (from $pathname or $current_url) and how long ago.
    await expect.poll(() => page.locator("#stream li").count(), WAIT).toBe(4);
    const newest = await text(page, "#stream li:first-child");
    expect(newest).toContain("signup");
    expect(newest).toContain("/checkout");
    expect(newest).toContain("now");

    // A click on a row: a chip, the URL, and every widget narrowed to it.
    await page.locator("#sources button.row", { hasText: "Google" }).click();
    await expect.poll(() => page.locator("#chips .chip").innerText(), WAIT).toContain("Source is Google");
    expect(new URL(page.url()).search).toBe("?prop=%24source&op=EQUALS&value=Google");
    await expect.poll(() => text(page, "#live-users"), WAIT).toBe("1");
    await expect.poll(() => text(page, "#devices .rows"), WAIT).not.toContain("Windows");
    expect(await text(page, "#locations .rows")).not.toMatch(/United States/);
    expect(await text(page, "#sources .rows")).not.toContain("Direct");
    await captureEvent(pulse.url, visit("cy", { ...bob, $pathname: "/direct-only" }));
    await captureEvent(pulse.url, visit("dee", { ...ada, $pathname: "/from-google" }));
    await expect.poll(() => text(page, "#stream"), WAIT).toContain("/from-google");
    expect(await text(page, "#stream")).not.toContain("/direct-only");
    await expect.poll(() => text(page, "#pages .rows"), WAIT).toContain("/from-google");
    expect(await text(page, "#pages .rows")).not.toContain("/direct-only");

    // The URL is the view: opened elsewhere, it shows the same chip; removing the chip widens everything again.
    await page.reload();
    await expect.poll(() => page.locator("#chips .chip").innerText(), WAIT).toContain("Source is Google");
    await expect.poll(() => text(page, "#live-users"), WAIT).toBe("2");
    await page.getByRole("button", { name: "Remove filter: Source is Google" }).click();
    expect(new URL(page.url()).search).toBe("");
    await expect.poll(() => text(page, "#live-users"), WAIT).toBe("4");

    // Any condition by hand: Add filter.
    await page.getByText("Add filter").click();
    await page.getByLabel("Property").fill("$browser");
    await page.getByLabel("Operator").selectOption("NOT_EQUALS");
    await page.getByLabel("Value").fill("Chrome");
    await page.getByRole("button", { name: "Add", exact: true }).click();
    await expect.poll(() => page.locator("#chips .chip").innerText(), WAIT).toContain("Browser is not Chrome");
    expect(new URL(page.url()).search).toBe("?prop=%24browser&op=NOT_EQUALS&value=Chrome");
    await expect.poll(() => text(page, "#live-users"), WAIT).toBe("2");
    await page.getByRole("button", { name: "Remove filter: Browser is not Chrome" }).click();
    await expect.poll(() => text(page, "#live-users"), WAIT).toBe("4");

    // A phone: nothing wider than the screen. Then an accessibility audit in light and dark.
    await page.setViewportSize({ width: 375, height: 812 });
    await expect.poll(() => page.evaluate(() => document.documentElement.scrollWidth), WAIT).toBeLessThanOrEqual(375);
    // The toggle overrides the system's scheme (Auto → Light → Dark), and is remembered.
    const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    await page.emulateMedia({ colorScheme: "dark" });
    await page.getByRole("button", { name: /Colour theme: automatic/ }).click();
    expect(await background()).toBe("rgb(243, 244, 246)");
    await page.getByRole("button", { name: /Colour theme: light/ }).click();
    await page.emulateMedia({ colorScheme: "light" });
    expect(await background()).toBe("rgb(14, 16, 22)");
    await page.getByRole("button", { name: /Colour theme: dark/ }).click();
    expect(await page.evaluate(() => localStorage.getItem("pulse.theme"))).toBe("auto");

    await page.addScriptTag({ path: AXE });
    for (const scheme of ["light", "dark"] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      expect(await background()).toBe(scheme === "light" ? "rgb(243, 244, 246)" : "rgb(14, 16, 22)");
      const violations = await page.evaluate(async () => {
        const axe = (window as unknown as { axe: { run(o: object): Promise<{ violations: { id: string; nodes: unknown[] }[] }> } }).axe;
        const result = await axe.run({ runOnly: ["wcag2a", "wcag2aa"] });
        return result.violations.map((v) => `${v.id} (${v.nodes.length})`);
      });
      expect(violations, scheme).toEqual([]);
    }
    mkdirSync("test-artifacts", { recursive: true });
    await page.screenshot({ path: "test-artifacts/dashboard-phone.png", fullPage: true });

    // Pulse goes away: the numbers stay, dimmed, under a banner that says since when.
    await pulse.close();
    await expect.poll(() => page.locator("#offline").isVisible(), WAIT).toBe(true);
    expect(await text(page, "#offline")).toMatch(/^Disconnected since \d\d:\d\d:\d\d — reconnecting…$/);
    expect(await page.locator("#main").getAttribute("class")).toContain("stale");
    expect(await text(page, "#status")).toBe("reconnecting");
    expect(await text(page, "#live-users")).toBe("4");

    // Back on the same port: live again by itself, the banner gone.
    await startServer({ port: Number(new URL(pulse.url).port) });
    await expect.poll(() => text(page, "#status"), { timeout: 15_000, interval: 200 }).toBe("live");
    expect(await page.locator("#offline").isVisible()).toBe(false);
    expect(await page.locator("#main").getAttribute("class")).not.toContain("stale");
    expect(errors).toEqual([]);
  }, 60_000);
});

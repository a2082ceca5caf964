import { mkdirSync } from "node:fs";
import type { Browser } from "playwright-core";
import { describe, expect, it } from "vitest";
import { launchBrowser } from "../support/browser.ts";
import { freePort, startPulseProcess, tempDatabaseUrl } from "../support/process.ts";
import { captureEvent } from "../support/events.ts";

// Bounded polling (not a timing assertion): the issue asks for updates within 2 s; 8 s of margin on a noisy machine.
const WAIT = { timeout: 8000, interval: 100 };

describe("dashboard page", () => {
  it("shows live users, chart, top pages and stream; filters; recovers after a restart; stays on its origin", async () => {
    const port = await freePort();
    const database = { DATABASE_URL: tempDatabaseUrl() };
    let pulse = await startPulseProcess(database, { port });
    const browser: Browser = await launchBrowser();
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    const foreign: string[] = [];
    const consoleErrors: string[] = [];
    page.on("request", (r) => {
      if (!r.url().startsWith(pulse.url) && !r.url().startsWith(`ws://127.0.0.1:${port}`)) foreign.push(r.url());
    });
    page.on("console", (m) => {
      if (m.type() === "error") consoleErrors.push(m.text());
    });

    await page.goto(`${pulse.url}/`);
    await expect.poll(() => page.locator("#status").textContent(), WAIT).toBe("live");
    await captureEvent(pulse.url, { event: "$pageview", distinctId: "ada", properties: { $pathname: "/pricing", plan: "pro" } });
    await captureEvent(pulse.url, { event: "signup", distinctId: "bob", properties: { plan: "free" } });

    await expect.poll(() => page.locator("#live-users").textContent(), WAIT).toBe("2");
    await expect.poll(() => page.locator("#chart rect").count(), WAIT).toBe(30);
    await expect.poll(() => page.locator("#pages").textContent(), WAIT).toContain("/pricing");
    await expect.poll(() => page.locator("#breakdown").textContent(), WAIT).toContain("signup");
    await expect.poll(() => page.locator("#stream li").count(), WAIT).toBe(2);
    await expect.poll(() => page.locator("#stream li").first().textContent(), WAIT).toContain("signup");

    await page.locator("#stream li button").first().click();
    await expect.poll(() => page.locator("#detail-body").textContent(), WAIT).toContain('"plan": "free"');
    await page.keyboard.press("Escape");

    mkdirSync("test-artifacts", { recursive: true });
    await page.screenshot({ path: "test-artifacts/dashboard-wide.png" });

    await page.fill("input[name=events]", "$pageview");
    await page.click("#filters button[type=submit]");
    await expect.poll(() => page.url(), WAIT).toMatch(/events=%24pageview/);
    await expect.poll(() => page.locator("#status").textContent(), WAIT).toBe("live");
    await captureEvent(pulse.url, { event: "signup", distinctId: "cy" });
    await captureEvent(pulse.url, { event: "$pageview", distinctId: "dee", properties: { $pathname: "/docs" } });
    await expect.poll(() => page.locator("#stream li").count(), WAIT).toBe(1);
    await expect.poll(() => page.locator("#stream li").textContent(), WAIT).toContain("dee");

    pulse.child.kill("SIGTERM");
    await pulse.exited;
    await expect.poll(() => page.locator("#status").textContent(), WAIT).not.toBe("live");
    pulse = await startPulseProcess(database, { port });
    await expect.poll(() => page.locator("#status").textContent(), { timeout: 20_000 }).toBe("live");
    await captureEvent(pulse.url, { event: "$pageview", distinctId: "eve", properties: { $pathname: "/back" } });
    await expect.poll(() => page.locator("#stream li").first().textContent(), WAIT).toContain("eve");
    await expect.poll(() => page.locator("#pages").textContent(), WAIT).toContain("/back");

    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: "test-artifacts/dashboard-phone.png", fullPage: true });

    expect(foreign).toEqual([]);
    // While the server is down or restoring (it listens, answering 503 UNAVAILABLE until restored), the page's
    // reconnect attempts fail; Chromium logs each failed load, which is not an error of the page.
    expect(consoleErrors.filter((e) => !/ERR_CONNECTION_REFUSED|WebSocket connection|status of 503/.test(e))).toEqual([]);
  }, 90_000);
});

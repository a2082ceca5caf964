import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHROMIUM } from "../support/browser.ts";
import { onCleanup } from "../support/cleanup.ts";
import { gqlData } from "../support/clients.ts";
import { CAPTURE } from "../support/events.ts";
import { KEYED, KEYS } from "../support/keys.ts";
import { startServer } from "../support/server.ts";

const WAIT = { timeout: 8000, interval: 100 };

let browser: Browser;
beforeAll(async () => {
  browser = await chromium.launch(CHROMIUM);
});
afterAll(() => browser?.close());

async function newPage(): Promise<Page> {
  const context = await browser.newContext();
  onCleanup(() => context.close());
  return context.newPage();
}

const problem = (page: Page) => page.locator("#problem-text").innerText();
const stored = (page: Page) =>
  page.evaluate(() => ({ session: sessionStorage.getItem("pulse.readKey"), local: localStorage.getItem("pulse.readKey") }));

async function enterKey(page: Page, key: string, remember = false): Promise<void> {
  await page.getByLabel("Read key", { exact: true }).fill(key);
  await page.getByLabel("Remember on this device").setChecked(remember);
  await page.getByRole("button", { name: "Connect" }).click();
}

describe("dashboard page on a Pulse with keys", () => {
  for (const transport of ["ws", "sse"] as const) {
    it(`says what is wrong with the key (${transport}), keeps a good one for the tab only, never in the URL`, async () => {
      const pulse = await startServer({ trust: KEYED });
      const page = await newPage();
      await page.goto(`${pulse.url}/`);
      if (transport === "sse") {
        await page.evaluate(() => sessionStorage.setItem("pulse.transport", "sse"));
        await page.reload();
      }

      await expect.poll(() => problem(page), WAIT).toMatch(/needs a read key/);
      expect(await page.locator("#status").innerText()).toBe("stopped");
      expect(await page.locator("#status").getAttribute("data-transport")).toBe(transport);

      await enterKey(page, "not-a-key-of-this-server-0123");
      await expect.poll(() => problem(page), WAIT).toMatch(/did not accept this read key \(401 UNAUTHENTICATED\)/);
      expect(await stored(page)).toEqual({ session: null, local: null });

      // A capture key is a real key, but one that may only send: the page says so rather than showing empty cards.
      await enterKey(page, KEYS.capture, true);
      await expect.poll(() => problem(page), WAIT).toMatch(/That is a capture key: it can send events but not read them \(403 FORBIDDEN\)/);
      expect(await stored(page)).toEqual({ session: null, local: null });

      await enterKey(page, KEYS.read);
      await expect.poll(() => page.locator("#status").innerText(), WAIT).toBe("live");
      expect(await page.locator("#problem").isVisible()).toBe(false);
      expect(await stored(page)).toEqual({ session: KEYS.read, local: null });
      expect(page.url()).not.toContain(KEYS.read);
      // Nothing captured yet: the tracker's line, with the place of the capture key (never the read key).
      await expect
        .poll(() => page.locator("#snippet").textContent(), WAIT)
        .toBe(`<script defer src="${pulse.url}/pulse.js" data-key="YOUR_CAPTURE_KEY"></script>`);
      await gqlData(pulse.url, CAPTURE, { input: { event: "signup", distinctId: "keyed-visitor" } }, { key: KEYS.capture });
      await expect.poll(() => page.locator("#stream").innerText(), WAIT).toContain("keyed-visitor");
      await expect.poll(() => page.locator("#live-users").innerText(), WAIT).toBe("1");

      // "Remember" is the only way onto the device; "Forget key" takes it off again.
      await page.getByRole("button", { name: "Read key" }).click();
      await enterKey(page, KEYS.read, true);
      await expect.poll(() => page.locator("#status").innerText(), WAIT).toBe("live");
      expect(await stored(page)).toEqual({ session: KEYS.read, local: KEYS.read });
      await page.getByRole("button", { name: "Read key" }).click();
      await page.getByRole("button", { name: "Forget key" }).click();
      await expect.poll(() => problem(page), WAIT).toMatch(/needs a read key/);
      expect(await stored(page)).toEqual({ session: null, local: null });

      // A key scoped to staging, on a view of production: refused, kept, and fine once the filter goes.
      await page.goto(`${pulse.url}/?environment=production`);
      await enterKey(page, KEYS.stagingRead);
      await expect
        .poll(() => problem(page), WAIT)
        .toMatch(/This key may not read this \(403 FORBIDDEN: .*\)\. A key scoped to one environment/);
      expect(await stored(page)).toEqual({ session: KEYS.stagingRead, local: null });
      await page.getByRole("button", { name: "Remove filter: Environment is production" }).click();
      await expect.poll(() => page.locator("#status").innerText(), WAIT).toBe("live");
    });
  }
});

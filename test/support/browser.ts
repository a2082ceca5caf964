import { chromium, type Browser, type LaunchOptions } from "playwright-core";
import { afterAll } from "vitest";
import { onCleanup } from "./cleanup.ts";

/**
 * The Chromium that test/support/global-setup.ts found (`PULSE_TEST_CHROMIUM`: the build inside the
 * `@sparticuz/chromium` package unless set), never a Playwright download (those fail offline). Flags keep it from
 * reaching out on its own: no QUIC, no component or sync traffic.
 */
export const CHROMIUM: LaunchOptions = {
  executablePath: process.env.PULSE_TEST_CHROMIUM,
  args: [
    "--headless",
    "--no-sandbox",
    "--no-zygote",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
};

/** Headless Chromium (CHROMIUM), closed by `cleanup()` after the test. The tests that call it run in the browser lane. */
export async function launchBrowser(): Promise<Browser> {
  const browser = await chromium.launch(CHROMIUM);
  onCleanup(() => browser.close());
  return browser;
}

/**
 * One headless Chromium (CHROMIUM) for all the tests of a file, where each test would otherwise pay for a launch:
 * call it at the top of the file (it registers an `afterAll` that closes the browser) and await the function it
 * returns in each test, which launches on first use. Contexts and pages a test opens are its own to close
 * (`onCleanup`), so no state passes from one test to the next.
 */
export function browserForFile(): () => Promise<Browser> {
  let launched: Promise<Browser> | undefined;
  afterAll(async () => {
    await (await launched?.catch(() => undefined))?.close();
  });
  return () => (launched ??= chromium.launch(CHROMIUM));
}

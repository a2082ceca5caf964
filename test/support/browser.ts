import { chromium, type Browser, type LaunchOptions } from "playwright-core";
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

import { chromium, type Browser, type LaunchOptions } from "playwright-core";
import { onCleanup } from "./cleanup.ts";

/**
 * Debian's chromium (`apt-get install chromium`; .ci/run installs it when missing), never a Playwright download
 * (those fail offline). Flags keep it from reaching out on its own: no QUIC, no component or sync traffic.
 */
export const CHROMIUM: LaunchOptions = {
  executablePath: "/usr/bin/chromium",
  args: [
    "--headless",
    "--no-sandbox",
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

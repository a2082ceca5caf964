import { build } from "esbuild";
import { describe, expect, it } from "vitest";
import { launchBrowser } from "../support/browser.ts";
import { captureEvents, waitForActive } from "../support/events.ts";
import { startHttpServer } from "../support/http-server.ts";
import { startServer } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";
import type * as PulseClient from "../../packages/client/src/index.ts";

/** @pulse-analytics/client bundled for browsers, as an app's bundler would (esbuild, browser platform, ESM). */
async function bundleClient() {
  const result = await build({
    stdin: { contents: 'export * from "./packages/client/src/index.ts";', resolveDir: process.cwd(), loader: "ts" },
    bundle: true,
    format: "esm",
    platform: "browser",
    write: false,
    metafile: true,
    minify: true,
    logLevel: "silent",
  });
  // What ends up in the output (a module traversed but tree-shaken away, like graphql-sse's server half, costs nothing).
  const output = Object.values(result.metafile.outputs)[0]!;
  const inputs = Object.entries(output.inputs).flatMap(([path, { bytesInOutput }]) => (bytesInOutput > 0 ? [path] : []));
  return { code: result.outputFiles[0]!.text, inputs };
}

/** The app's own origin (another port than Pulse's, as in production): a page that loads the bundle. */
async function startAppOrigin(bundle: string): Promise<string> {
  const { url } = await startHttpServer((req, res) => {
    if (req.url === "/client.js") {
      res.writeHead(200, { "content-type": "text/javascript" }).end(bundle);
      return;
    }
    res.writeHead(200, { "content-type": "text/html" });
    res.end('<!doctype html><script type="module">import * as pulse from "/client.js"; window.pulse = pulse;</script>');
  });
  return url;
}

describe("@pulse-analytics/client in a browser bundle", { timeout: 120_000 }, () => {
  it("bundles without Node built-ins or graphql-js: only the two protocol clients and Pulse's own code", async () => {
    const { inputs } = await bundleClient();
    const packages = new Set(inputs.map((input) => /node_modules\/((@[^/]+\/)?[^/]+)/.exec(input)?.[1] ?? "pulse"));
    expect([...packages].sort()).toEqual(["graphql-sse", "graphql-ws", "pulse"]);
  });

  it.each(["ws", "sse"] as const)("runs in Chromium from another origin and receives events over %s", async (transport) => {
    const pulse = await startServer();
    const app = await startAppOrigin((await bundleClient()).code);
    const browser = await launchBrowser();
    const page = await browser.newPage();
    const requests: string[] = [];
    page.on("request", (request) => requests.push(request.url()));
    const consoleErrors: string[] = [];
    page.on("console", (message) => {
      if (message.type() === "error") consoleErrors.push(message.text());
    });

    await page.goto(app);
    await page.waitForFunction(() => "pulse" in window);
    await page.evaluate(
      ([url, transport]) => {
        const w = window as unknown as { pulse: typeof PulseClient; received: string[]; client: unknown };
        const client = new w.pulse.RealtimeAnalytics(url, { transport });
        w.received = [];
        w.client = client;
        client.on("*", (event) => w.received.push(`${event.event}:${String(event.properties["n"])}`));
        client.connect({ events: ["browser"] });
      },
      [pulse.url, transport] as const,
    );
    await waitForActive(pulse.url, 1);
    await captureEvents(
      pulse.url,
      [1, 2, 3].map((n) => ({ event: "browser", distinctId: "page", properties: { n } })),
    );

    const received = () => page.evaluate(() => (window as unknown as { received: string[] }).received);
    await waitFor(async () => (await received()).length === 3, { what: "three events in the page" });
    expect(await received()).toEqual(["browser:1", "browser:2", "browser:3"]);
    expect(consoleErrors).toEqual([]);
    expect(requests.every((url) => url.startsWith(app) || url.startsWith(pulse.url))).toBe(true);

    await page.evaluate(() => (window as unknown as { client: { disconnect(): Promise<void> } }).client.disconnect());
    await waitForActive(pulse.url, 0);
  });
});

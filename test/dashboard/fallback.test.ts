import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { chromium } from "playwright-core";
import { afterEach, describe, expect, it } from "vitest";
import { CHROMIUM } from "../support/browser.ts";
import { freePort, startPulseProcess } from "../support/child.ts";
import { cleanup, onCleanup } from "../support/cleanup.ts";
import { captureEvent } from "../support/events.ts";

afterEach(cleanup);

/**
 * A reverse proxy that streams plain HTTP (SSE included) but refuses WebSocket upgrades with 502, as a proxy
 * configured without `Upgrade` forwarding does.
 */
async function proxyWithoutWebSocket(target: string): Promise<string> {
  const server = createServer((req, res) => {
    const upstream = request(`${target}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on("error", () => req.socket.destroy());
    req.pipe(upstream);
  });
  server.on("upgrade", (_req, socket) => socket.end("HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  onCleanup(() => new Promise<void>((resolve) => server.close(() => resolve())));
  onCleanup(() => server.closeAllConnections());
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("dashboard page behind a proxy that does not pass WebSocket", () => {
  it("falls back to Server-Sent Events and goes live", async () => {
    const pulse = await startPulseProcess(await freePort());
    const proxied = await proxyWithoutWebSocket(pulse.url);
    const browser = await chromium.launch(CHROMIUM);
    onCleanup(() => browser.close());
    const page = await browser.newPage();

    await page.goto(`${proxied}/`);
    await expect.poll(() => page.locator("#status").getAttribute("data-transport"), { timeout: 20_000, interval: 100 }).toBe("sse");
    await expect.poll(() => page.locator("#status").textContent(), { timeout: 10_000, interval: 100 }).toBe("live");
    await captureEvent(pulse.url, { event: "signup", distinctId: "through-the-proxy" });
    await expect.poll(() => page.locator("#stream li").first().textContent(), { timeout: 8000, interval: 100 }).toContain("through-the-proxy");
  }, 60_000);
});

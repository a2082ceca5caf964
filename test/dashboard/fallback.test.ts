import { request } from "node:http";
import { describe, expect, it } from "vitest";
import { launchBrowser } from "../support/browser.ts";
import { startPulseProcess } from "../support/process.ts";
import { captureEvent } from "../support/events.ts";
import { startHttpServer } from "../support/http-server.ts";

/**
 * A reverse proxy that streams plain HTTP (SSE included) but refuses WebSocket upgrades with 502, as a proxy
 * configured without `Upgrade` forwarding does.
 */
async function proxyWithoutWebSocket(target: string): Promise<string> {
  const { url, server } = await startHttpServer((req, res) => {
    const upstream = request(`${target}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on("error", () => req.socket.destroy());
    req.pipe(upstream);
  });
  server.on("upgrade", (_req, socket) => socket.end("HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"));
  return url;
}

describe("dashboard page behind a proxy that does not pass WebSocket", () => {
  it("falls back to Server-Sent Events and goes live", async () => {
    const pulse = await startPulseProcess();
    const proxied = await proxyWithoutWebSocket(pulse.url);
    const browser = await launchBrowser();
    const page = await browser.newPage();

    await page.goto(`${proxied}/`);
    await expect.poll(() => page.locator("#status").getAttribute("data-transport"), { timeout: 20_000, interval: 100 }).toBe("sse");
    await expect.poll(() => page.locator("#status").textContent(), { timeout: 10_000, interval: 100 }).toBe("live");
    await captureEvent(pulse.url, { event: "signup", distinctId: "through-the-proxy" });
    await expect
      .poll(() => page.locator("#stream li").first().textContent(), { timeout: 8000, interval: 100 })
      .toContain("through-the-proxy");
  }, 60_000);
});

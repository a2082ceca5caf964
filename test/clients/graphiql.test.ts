import { mkdirSync } from "node:fs";
import type { Browser } from "playwright-core";
import { describe, expect, it } from "vitest";
import { launchBrowser } from "../support/browser.ts";
import { captureEvent } from "../support/events.ts";
import { startServer } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";

const ARTIFACTS = new URL("../../test-artifacts/", import.meta.url);

// GraphiQL is inlined (~9 MB) and takes seconds to render on a busy 2-core machine: a generous budget, no timing asserted.
describe("GraphiQL in headless Chromium", { timeout: 180_000 }, () => {
  it("runs a subscription typed into the editor, shows a captured event, and loads nothing from outside the server", async () => {
    const server = await startServer();
    const origin = new URL(server.url).origin;
    const browser: Browser = await launchBrowser();
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });

    // Every request the page makes is recorded (and anything not local refused, so a regression cannot reach out).
    const requests: string[] = [];
    const sockets: string[] = [];
    const isLocal = (url: string) => url.startsWith("data:") || new URL(url.replace(/^blob:/, "")).origin === origin;
    await page.route("**/*", (route) => (isLocal(route.request().url()) ? route.continue() : route.abort()));
    page.on("request", (request) => requests.push(request.url()));
    page.on("websocket", (socket) => sockets.push(socket.url()));

    await page.goto(`${server.url}/graphql`, { timeout: 120_000 });
    const editor = page.locator(".graphiql-query-editor .monaco-editor").first();
    await editor.waitFor({ state: "visible", timeout: 120_000 });

    await editor.click();
    await page.keyboard.press("ControlOrMeta+A");
    await page.keyboard.press("Delete");
    await page.keyboard.type("subscription { events { id event } }");
    // Monaco closes brackets as you type and overtypes them: check what the editor really holds before running it.
    const typed = async () => (await editor.locator(".view-lines").innerText()).replace(/\s+/g, " ").trim();
    await waitFor(async () => (await typed()) === "subscription { events { id event } }", { what: "the typed subscription in the editor" });

    await page.locator(".graphiql-execute-button").click();
    await waitFor(() => server.hub.metrics().activeSubscriptions === 1, {
      what: "GraphiQL's subscription to reach the server",
      timeoutMs: 60_000,
    });

    const captured = await captureEvent(server.url, { event: "graphiql-check", distinctId: "browser-test" });
    const response = page.locator(".graphiql-response");
    await waitFor(async () => (await response.innerText()).includes(captured.id), {
      what: "the event in the result pane",
      timeoutMs: 60_000,
    });
    expect(await response.innerText()).toContain("graphiql-check");

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: new URL("graphiql-subscription.png", ARTIFACTS).pathname });

    expect(requests.length).toBeGreaterThan(0);
    expect(requests.filter((url) => !isLocal(url))).toEqual([]);
    // The subscription went over the WebSocket (subscriptionsProtocol "WS"), to this server.
    expect(sockets).toEqual([`${server.url.replace(/^http/, "ws")}/graphql`]);
  });
});

import { mkdirSync } from "node:fs";
import { parse, validate } from "graphql";
import type { Browser, Locator, Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { createSchema } from "../../src/graphql/schema.ts";
import { GRAPHIQL_DEFAULT_QUERY } from "../../src/transport/graphiql.ts";
import { launchBrowser } from "../support/browser.ts";
import { gqlData } from "../support/clients.ts";
import { CAPTURE } from "../support/events.ts";
import { KEYED, KEYS } from "../support/keys.ts";
import { startServer } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";

const ARTIFACTS = new URL("../../test-artifacts/", import.meta.url);

/** Text as a Monaco editor renders it, whitespace (its spaces are non-breaking) folded to single spaces. */
const folded = (text: string) => text.replace(/\s+/g, " ").trim();
/** What a Monaco editor shows (only the lines in view). */
const shown = async (editor: Locator) => folded(await editor.locator(".view-lines").innerText());

/**
 * Replaces what `editor` holds with `text` as a person would (click, select all, delete, type), until it holds exactly
 * that: Monaco closes brackets and quotes as keys are typed, so the text is inserted whole, and checked.
 */
async function replaceText(page: Page, editor: Locator, text: string): Promise<void> {
  const wanted = folded(text);
  await waitFor(
    async () => {
      await editor.click();
      await page.keyboard.press("ControlOrMeta+A");
      await page.keyboard.press("Delete");
      if ((await shown(editor)) !== "") return false;
      await page.keyboard.insertText(text);
      return (await shown(editor)) === wanted;
    },
    { what: `the editor to hold ${text}`, intervalMs: 200 },
  );
}

describe("GraphiQL's first tab", () => {
  it("is valid against the schema: the query as it is, and the subscription once uncommented", () => {
    const schema = createSchema();
    expect(validate(schema, parse(GRAPHIQL_DEFAULT_QUERY))).toEqual([]);
    const commented = /^# (subscription [\s\S]*)$/m.exec(GRAPHIQL_DEFAULT_QUERY)![1]!;
    const subscription = commented.replace(/^# ?/gm, "");
    expect(validate(schema, parse(subscription))).toEqual([]);
    expect(subscription).toContain("events {");
  });
});

// GraphiQL is inlined (~9 MB) and takes seconds to render on a busy 2-core machine: a generous budget, no timing asserted.
describe("GraphiQL in headless Chromium", { timeout: 180_000 }, () => {
  it("opens on a live query; runs a subscription with the read key from the Headers pane; shows a wrong key's error as text", async () => {
    const server = await startServer({ trust: KEYED });
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
    // Pulse's own first tab, not Yoga's welcome text.
    expect(await shown(editor)).toContain("query LiveNow { liveDashboard { liveUsers");
    expect(await page.locator(".graphiql-tab-button").innerText()).toBe("LiveNow");

    await page.getByRole("button", { name: "Headers" }).click();
    const headers = page.locator(".graphiql-editor-tool .monaco-editor:visible");
    await replaceText(page, headers, `{"Authorization": "Bearer ${KEYS.read}"}`);
    await replaceText(page, editor, "subscription { events { id event } }");
    // The tab takes the new operation's name (none) a moment later; running before would ask for LiveNow.
    await page.locator(".graphiql-tab-button", { hasNotText: "LiveNow" }).waitFor();

    const execute = page.locator(".graphiql-execute-button");
    await execute.click();
    await waitFor(() => server.hub.metrics().activeSubscriptions === 1, {
      what: "GraphiQL's subscription to reach the server",
      timeoutMs: 60_000,
    });
    const { captureEvent: captured } = await gqlData<{ captureEvent: { id: string } }>(
      server.url,
      CAPTURE,
      { input: { event: "graphiql-check", distinctId: "browser-test" } },
      { key: KEYS.capture },
    );
    const response = page.locator(".graphiql-response");
    await waitFor(async () => (await response.innerText()).includes(captured.id), {
      what: "the event in the result pane",
      timeoutMs: 60_000,
    });
    expect(await response.innerText()).toContain("graphiql-check");
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: new URL("graphiql-subscription.png", ARTIFACTS).pathname });

    // Stop it (the same button), then run it with a key Pulse does not know: the error is GraphQL's, in words.
    await execute.click();
    await waitFor(() => server.hub.metrics().activeSubscriptions === 0, { what: "the subscription to end" });
    await replaceText(page, headers, '{"Authorization": "Bearer wrong-key-0123456789abcdef"}');
    await execute.click();
    const refusal = await waitFor(
      async () => {
        const pane = folded(await response.innerText());
        return pane.includes("Unknown API key") ? pane : null;
      },
      { what: "the refusal in the result pane", timeoutMs: 30_000 },
    );
    expect(refusal).toContain('"code": "UNAUTHENTICATED"');
    expect(refusal).not.toContain("isTrusted");

    expect(requests.length).toBeGreaterThan(0);
    expect(requests.filter((url) => !isLocal(url))).toEqual([]);
    // Subscriptions go over Server-Sent Events (subscriptionsProtocol "SSE"), each request with the pane's headers.
    expect(sockets).toEqual([]);
  });
});

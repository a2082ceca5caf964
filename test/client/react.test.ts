// @vitest-environment happy-dom
// The test's own requests (health checks, captures) are not the page's: no same-origin policy for them.
// @vitest-environment-options {"settings": {"fetch": {"disableSameOriginPolicy": true}}}
import { cleanup as unmountAll, render, waitFor as waitForDom } from "@testing-library/react";
import { createElement } from "react";
import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { useRealtimeEvents, type UseRealtimeEventsOptions } from "../../packages/client/src/react.ts";
import { onCleanup } from "../support/cleanup.ts";
import { captureEvent, captureEvents, realtimeMetrics, waitForActive } from "../support/events.ts";
import { startPulseProcess } from "../support/process.ts";
import { waitFor } from "../support/wait.ts";

// The server runs in its own process (startPulseProcess): this file's environment is a DOM (happy-dom replaces URL,
// fetch, ...), where the hook lives as in a browser, and a server does not belong.

/** A component as an app would write it: the hook's events as a list, its status in an attribute. */
function LiveFeed(props: { names: string[]; options: UseRealtimeEventsOptions }) {
  const { events, status } = useRealtimeEvents(props.names, props.options);
  return createElement(
    "ul",
    { "data-testid": "feed", "data-status": status },
    events.map((event) =>
      createElement(
        "li",
        { key: event.id },
        `${event.event}:${JSON.stringify(event.properties["n"] ?? event.distinctId).replace(/^"|"$/g, "")}`,
      ),
    ),
  );
}

function mount(names: string[], options: UseRealtimeEventsOptions) {
  const view = render(createElement(LiveFeed, { names, options }));
  // Before the server closes (cleanup runs newest first): unmounting disconnects the client.
  onCleanup(() => unmountAll());
  const feed = () => view.getByTestId("feed");
  const items = () => Array.from(feed().querySelectorAll("li"), (li) => li.textContent);
  return { ...view, feed, items };
}

describe("useRealtimeEvents (React 19, Testing Library, happy-dom)", () => {
  it("renders the named events as they are captured, newest first", async () => {
    const server = await startPulseProcess();
    const view = mount(["signup", "purchase"], { url: server.url, transport: "ws", webSocketImpl: WebSocket });
    await waitForActive(server.url, 1);
    await waitForDom(() => expect(view.feed().dataset["status"]).toBe("live"));

    await captureEvent(server.url, { event: "signup", distinctId: "ada" });
    await captureEvent(server.url, { event: "$pageview", distinctId: "ada" });
    await captureEvent(server.url, { event: "purchase", distinctId: "ada", properties: { n: 42 } });

    await waitForDom(() => expect(view.items()).toEqual(["purchase:42", "signup:ada"]));
  });

  it("keeps only the newest 100", async () => {
    const server = await startPulseProcess();
    const view = mount(["tick"], { url: server.url, transport: "sse", webSocketImpl: WebSocket, fetchFn: fetch });
    await waitForActive(server.url, 1);

    await captureEvents(
      server.url,
      Array.from({ length: 105 }, (_, i) => ({ event: "tick", distinctId: "u", properties: { n: i + 1 } })),
    );

    await waitForDom(() => expect(view.items()[0]).toBe("tick:105"), { timeout: 10_000 });
    expect(view.items()).toHaveLength(100);
    expect(view.items().at(-1)).toBe("tick:6");
  });

  it("closes its subscription when the names change and when the component unmounts", async () => {
    const server = await startPulseProcess();
    const options = { url: server.url, transport: "ws", webSocketImpl: WebSocket } as const;
    const view = mount(["a"], options);
    await waitForActive(server.url, 1);

    view.rerender(createElement(LiveFeed, { names: ["b"], options }));
    // The new subscription is up and the old one gone, not just hidden: two started, one open.
    await waitFor(
      async () => {
        const metrics = await realtimeMetrics(server.url);
        return metrics.totalConnections === 2 && metrics.activeConnections === 1;
      },
      { what: "the resubscription on the server" },
    );
    await captureEvent(server.url, { event: "a", distinctId: "u" });
    await captureEvent(server.url, { event: "b", distinctId: "u" });
    await waitForDom(() => expect(view.items()).toEqual(["b:u"]));

    view.unmount();
    await waitForActive(server.url, 0);
  });
});

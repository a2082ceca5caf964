import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { codeOf, once, post, sseClient, subscribe, wsClient } from "../support/clients.ts";
import { anEvent, CAPTURE, SUBSCRIBE } from "../support/events.ts";
import { startServer } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";

const run = promisify(execFile);
const mutation = JSON.stringify({ query: CAPTURE, variables: { input: anEvent() } });

describe("CSRF prevention", () => {
  for (const path of ["/graphql", "/graphql/stream"]) {
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]) {
      it(`refuses a browser-simple ${type} POST to ${path} with 403 FORBIDDEN and stores nothing`, async () => {
        const server = await startServer();
        const accept = path === "/graphql/stream" ? "text/event-stream" : "application/json";
        const answer = await post(server.url, mutation, { "content-type": type, accept }, path);
        expect(answer.status).toBe(403);
        expect(codeOf(answer.body)).toBe("FORBIDDEN");
        expect(server.hub.stream.size).toBe(0);
      });
    }
  }

  it("refuses mutations over GET (405 BAD_REQUEST, or 403 without a preflighted header) and stores nothing", async () => {
    const server = await startServer();
    const url = `${server.url}/graphql?query=${encodeURIComponent('mutation { captureEvent(input: { event: "e", distinctId: "u" }) { id } }')}`;
    const withType = await fetch(url, { headers: { "content-type": "application/json" } });
    expect(withType.status).toBe(405);
    expect(((await withType.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe("BAD_REQUEST");
    const bare = await fetch(url);
    expect(bare.status).toBe(403);
    expect(server.hub.stream.size).toBe(0);
  });

  it("still serves GET queries that carry the CSRF header", async () => {
    const server = await startServer();
    const response = await fetch(`${server.url}/graphql?query=${encodeURIComponent("{ realtimeMetrics { eventsTotal } }")}`, {
      headers: { "x-graphql-yoga-csrf": "1" },
    });
    expect(response.status).toBe(200);
  });

  it("lets graphql-ws, graphql-sse and curl with application/json capture and subscribe", async () => {
    const server = await startServer();
    const ws = subscribe(wsClient(server.url), SUBSCRIBE);
    const sse = subscribe(sseClient(server.url), SUBSCRIBE);
    await waitFor(() => server.hub.metrics().activeSubscriptions === 2, { what: "subscriptions" });
    expect((await once(wsClient(server.url), CAPTURE, { input: anEvent({ event: "ws" }) })).errors).toBeUndefined();
    expect((await once(sseClient(server.url), CAPTURE, { input: anEvent({ event: "sse" }) })).errors).toBeUndefined();
    const curl = await run("curl", [
      "-sS",
      "-X",
      "POST",
      `${server.url}/graphql`,
      "-H",
      "content-type: application/json",
      "--data",
      JSON.stringify({ query: CAPTURE, variables: { input: anEvent({ event: "curl" }) } }),
    ]);
    expect((JSON.parse(curl.stdout) as { data: { captureEvent: { id: string } } }).data.captureEvent.id).toBeTruthy();
    await waitFor(() => ws.results.length === 3 && sse.results.length === 3, { what: "deliveries" });
    expect(server.hub.stream.recent(3).map((e) => e.event)).toEqual(["curl", "sse", "ws"]);
  });
});

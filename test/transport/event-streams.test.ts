import { createServer, request, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { EventStreamResponses } from "../../src/transport/event-streams.ts";
import { onCleanup } from "../support/cleanup.ts";
import { deferred, within } from "../support/wait.ts";

/**
 * The shutdown of event streams (src/transport/event-streams.ts) on a plain Node server: what server.ts does with
 * it is tested end to end in test/integration/restarts.test.ts; here the cases a running Pulse cannot be put in on
 * demand (a request routed after shutdown began, a stream whose head is not sent yet).
 */
async function serve(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  onCleanup(() => new Promise((resolve) => server.close(resolve)));
  onCleanup(() => server.closeAllConnections());
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

interface Answer {
  readonly status: number;
  readonly headers: IncomingMessage["headers"];
  readonly body: Promise<{ text: string; end: "end" | "cut" }>;
}

function get(url: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { accept: "text/event-stream" } }, (res) => {
      const body = deferred<{ text: string; end: "end" | "cut" }>();
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => body.resolve({ text, end: "end" }));
      res.on("error", () => body.resolve({ text, end: "cut" }));
      res.on("aborted", () => body.resolve({ text, end: "cut" }));
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: body.promise });
    });
    req.on("error", reject);
    req.end();
  });
}

describe("EventStreamResponses", () => {
  it("knows an event stream request by its accept header", async () => {
    const seen: boolean[] = [];
    const url = await serve((req, res) => {
      seen.push(EventStreamResponses.wanted(req));
      res.end();
    });
    await (
      await get(url)
    ).body;
    await fetch(url);
    expect(seen).toEqual([true, false]);
  });

  it("ends a started stream cleanly at shutdown, and a later write (its writer's complete) neither arrives nor throws", async () => {
    const streams = new EventStreamResponses();
    const admitted = deferred<ServerResponse>();
    const url = await serve((_req, res) => {
      expect(streams.admit(res)).toBe(true);
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write("event: next\ndata: {}\n\n");
      admitted.resolve(res);
    });
    const answer = await get(url);
    const res = await admitted.promise;

    streams.endAll();
    res.write("event: complete\ndata:\n\n");

    expect(await within(answer.body, "the stream's end")).toEqual({ text: "event: next\ndata: {}\n\n", end: "end" });
  });

  it("cuts a stream whose head is not sent yet (its writer is about to send one)", async () => {
    const streams = new EventStreamResponses();
    const admitted = deferred<void>();
    const url = await serve((_req, res) => {
      streams.admit(res);
      admitted.resolve();
    });
    const answer = get(url);
    await admitted.promise;
    streams.endAll();
    await expect(answer).rejects.toThrow(/socket hang up/);
  });

  it("answers a stream requested after shutdown began 503 with Retry-After and UNAVAILABLE", async () => {
    const streams = new EventStreamResponses();
    streams.endAll();
    const url = await serve((_req, res) => {
      if (streams.admit(res)) res.end("admitted");
    });
    const answer = await get(url);
    expect(answer.status).toBe(503);
    expect(answer.headers["retry-after"]).toBe("1");
    expect(JSON.parse((await answer.body).text)).toEqual({
      errors: [{ message: "Pulse is shutting down; retry shortly", extensions: { code: "UNAVAILABLE" } }],
    });
  });
});

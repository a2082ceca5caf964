import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { codeOf, once, post, wsClient } from "../support/clients.ts";
import { anEvent, CAPTURE, CAPTURE_EVENTS } from "../support/events.ts";
import { RawGraphqlSocket } from "../support/raw-ws.ts";
import { startServer } from "../support/server.ts";

const LIMIT = 4096;
const json = { "content-type": "application/json" };
const capture = (properties: Record<string, unknown>) => JSON.stringify({ query: CAPTURE, variables: { input: anEvent({ properties }) } });

describe("request body size (HTTP and SSE)", () => {
  for (const path of ["/graphql", "/graphql/stream"]) {
    it(`refuses a body over PULSE_MAX_BODY_BYTES on ${path} with 413 BAD_USER_INPUT and stores nothing`, async () => {
      const server = await startServer({ trust: { maxBodyBytes: LIMIT } });
      const body = capture({ pad: "x".repeat(LIMIT) });
      const answer = await post(server.url, body, { ...json, accept: "text/event-stream" }, path);
      expect(answer.status).toBe(413);
      expect(codeOf(answer.body)).toBe("BAD_USER_INPUT");
      expect(answer.body.errors?.[0]?.message).toContain("PULSE_MAX_BODY_BYTES");
      expect(server.hub.stream.size).toBe(0);
    });

    it(`refuses a chunked body over the limit on ${path} (no Content-Length to trust)`, async () => {
      const server = await startServer({ trust: { maxBodyBytes: LIMIT } });
      const bytes = new TextEncoder().encode(capture({ pad: "x".repeat(LIMIT) }));
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < bytes.length; i += 512) controller.enqueue(bytes.slice(i, i + 512));
          controller.close();
        },
      });
      const response = await fetch(`${server.url}${path}`, {
        method: "POST",
        headers: { ...json, accept: "text/event-stream" },
        body: stream,
        duplex: "half",
      } as RequestInit);
      expect(response.status).toBe(413);
      expect(server.hub.stream.size).toBe(0);
    });
  }

  it("accepts a body just under the limit", async () => {
    const server = await startServer({ trust: { maxBodyBytes: LIMIT } });
    const answer = await post(server.url, capture({ pad: "x".repeat(LIMIT - 400) }));
    expect(answer.status).toBe(200);
    expect(server.hub.stream.size).toBe(1);
  });
});

describe("gzip request bodies", () => {
  it("accepts Content-Encoding: gzip on HTTP and SSE", async () => {
    const server = await startServer();
    const answer = await post(server.url, gzipSync(capture({ a: 1 })), { ...json, "content-encoding": "gzip" });
    expect(answer.status).toBe(200);
    expect(answer.body.data?.["captureEvent"]).toMatchObject({ environment: "production" });
    const sse = await post(
      server.url,
      gzipSync(capture({ b: 2 })),
      { ...json, "content-encoding": "gzip", accept: "text/event-stream" },
      "/graphql/stream",
    );
    expect(sse.status).toBe(200);
    expect(server.hub.stream.size).toBe(2);
  });

  it("refuses a compression bomb by its decompressed size, without inflating it", async () => {
    const server = await startServer({ trust: { maxBodyBytes: 64 * 1024 } });
    // 64 MiB of spaces compress to ~64 KiB; the server must stop inflating at 64 KiB of output.
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20), { level: 9 });
    expect(bomb.length).toBeLessThan(64 * 1024 * 2);
    const before = process.memoryUsage().arrayBuffers;
    const answer = await post(server.url, bomb, { ...json, "content-encoding": "gzip" });
    expect(answer.status).toBe(413);
    expect(answer.body.errors?.[0]?.message).toContain("decompressed");
    expect(codeOf(answer.body)).toBe("BAD_USER_INPUT");
    // Inflating it whole would have allocated 64 MiB of buffers.
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * 1024 * 1024);
    expect(server.hub.stream.size).toBe(0);
  });

  it("refuses an unsupported encoding with 415 and a corrupt gzip stream with 400", async () => {
    const server = await startServer();
    const br = await post(server.url, capture({}), { ...json, "content-encoding": "br" });
    expect(br.status).toBe(415);
    expect(codeOf(br.body)).toBe("BAD_USER_INPUT");
    const corrupt = await post(server.url, Buffer.from("definitely not gzip"), { ...json, "content-encoding": "gzip" });
    expect(corrupt.status).toBe(400);
    expect(codeOf(corrupt.body)).toBe("BAD_USER_INPUT");
    expect(server.hub.stream.size).toBe(0);
  });
});

describe("malformed requests", () => {
  it("answers a malformed JSON body with 400 and a code, on HTTP", async () => {
    const server = await startServer();
    const answer = await post(server.url, '{"query": "{ realtimeMetrics { eventsTotal } }"');
    expect(answer.status).toBe(400);
    expect(codeOf(answer.body)).toBe("BAD_REQUEST");
  });

  it("answers a malformed JSON body on SSE with 400", async () => {
    const server = await startServer();
    const answer = await post(server.url, "{nope", { ...json, accept: "text/event-stream" }, "/graphql/stream");
    expect(answer.status).toBe(400);
  });

  it("refuses a non-JSON content type: 415 for an unknown one, 403 FORBIDDEN (CSRF) for a form-able one", async () => {
    const server = await startServer();
    const xml = await post(server.url, "<capture/>", { "content-type": "application/xml" });
    expect(xml.status).toBe(415);
    expect(codeOf(xml.body)).toBe("BAD_USER_INPUT");
    const text = await post(server.url, capture({}), { "content-type": "text/plain" });
    expect(text.status).toBe(403);
    expect(codeOf(text.body)).toBe("FORBIDDEN");
    expect(server.hub.stream.size).toBe(0);
  });
});

describe("WebSocket maxPayload", () => {
  it("closes the socket with 1009 on a message over PULSE_MAX_WS_PAYLOAD_BYTES and runs nothing", async () => {
    const server = await startServer({ trust: { maxWsPayloadBytes: LIMIT } });
    const raw = await RawGraphqlSocket.open(server.url);
    raw.send({
      type: "subscribe",
      id: "1",
      payload: { query: CAPTURE, variables: { input: anEvent({ properties: { pad: "x".repeat(LIMIT) } }) } },
    });
    expect((await raw.whenClosed()).code).toBe(1009);
    expect(server.hub.stream.size).toBe(0);
  });

  it("accepts a message under the limit", async () => {
    const server = await startServer({ trust: { maxWsPayloadBytes: LIMIT } });
    const result = await once(wsClient(server.url), CAPTURE_EVENTS, {
      inputs: [anEvent({ properties: { pad: "x".repeat(LIMIT - 500) } })],
    });
    expect(result.errors).toBeUndefined();
    expect(server.hub.stream.size).toBe(1);
  });

  it("closes with 4400 on a message that is not JSON", async () => {
    const server = await startServer();
    const raw = await RawGraphqlSocket.connect(server.url);
    raw.send("this is not json");
    expect((await raw.whenClosed()).code).toBe(4400);
  });
});

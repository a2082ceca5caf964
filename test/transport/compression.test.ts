import { brotliDecompressSync, gunzipSync } from "node:zlib";
import { ApolloClient, HttpLink, InMemoryCache } from "@apollo/client";
import { parse } from "graphql";
import { describe, expect, it } from "vitest";
import { compressible, COMPRESSION_THRESHOLD, type AnswerFacts } from "../../src/transport/compression.ts";
import { CSRF_HEADER } from "../../src/transport/sse-guard.ts";
import { onCleanup } from "../support/cleanup.ts";
import { captureEvent, captureEvents, EVENT_FIELDS, pageview, waitForActive } from "../support/events.ts";
import { Scrape } from "../support/metrics.ts";
import { exchange, type Exchange } from "../support/raw-http.ts";
import { RawEventStream } from "../support/raw-sse.ts";
import { startServer } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";

const RECENT = `{ recentEvents(limit: 1000) { ${EVENT_FIELDS} } }`;
const JSON_ACCEPT = "application/graphql-response+json, application/json";

/** POST /graphql with exactly these headers; the answer as it travels. */
function postGraphql(baseUrl: string, query: string, headers: Record<string, string> = {}): Promise<Exchange> {
  return exchange(`${baseUrl}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: JSON_ACCEPT, ...headers },
    body: JSON.stringify({ query }),
  });
}

/** The body decoded by its content-encoding, as a client would. */
function decoded(answer: Exchange): Buffer {
  const coding = answer.headers["content-encoding"];
  if (coding === "br") return brotliDecompressSync(answer.body);
  if (coding === "gzip") return gunzipSync(answer.body);
  if (coding === undefined) return answer.body;
  throw new Error(`unexpected content-encoding ${coding}`);
}

/** A server holding 1,000 events: their recentEvents answer is a few hundred KB of JSON. */
async function serverWithEvents() {
  const server = await startServer();
  for (let n = 0; n < 1000; n += 250) {
    await captureEvents(
      server.url,
      Array.from({ length: 250 }, (_, i) =>
        pageview(n + i, { properties: { n: n + i, $current_url: `https://shop.example/p/${n + i}`, plan: "pro" } }),
      ),
    );
  }
  return server;
}

describe("the rule", () => {
  const large: AnswerFacts = {
    method: "POST",
    status: 200,
    contentType: "application/graphql-response+json; charset=utf-8",
    contentEncoding: undefined,
    length: 100_000,
  };
  it.each<[string, Partial<AnswerFacts>, boolean]>([
    ["a large GraphQL result", {}, true],
    ["application/json", { contentType: "application/json" }, true],
    ["an HTML page", { contentType: "text/html; charset=utf-8" }, true],
    ["Prometheus text", { contentType: "text/plain; version=0.0.4; charset=utf-8" }, true],
    ["a 400", { status: 400 }, true],
    ["exactly the threshold", { length: COMPRESSION_THRESHOLD }, true],
    ["one byte below it", { length: COMPRESSION_THRESHOLD - 1 }, false],
    ["a body of unknown length", { length: undefined }, false],
    ["an event stream", { contentType: "text/event-stream" }, false],
    ["incremental delivery", { contentType: 'multipart/mixed; boundary="-"' }, false],
    ["no content-type", { contentType: null }, false],
    ["an image", { contentType: "image/png" }, false],
    ["an answer already encoded", { contentEncoding: "gzip" }, false],
    ["content-encoding: none (graphql-sse's)", { contentEncoding: "none" }, false],
    ["HEAD", { method: "HEAD" }, false],
    ["204", { status: 204 }, false],
    ["304", { status: 304 }, false],
    ["101", { status: 101 }, false],
  ])("%s: %s", (_, change, expected) => {
    expect(compressible({ ...large, ...change })).toBe(expected);
  });
});

describe("GraphQL answers", () => {
  it("above the threshold go out as brotli or gzip to a client that accepts them, and decode to the same JSON", async () => {
    const server = await serverWithEvents();
    const plain = await postGraphql(server.url, RECENT);
    expect(plain.status).toBe(200);
    expect(plain.headers["content-encoding"]).toBeUndefined();
    // It varies by Accept-Encoding even when this client takes it as it is.
    expect(plain.headers["vary"]).toContain("accept-encoding");
    expect(plain.body.length).toBeGreaterThan(100_000);
    expect((JSON.parse(plain.body.toString()) as { data: { recentEvents: unknown[] } }).data.recentEvents).toHaveLength(1000);

    for (const [acceptEncoding, coding] of [
      ["br", "br"],
      ["gzip", "gzip"],
      ["gzip, deflate, br, zstd", "br"], // a browser's
      ["gzip, deflate", "gzip"], // Node's fetch
      ["br;q=0.5, gzip", "gzip"],
      ["*", "br"],
    ]) {
      const answer = await postGraphql(server.url, RECENT, { "accept-encoding": acceptEncoding! });
      expect(answer.status, acceptEncoding).toBe(200);
      expect(answer.headers["content-encoding"], acceptEncoding).toBe(coding);
      expect(answer.headers["vary"]).toContain("accept-encoding");
      expect(answer.headers["content-type"]).toBe("application/graphql-response+json; charset=utf-8");
      expect(Number(answer.headers["content-length"])).toBe(answer.body.length);
      expect(answer.body.length).toBeLessThan(plain.body.length / 5);
      expect(decoded(answer).equals(plain.body), acceptEncoding).toBe(true);
    }
  });

  it("over GET /graphql and as application/json are compressed too", async () => {
    const server = await serverWithEvents();
    const url = `${server.url}/graphql?query=${encodeURIComponent(RECENT)}`;
    // A GET needs the CSRF header (a browser cannot send it cross-origin without a preflight).
    const headers = { accept: "application/json", [CSRF_HEADER]: "1" };
    const plain = await exchange(url, { headers });
    const gzip = await exchange(url, { headers: { ...headers, "accept-encoding": "gzip" } });
    expect(gzip.status).toBe(200);
    expect(gzip.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(gzip.headers["content-encoding"]).toBe("gzip");
    expect(gunzipSync(gzip.body).equals(plain.body)).toBe(true);
  });

  it("go out as they are when the client refuses both codings, or names none", async () => {
    const server = await serverWithEvents();
    for (const headers of [
      {} as Record<string, string>,
      { "accept-encoding": "identity" },
      { "accept-encoding": "gzip;q=0" },
      { "accept-encoding": "br;q=0, gzip;q=0, *;q=0" },
      { "accept-encoding": "deflate" },
    ]) {
      const answer = await postGraphql(server.url, RECENT, headers);
      expect(answer.status).toBe(200);
      expect(answer.headers["content-encoding"], JSON.stringify(headers)).toBeUndefined();
      expect(Number(answer.headers["content-length"])).toBe(answer.body.length);
      expect((JSON.parse(answer.body.toString()) as { data: { recentEvents: unknown[] } }).data.recentEvents).toHaveLength(1000);
    }
  });

  it("below the threshold go out as they are, captures included", async () => {
    const server = await startServer();
    const headers = { "accept-encoding": "gzip, deflate, br" };
    const capture = await exchange(`${server.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: JSON_ACCEPT, ...headers },
      body: JSON.stringify({
        query: "mutation ($input: CaptureEventInput!) { captureEvent(input: $input) { id cursor } }",
        variables: { input: pageview(1) },
      }),
    });
    expect(capture.status).toBe(200);
    const small = await postGraphql(server.url, "{ recentEvents(limit: 1) { id event properties } }", headers);
    for (const answer of [capture, small]) {
      expect(answer.body.length).toBeLessThan(COMPRESSION_THRESHOLD);
      expect(answer.headers["content-encoding"]).toBeUndefined();
      expect(answer.headers["vary"]).toBeUndefined();
      expect(JSON.parse(answer.body.toString())).toHaveProperty("data");
    }
  });

  it("with errors (400) above the threshold are compressed and decode to the errors", async () => {
    const server = await startServer();
    // Forty unknown fields: forty validation errors, well over the threshold.
    const query = `{ ${Array.from({ length: 40 }, (_, i) => `unknownField${i}`).join(" ")} }`;
    const plain = await postGraphql(server.url, query);
    expect(plain.status).toBe(400);
    expect(plain.body.length).toBeGreaterThan(COMPRESSION_THRESHOLD);
    const answer = await postGraphql(server.url, query, { "accept-encoding": "gzip" });
    expect(answer.status).toBe(400);
    expect(answer.headers["content-encoding"]).toBe("gzip");
    expect(Number(answer.headers["content-length"])).toBe(answer.body.length);
    const { errors } = JSON.parse(gunzipSync(answer.body).toString()) as { errors: { message: string }[] };
    expect(errors).toHaveLength(40);
    expect(errors[0]!.message).toContain("unknownField0");
  });

  it("reach Apollo Client through Node's fetch (which asks for gzip and decodes it) unchanged", async () => {
    const server = await serverWithEvents();
    const sent = await fetch(`${server.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: JSON_ACCEPT },
      body: JSON.stringify({ query: RECENT }),
    });
    expect(sent.headers.get("content-encoding")).toBe("gzip");
    const expected = ((await sent.json()) as { data: { recentEvents: { id: string }[] } }).data.recentEvents.map((e) => e.id);

    const client = new ApolloClient({ link: new HttpLink({ uri: `${server.url}/graphql` }), cache: new InMemoryCache() });
    onCleanup(() => client.stop());
    const { data, error } = await client.query<{ recentEvents: { id: string }[] }>({ query: parse(RECENT), fetchPolicy: "network-only" });
    expect(error).toBeUndefined();
    expect(data?.recentEvents.map((e) => e.id)).toEqual(expected);
  });
});

describe("event streams", () => {
  it("are never compressed, and still deliver each event as it is captured", async () => {
    const server = await serverWithEvents();
    // A replay of 200 events is far above the threshold from its first frames on.
    const stream = await RawEventStream.request(server.url, {
      method: "POST",
      headers: { accept: "text/event-stream", "content-type": "application/json", "accept-encoding": "gzip, deflate, br" },
      body: JSON.stringify({ query: `subscription { events(replay: 200) { ${EVENT_FIELDS} } }` }),
    });
    expect(stream.status).toBe(200);
    expect(stream.headers["content-type"]).toContain("text/event-stream");
    // graphql-sse says `none` itself, so that proxies leave the stream alone too.
    expect(stream.headers["content-encoding"]).toBe("none");
    await waitFor(() => stream.events.length === 200, { what: "the replay" });
    await waitForActive(server.url, 1);
    for (const n of [1, 2, 3]) {
      const captured = await captureEvent(server.url, pageview(5000 + n));
      // Each arrives before the next is captured: nothing holds frames back.
      await waitFor(() => stream.events.at(-1)?.id === captured.id, { what: `event ${n} on the stream` });
    }
  });
});

describe("/metrics", () => {
  it("goes out gzipped to Prometheus (Accept-Encoding: gzip) and as it is otherwise", async () => {
    const server = await serverWithEvents();
    const plain = await exchange(`${server.url}/metrics`);
    expect(plain.status).toBe(200);
    expect(plain.headers["content-encoding"]).toBeUndefined();
    expect(plain.body.length).toBeGreaterThan(COMPRESSION_THRESHOLD);

    for (const [acceptEncoding, coding] of [
      ["gzip", "gzip"], // Prometheus's own
      ["gzip, deflate, br", "br"],
    ]) {
      const answer = await exchange(`${server.url}/metrics`, { headers: { "accept-encoding": acceptEncoding! } });
      expect(answer.status).toBe(200);
      expect(answer.headers["content-type"]).toContain("text/plain");
      expect(answer.headers["content-encoding"]).toBe(coding);
      expect(answer.headers["vary"]).toBe("accept-encoding");
      expect(answer.headers["cache-control"]).toBe("no-store");
      expect(Number(answer.headers["content-length"])).toBe(answer.body.length);
      expect(answer.body.length).toBeLessThan(plain.body.length / 3);
      const scrape = new Scrape(decoded(answer).toString());
      expect(scrape.families.size).toBe(new Scrape(plain.body.toString()).families.size);
    }

    // HEAD and the small answers beside it are never compressed.
    const head = await exchange(`${server.url}/metrics`, { method: "HEAD", headers: { "accept-encoding": "gzip" } });
    expect(head.status).toBe(200);
    expect(head.headers["content-encoding"]).toBeUndefined();
    const health = await exchange(`${server.url}/healthz`, { headers: { "accept-encoding": "gzip" } });
    expect(health.headers["content-encoding"]).toBeUndefined();
    expect(JSON.parse(health.body.toString())).toEqual({ status: "ok" });
  });
});

import { brotliDecompressSync, gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { exchange } from "../support/raw-http.ts";
import { startServer } from "../support/server.ts";

const get = (url: string, headers: Record<string, string> = {}) => exchange(url, { headers });

describe("the dashboard's files, compressed at build", () => {
  it("go out as brotli or gzip to a browser that accepts them, as they are to one that does not", async () => {
    const server = await startServer();
    const page = await get(`${server.url}/`);
    expect(page.headers["content-encoding"]).toBeUndefined();
    expect(page.headers["vary"]).toBe("accept-encoding");
    const script = /src="(\/dashboard\/assets\/[^"]+\.js)"/.exec(page.body.toString())![1]!;

    for (const path of ["/", script]) {
      const plain = await get(`${server.url}${path}`);
      const br = await get(`${server.url}${path}`, { "accept-encoding": "gzip, deflate, br" });
      expect(br.headers["content-encoding"]).toBe("br");
      expect(br.headers["vary"]).toBe("accept-encoding");
      expect(Number(br.headers["content-length"])).toBe(br.body.length);
      expect(br.body.length).toBeLessThan(plain.body.length / 2);
      expect(brotliDecompressSync(br.body).equals(plain.body)).toBe(true);

      const gzip = await get(`${server.url}${path}`, { "accept-encoding": "br;q=0, gzip" });
      expect(gzip.headers["content-encoding"]).toBe("gzip");
      expect(gunzipSync(gzip.body).equals(plain.body)).toBe(true);

      const identity = await get(`${server.url}${path}`, { "accept-encoding": "identity" });
      expect(identity.headers["content-encoding"]).toBeUndefined();
      expect(identity.body.equals(plain.body)).toBe(true);
    }
  });
});

describe("GraphiQL's page", () => {
  it("goes out compressed once to a browser that accepts it, and whole to one that does not", { timeout: 60_000 }, async () => {
    const server = await startServer();
    const plain = await get(`${server.url}/graphql`, { accept: "text/html" });
    expect(plain.status).toBe(200);
    expect(plain.headers["content-encoding"]).toBeUndefined();
    expect(plain.body.length).toBeGreaterThan(1_000_000);

    for (const [acceptEncoding, encoding, decompress] of [
      ["gzip, deflate, br", "br", brotliDecompressSync],
      ["gzip", "gzip", gunzipSync],
    ] as const) {
      const compressed = await get(`${server.url}/graphql`, { accept: "text/html", "accept-encoding": acceptEncoding });
      expect(compressed.headers["content-encoding"]).toBe(encoding);
      expect(compressed.headers["vary"]).toContain("accept-encoding");
      expect(Number(compressed.headers["content-length"])).toBe(compressed.body.length);
      expect(compressed.body.length).toBeLessThan(plain.body.length / 3);
      expect(decompress(compressed.body).equals(plain.body)).toBe(true);
    }
    // A result below the threshold is not compressed (larger ones: compression.test.ts).
    const result = await fetch(`${server.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", "accept-encoding": "gzip, br" },
      body: JSON.stringify({ query: "{ realtimeMetrics { eventsTotal } }" }),
    });
    expect(result.headers.get("content-encoding")).toBeNull();
  });
});

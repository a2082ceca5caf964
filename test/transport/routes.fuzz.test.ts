import { gzipSync } from "node:zlib";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { POSTHOG_UNSUPPORTED } from "../../src/transport/posthog.ts";
import { onCleanup } from "../support/cleanup.ts";
import { RawHttpConnection, type RawResponse } from "../support/raw-http.ts";
import { startServer } from "../support/server.ts";
import { sleep, within } from "../support/wait.ts";

const READ_KEY = "fuzz-read-key-0123456789abcdef";
const CAPTURE_KEY = "fuzz-capture-key-0123456789abcdef";

/** Every route Pulse serves, PostHog's unsupported ones, and paths nobody serves. */
const PATHS = [
  "/",
  "/index.html",
  "/graphql",
  "/graphql/stream",
  "/dashboard/assets/",
  "/dashboard/assets/index.js",
  "/dashboard/assets/index.css",
  "/healthz",
  "/readyz",
  "/metrics",
  "/batch/",
  "/batch",
  "/capture/",
  "/e/",
  "/i/v0/e/",
  "/decide",
  "/decide/",
  "/flags",
  "/s/",
  "/api/surveys",
  "/array/phc_x/config.js",
  "/array/x/config",
  "/pulse.js",
  "/static/array.js",
  "/favicon.ico",
];

/** Percent-escapes that are not valid UTF-8: truncated, not hex, overlong, a surrogate, a lone continuation byte, NUL. */
const BAD_ESCAPES = ["%E0%A4%A", "%", "%zz", "%C0%AF", "%ED%A0%80", "%FF", "%80", "%00"];

/** What a hostile or broken client does to a request target. */
const TARGETS: fc.Arbitrary<string> = fc.tuple(fc.constantFrom(...PATHS), fc.nat()).chain(([path, n]) =>
  fc.oneof(
    { arbitrary: fc.constant(path), weight: 30 },
    {
      // A bad escape at the end, before the last segment's extension, or in the query.
      arbitrary: fc
        .constantFrom(...BAD_ESCAPES)
        .map((bad) => [`${path}${bad}`, path.replace(/(\.\w+)?$/, `${bad}$1`), `${path}?query=${bad}`][n % 3]!),
      weight: 35,
    },
    {
      arbitrary: fc
        .constantFrom("/../../../etc/passwd", "/%2e%2e/%2e%2e/%2e%2e/package.json", "/..%2f..%2f..%2fpackage.json", "/.", "/..")
        .map((dots) => path + dots),
      weight: 10,
    },
    { arbitrary: fc.constantFrom(path.replaceAll("/", "//"), `${path}//`, `/${path}`, `${path}///x`), weight: 8 },
    {
      arbitrary: fc.constantFrom(1000, 9000, 20_000).map((length) => `${path}${path.endsWith("/") ? "" : "/"}${"a".repeat(length)}`),
      weight: 7,
    },
    {
      arbitrary: fc
        .constantFrom(
          "?query={__typename}",
          "?query=subscription{events{id}}",
          "?compression=gzip-js&_=1700000000000",
          "?compression=base64",
          "?beacon=1",
          "#frag",
          ";x=1",
        )
        .map((tail) => path + tail),
      weight: 5,
    },
    // Request targets without a leading slash: absolute and asterisk forms, and names of Object.prototype members.
    { arbitrary: fc.constantFrom("constructor", "__proto__", "toString", "*", "http://evil.test/graphql", "graphql"), weight: 5 },
  ),
);

const METHODS = fc.oneof(
  { arbitrary: fc.constantFrom("GET", "POST"), weight: 7 },
  { arbitrary: fc.constantFrom("HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "PROPFIND", "BREW"), weight: 3 },
);

const posthogBatch = JSON.stringify({
  api_key: CAPTURE_KEY,
  batch: [{ event: "fuzz", distinct_id: "u", properties: { $current_url: "https://x.test/" } }],
});
const captureMutation = JSON.stringify({ query: 'mutation { captureEvent(input: { event: "fuzz", distinctId: "u" }) { id } }' });

const BODIES: fc.Arbitrary<Buffer> = fc.oneof(
  fc
    .constantFrom(
      "",
      '{"query":"{ __typename }"}',
      '{"query":"{ realtimeMetrics { eventsTotal } }"}',
      '{"query":"{ __typ',
      captureMutation,
      posthogBatch,
      posthogBatch.slice(0, 40),
      '{"query":"subscription { events { id } }"}',
      "null",
      "[]",
      '"a string"',
      "[".repeat(3000) + "]".repeat(3000),
      `data=${encodeURIComponent(posthogBatch)}`,
      Buffer.from(posthogBatch).toString("base64"),
    )
    .map((text) => Buffer.from(text)),
  fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08]), Buffer.from(bytes)])),
  fc.constantFrom(gzipSync(posthogBatch).subarray(0, 30), gzipSync(captureMutation), gzipSync(Buffer.alloc(2_000_000))),
  fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
);

/** A header present `percent` % of the time. */
function sometimes(percent: number, value: fc.Arbitrary<string>): fc.Arbitrary<string | undefined> {
  return fc.oneof({ arbitrary: fc.constant(undefined), weight: 100 - percent }, { arbitrary: value, weight: percent });
}

// Headers Node refuses outright (over 16 KiB, Transfer-Encoding beside Content-Length) are rare, or every request
// would end at Node's parser and none would reach a route.
const HEADERS: fc.Arbitrary<[string, string][]> = fc
  .record({
    "content-type": sometimes(
      80,
      fc.constantFrom(
        "application/json",
        "application/json",
        "application/json; charset=utf-7",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/graphql-response+json",
        "*/*",
        "garbage;;;=",
        "",
      ),
    ),
    "content-encoding": sometimes(25, fc.constantFrom("gzip", "br", "gzip, gzip", "identity", "x-gzip")),
    accept: sometimes(40, fc.constantFrom("text/event-stream", "application/graphql-response+json", "text/html", "*/*", "multipart/mixed")),
    authorization: sometimes(
      80,
      fc.constantFrom(
        `Bearer ${READ_KEY}`,
        `Bearer ${READ_KEY}`,
        `Bearer ${CAPTURE_KEY}`,
        "Bearer bogus",
        "Basic dXNlcjpwYXNz",
        `Bearer ${"x".repeat(5000)}`,
        "",
      ),
    ),
    "x-graphql-yoga-csrf": sometimes(50, fc.constant("1")),
    "x-request-id": sometimes(20, fc.constantFrom("fuzz-1", "a b", "x".repeat(500), "\u00e9")),
    origin: sometimes(20, fc.constant("https://evil.test")),
    "x-pad": sometimes(4, fc.constantFrom("a".repeat(9000), "a".repeat(20_000))),
    "transfer-encoding": sometimes(3, fc.constant("chunked")),
  })
  .map((headers) => Object.entries(headers).filter((entry): entry is [string, string] => entry[1] !== undefined));

interface FuzzRequest {
  readonly method: string;
  readonly target: string;
  readonly headers: [string, string][];
  readonly body: Buffer;
}

function serialize({ method, target, headers, body }: FuzzRequest): Buffer {
  const lines = [
    `${method} ${target} HTTP/1.1`,
    "host: pulse.test",
    "connection: close",
    ...headers.map(([name, value]) => `${name}: ${value}`),
  ];
  const chunked = headers.some(([name, value]) => name === "transfer-encoding" && value === "chunked");
  if (body.length > 0 || method === "POST" || method === "PUT") lines.push(`content-length: ${body.length}`);
  // A chunked body ends with its last chunk; without one the request is not over, and a route that reads the body
  // rightly waits for the rest (until PULSE_HTTP_REQUEST_TIMEOUT_MS). With a content-length beside it, Node refuses
  // the request at once (400).
  else if (chunked) body = Buffer.from("0\r\n\r\n");
  return Buffer.concat([Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1"), body]);
}

/** Sends one request on a fresh connection; the first response (an event stream: its head), or null if none came. */
async function send(url: string, request: FuzzRequest): Promise<RawResponse | null> {
  const connection = await RawHttpConnection.open(url);
  connection.write(serialize(request));
  try {
    return await within(
      (async () => {
        for (;;) {
          const response = connection.response();
          if (response) return response;
          if (connection.closedAt !== null) return null;
          await sleep(2);
        }
      })(),
      `an answer to ${request.method} ${request.target.slice(0, 80)}`,
      5000,
    );
  } finally {
    connection.socket.destroy();
  }
}

/** The router's masked 500: nothing else of the 5xx range may come out of a bad request. */
function isMasked500(response: RawResponse): boolean {
  if (response.status !== 500) return false;
  const body = JSON.parse(response.body.toString("utf8")) as { errors?: { message?: string; extensions?: { code?: string } }[] };
  return (
    body.errors?.every((error) => error.message === "Unexpected error." && error.extensions?.code === "INTERNAL_SERVER_ERROR") ?? false
  );
}

/** The 5xx answers that are by design: PostHog endpoints Pulse does not serve, a dashboard or tracker never built. */
function isDesigned5xx(target: string, response: RawResponse): boolean {
  const path = target.split("?")[0]!;
  if (response.status === 501) return POSTHOG_UNSUPPORTED.some((endpoint) => endpoint.pattern.test(path));
  return response.status === 503 && /^(dashboard|tracker) not built/.test(response.body.toString("utf8"));
}

describe("the HTTP routes under fuzzing (keys configured)", () => {
  it("answer every request (method × path × malformed encoding × headers × body) below 600, 5xx only masked, and stay up", async () => {
    // The server runs in this process: what would have taken a Pulse process down is caught here instead.
    const escaped: unknown[] = [];
    const record = (error: unknown) => void escaped.push(error);
    process.on("unhandledRejection", record);
    process.on("uncaughtException", record);
    onCleanup(() => {
      process.off("unhandledRejection", record);
      process.off("uncaughtException", record);
    });
    const server = await startServer({ trust: { readKeys: [READ_KEY], captureKeys: [CAPTURE_KEY] } });
    const request = fc.record({ method: METHODS, target: TARGETS, headers: HEADERS, body: BODIES });
    await fc.assert(
      fc.asyncProperty(request, async (req) => {
        const response = await send(server.url, req);
        // Node answers what it cannot parse itself (400, 431); a refused body closes the connection after its answer.
        expect(response, "an HTTP answer").not.toBeNull();
        const { status, body } = response!;
        expect(status).toBeGreaterThanOrEqual(100);
        expect(status).toBeLessThan(600);
        if (status >= 500)
          expect(isMasked500(response!) || isDesigned5xx(req.target, response!), `${status} ${body.toString("utf8").slice(0, 300)}`).toBe(
            true,
          );
        // Error answers carry no stack trace nor source paths. Pages and scripts (GraphiQL's inlined bundle, the
        // dashboard) are static assets whose text may contain such strings.
        const asset = /^(text\/html|text\/javascript|application\/javascript|text\/css)/.test(response!.headers["content-type"] ?? "");
        if (!asset) expect(body.toString("utf8")).not.toMatch(/\n\s+at |node_modules|\/src\//);
        expect(escaped).toEqual([]);
      }),
      // A failure is reported as found: shrinking it would wait out the answer timeout on every attempt.
      { numRuns: 300, endOnFailure: true },
    );
    // Let anything still settling from the last requests surface before the verdict.
    await sleep(100);
    expect(escaped).toEqual([]);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });
});

import { get } from "node:http";
import { describe, expect, it } from "vitest";
import { KEYED, KEYS } from "../support/keys.ts";
import { RawHttpConnection, type RawResponse } from "../support/raw-http.ts";
import { RawGraphqlSocket } from "../support/raw-ws.ts";
import { startServer } from "../support/server.ts";
import { waitFor, within } from "../support/wait.ts";

const SUBSCRIBE = encodeURIComponent("subscription { events { id } }");
const CAPTURE = JSON.stringify({ query: 'mutation { captureEvent(input: { event: "e", distinctId: "u" }) { id } }' });

/** Writes a request head (`lines`, then a blank line) and, optionally, the start of its body. */
function head(lines: readonly string[], bodyStart = ""): string {
  return `${lines.join("\r\n")}\r\n\r\n${bodyStart}`;
}

const errorsOf = (response: RawResponse) =>
  (JSON.parse(response.body.toString("utf8")) as { errors: { message: string; extensions: Record<string, unknown> }[] }).errors;

/** GET `path` from a given loopback address with node:http (a probe from another host, as far as Pulse can tell). */
function getFrom(url: string, path: string, localAddress: string): Promise<number> {
  return new Promise((resolve, reject) => {
    get(`${url}${path}`, { localAddress, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on("error", reject);
  });
}

describe("401 before any body byte is read (keys configured)", () => {
  const CASES: [string, string, Record<string, string>][] = [
    ["POST /graphql", "/graphql", { "content-type": "application/json" }],
    ["POST /graphql/stream", "/graphql/stream", { "content-type": "application/json", accept: "text/event-stream" }],
  ];
  const AUTHORIZATIONS: [string, string | undefined][] = [
    ["no key", undefined],
    ["an unknown key", "Bearer not-a-key-0123456789abcdef"],
    ["a malformed header", "Basic dXNlcjpwYXNz"],
  ];

  for (const [name, path, headers] of CASES) {
    it.each(AUTHORIZATIONS)(
      `${name} with %s: 401 UNAUTHENTICATED while the body is still unsent, then the connection closes`,
      async (_, authorization) => {
        const server = await startServer({ trust: KEYED });
        const connection = await RawHttpConnection.open(server.url);
        connection.write(
          head(
            [
              `POST ${path} HTTP/1.1`,
              "host: pulse.test",
              ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
              ...(authorization ? [`authorization: ${authorization}`] : []),
              "content-length: 500000",
            ],
            '{"query":',
          ),
        );
        const response = await connection.nextResponse(5000);
        expect(response.status).toBe(401);
        expect(response.headers["www-authenticate"]).toContain("Bearer");
        expect(errorsOf(response)[0]!.extensions["code"]).toBe("UNAUTHENTICATED");
        await within(connection.closed, "the server to close the connection with the unread body");
      },
    );
  }

  it("PostHog's /batch/ with a bad key in Authorization: 401 while the body is still unsent", async () => {
    const server = await startServer({ trust: KEYED });
    const connection = await RawHttpConnection.open(server.url);
    connection.write(
      head(
        [
          "POST /batch/ HTTP/1.1",
          "host: pulse.test",
          "content-type: application/json",
          "authorization: Bearer not-a-key-0123456789abcdef",
          "content-length: 500000",
        ],
        '{"batch":[',
      ),
    );
    const response = await connection.nextResponse(5000);
    expect(response.status).toBe(401);
    expect(JSON.parse(response.body.toString("utf8"))).toMatchObject({ error: { code: "UNAUTHENTICATED" } });
    await within(connection.closed, "the server to close the connection with the unread body");
  });

  it("PostHog's api_key in the body: a body sent too slowly gets 408 after PULSE_HTTP_REQUEST_TIMEOUT_MS", async () => {
    const server = await startServer({ trust: { ...KEYED, httpHeadersTimeoutMs: 1000, httpRequestTimeoutMs: 1000 } });
    const connection = await RawHttpConnection.open(server.url);
    connection.write(
      head(
        ["POST /batch/ HTTP/1.1", "host: pulse.test", "content-type: application/json", "content-length: 5000"],
        `{"api_key":"${KEYS.capture}",`,
      ),
    );
    const response = await connection.nextResponse(5000);
    expect(response.status).toBe(408);
    await within(connection.closed, "the connection to close");
    expect(server.hub.stream.size).toBe(0);
  });

  it("a valid key still gets its body read and the capture stored", async () => {
    const server = await startServer({ trust: KEYED });
    const response = await fetch(`${server.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${KEYS.capture}` },
      body: CAPTURE,
    });
    expect(response.status).toBe(200);
    expect(server.hub.stream.size).toBe(1);
  });
});

describe("HTTP timeouts", () => {
  it("a connection that sends nothing gets 408 and is closed after PULSE_HTTP_HEADERS_TIMEOUT_MS", async () => {
    const server = await startServer({ trust: { httpHeadersTimeoutMs: 300, httpRequestTimeoutMs: 600 } });
    const connection = await RawHttpConnection.open(server.url);
    await within(connection.closed, "the silent connection to be closed", 5000);
    expect(connection.response()?.status).toBe(408);
  });

  it("a request whose headers never end gets 408 after PULSE_HTTP_HEADERS_TIMEOUT_MS", async () => {
    const server = await startServer({ trust: { httpHeadersTimeoutMs: 300, httpRequestTimeoutMs: 5000 } });
    const connection = await RawHttpConnection.open(server.url);
    connection.write("GET /graphql HTTP/1.1\r\nhost: pulse.test\r\n");
    await within(connection.closed, "the half-sent request to be closed", 4000);
    expect(connection.response()?.status).toBe(408);
  });

  it("a keep-alive connection idle after its response is closed after PULSE_HTTP_KEEPALIVE_TIMEOUT_MS", async () => {
    const server = await startServer({ trust: { httpKeepAliveTimeoutMs: 200 } });
    const connection = await RawHttpConnection.open(server.url);
    connection.write(head(["GET /healthz HTTP/1.1", "host: pulse.test"]));
    expect((await connection.nextResponse()).status).toBe(200);
    await within(connection.closed, "the idle keep-alive connection to be closed", 3000);
  });

  it("an event stream with no bytes either way for PULSE_HTTP_IDLE_TIMEOUT_MS is closed", async () => {
    const server = await startServer({ trust: { httpIdleTimeoutMs: 300 } });
    const connection = await RawHttpConnection.open(server.url);
    connection.write(head([`GET /graphql/stream?query=${SUBSCRIBE} HTTP/1.1`, "host: pulse.test", "accept: text/event-stream"]));
    const response = await connection.nextResponse();
    expect(response.status).toBe(200);
    expect(response.headers["content-type"]).toContain("text/event-stream");
    // graphql-sse pings every 12 s: nothing is written before the idle timeout.
    await within(connection.closed, "the idle event stream to be closed", 5000);
  });
});

describe("PULSE_MAX_CONNECTIONS_PER_ADDRESS on plain HTTP connections", () => {
  it("answers the connection past the limit 429 RATE_LIMITED without routing it, while /readyz answers another address", async () => {
    const server = await startServer({ trust: { maxConnectionsPerAddress: 3 } });
    const held = [
      await RawHttpConnection.open(server.url),
      await RawHttpConnection.open(server.url),
      await RawHttpConnection.open(server.url),
    ];
    const refused = await RawHttpConnection.open(server.url);
    refused.write(
      head(["POST /graphql HTTP/1.1", "host: pulse.test", "content-type: application/json", `content-length: ${CAPTURE.length}`], CAPTURE),
    );
    const response = await refused.nextResponse();
    expect(response.status).toBe(429);
    expect(response.headers["retry-after"]).toBe("1");
    const [error] = errorsOf(response);
    expect(error!.extensions).toMatchObject({ code: "RATE_LIMITED", limit: 3, setting: "PULSE_MAX_CONNECTIONS_PER_ADDRESS" });
    expect(error!.message).toContain("PULSE_MAX_CONNECTIONS_PER_ADDRESS");
    await within(refused.closed, "the refused connection to be closed");
    // Refused at the door: the capture it carried never reached GraphQL.
    expect(server.hub.stream.size).toBe(0);
    // A probe from elsewhere (any 127.x.y.z is loopback) is not affected by 127.0.0.1's flood.
    expect(await getFrom(server.url, "/readyz", "127.0.0.2")).toBe(200);

    held[0]!.socket.destroy();
    await held[0]!.closed;
    const served = await within(
      (async () => {
        for (;;) {
          const again = await RawHttpConnection.open(server.url);
          again.write(head(["GET /healthz HTTP/1.1", "host: pulse.test", "connection: close"]));
          const answer = await again.nextResponse();
          if (answer.status === 200) return answer;
        }
      })(),
      "a freed slot",
    );
    expect(served.status).toBe(200);
  });

  it("counts Yoga's own event stream on GET /graphql (accept: text/event-stream) with WebSockets", async () => {
    const server = await startServer({ trust: { maxConnectionsPerAddress: 2 } });
    const stream = await RawHttpConnection.open(server.url);
    stream.write(
      head([`GET /graphql?query=${SUBSCRIBE} HTTP/1.1`, "host: pulse.test", "accept: text/event-stream", "x-graphql-yoga-csrf: 1"]),
    );
    const opened = await stream.nextResponse();
    expect(opened.status).toBe(200);
    expect(opened.headers["content-type"]).toContain("text/event-stream");
    expect((await RawGraphqlSocket.attempt(server.url)).outcome).toBe("open");
    expect((await RawGraphqlSocket.attempt(server.url)).outcome).toBe(429);
    stream.socket.destroy();
    await stream.closed;
    await waitFor(async () => (await RawGraphqlSocket.attempt(server.url)).outcome === "open", { what: "the stream's slot to be freed" });
  });
});

import { describe, expect, it } from "vitest";
import { capturedLogger } from "../support/logs.ts";
import { RawHttpConnection, type RawResponse } from "../support/raw-http.ts";
import { startServer } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";

/** Sends `head` (and `body`) on a fresh raw connection with `Connection: close` and reads the answer. */
async function rawRequest(url: string, requestLine: string, headers: Record<string, string> = {}, body = ""): Promise<RawResponse> {
  const connection = await RawHttpConnection.open(url);
  const lines = [requestLine, "host: pulse.test", "connection: close", ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  if (body || !requestLine.startsWith("GET")) lines.push(`content-length: ${Buffer.byteLength(body)}`);
  connection.write(`${lines.join("\r\n")}\r\n\r\n${body}`);
  return connection.nextResponse();
}

const json = (response: RawResponse) =>
  JSON.parse(response.body.toString("utf8")) as { errors: { message: string; extensions: Record<string, unknown> }[] };

describe("malformed URLs", () => {
  // Issue #14 item 1: this one rejected inside serveDashboard, unhandled, and took the process down.
  it("GET /dashboard/assets/%E0%A4%A is 400 BAD_USER_INPUT and the server keeps serving", async () => {
    const server = await startServer();
    const response = await rawRequest(server.url, "GET /dashboard/assets/%E0%A4%A HTTP/1.1");
    expect(response.status).toBe(400);
    expect(json(response).errors[0]!.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "url" });
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  const ROUTES = [
    "/",
    "/graphql",
    "/graphql/stream",
    "/dashboard/assets/x.js",
    "/healthz",
    "/readyz",
    "/metrics",
    "/batch/",
    "/e/",
    "/decide",
    "/nope",
  ];
  const BAD = ["%E0%A4%A", "%zz", "%C0%AF" /* overlong "/" */, "%ED%A0%80" /* a UTF-16 surrogate */, "%00"];

  it.each(ROUTES)("%s with a bad percent-escape (in the path or the query) is 400 on every method", async (route) => {
    const server = await startServer();
    for (const bad of BAD) {
      for (const target of [`${route}${route.endsWith("/") ? "" : "/"}${bad}`, `${route}?q=${bad}`]) {
        for (const method of ["GET", "POST"]) {
          const response = await rawRequest(
            server.url,
            `${method} ${target} HTTP/1.1`,
            { "content-type": "application/json" },
            method === "POST" ? "{}" : "",
          );
          expect({ target, method, status: response.status }).toEqual({ target, method, status: 400 });
          expect(json(response).errors[0]!.extensions["code"]).toBe("BAD_USER_INPUT");
        }
      }
    }
  });

  it("a URL longer than PULSE_MAX_URL_LENGTH is 400 naming the limit and the setting", async () => {
    const server = await startServer({ trust: { maxUrlLength: 1000 } });
    const response = await rawRequest(server.url, `GET /graphql?query=${"a".repeat(1000)} HTTP/1.1`);
    expect(response.status).toBe(400);
    const [error] = json(response).errors;
    expect(error!.message).toContain("PULSE_MAX_URL_LENGTH");
    expect(error!.extensions).toMatchObject({ code: "BAD_USER_INPUT", limit: 1000, setting: "PULSE_MAX_URL_LENGTH" });
    expect((await rawRequest(server.url, `GET /healthz?${"a".repeat(900)} HTTP/1.1`)).status).toBe(200);
  });
});

describe("the error boundary", () => {
  it("answers a route that throws with a masked 500 carrying the request id, and logs it once with the error", async () => {
    const { logger, lines } = capturedLogger();
    const server = await startServer({
      logger,
      authorizeRead: () => {
        throw new Error("secret detail of a broken read-key check");
      },
    });
    const response = await fetch(`${server.url}/metrics`, { headers: { "x-request-id": "req-boundary-1" } });
    expect(response.status).toBe(500);
    expect(response.headers.get("x-request-id")).toBe("req-boundary-1");
    const text = await response.text();
    expect(JSON.parse(text)).toEqual({
      errors: [{ message: "Unexpected error.", extensions: { code: "INTERNAL_SERVER_ERROR", requestId: "req-boundary-1" } }],
    });
    expect(text).not.toContain("secret");
    const failures = await waitFor(() => {
      const found = lines().filter((line) => line["msg"] === "request failed");
      return found.length > 0 ? found : null;
    });
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({
      reqId: "req-boundary-1",
      route: "ops",
      path: "/metrics",
      err: { message: "secret detail of a broken read-key check" },
    });
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });
});

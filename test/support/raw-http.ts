import { request, type IncomingHttpHeaders } from "node:http";
import { connect, type Socket } from "node:net";
import { onCleanup } from "./cleanup.ts";
import { waitFor } from "./wait.ts";

/** One HTTP response as read off a raw socket. */
export interface RawResponse {
  readonly status: number;
  /** Lower-case names; a repeated header keeps its last value. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

/**
 * A raw TCP connection to an HTTP server, for what `fetch` and `http.request` refuse to send (bad request targets,
 * bodies shorter than declared, headers and no body at all). Everything received is kept in `received`; closed
 * after the test.
 */
export class RawHttpConnection {
  received = Buffer.alloc(0);
  /** Set once the server has closed (or reset) the connection. */
  closedAt: number | null = null;
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => (this.received = Buffer.concat([this.received, chunk])));
    socket.on("error", () => {}); // a reset is a way of closing; tests assert on `closed`
    this.closed = new Promise((resolve) =>
      socket.once("close", () => {
        this.closedAt = Date.now();
        resolve();
      }),
    );
  }

  /** Connects to `baseUrl`'s host and port, from `localAddress` if given (any 127.x.y.z is loopback on Linux). */
  static async open(baseUrl: string, options: { localAddress?: string } = {}): Promise<RawHttpConnection> {
    const { hostname, port } = new URL(baseUrl);
    const socket = connect({ host: hostname, port: Number(port), localAddress: options.localAddress });
    const connection = new RawHttpConnection(socket);
    onCleanup(() => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    return connection;
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** The first complete response received so far, or null (see `parseResponse`). */
  response(): RawResponse | null {
    return parseResponse(this.received, this.closedAt !== null);
  }

  /** Waits for the first complete response (default bound 10 s). */
  nextResponse(timeoutMs?: number): Promise<RawResponse> {
    return waitFor(() => this.response(), {
      timeoutMs,
      what: () => `a response (received ${JSON.stringify(this.received.toString("latin1").slice(0, 200))})`,
    });
  }
}

/** One HTTP exchange as it travels, read by `exchange`. */
export interface Exchange {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The body as sent: still compressed when `content-encoding` says so (fetch would have decoded it). */
  readonly body: Buffer;
}

/**
 * One HTTP request through node:http, for the bytes on the wire of an answer `fetch` would change: `fetch` adds its
 * own `accept-encoding` and decodes what comes back. Sends exactly the headers given.
 */
export function exchange(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Exchange> {
  const { method = "GET", headers = {}, body } = options;
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    onCleanup(() => req.destroy());
    req.on("error", reject);
    req.end(body);
  });
}

/**
 * Parses the first HTTP response in `data`: complete once its headers are in and then its body (by Content-Length,
 * chunked to the last chunk, or up to the close). An event stream counts as complete at its headers, since it does
 * not end by itself.
 */
export function parseResponse(data: Buffer, closed: boolean): RawResponse | null {
  const end = data.indexOf("\r\n\r\n");
  if (end === -1) return null;
  const [statusLine = "", ...lines] = data.subarray(0, end).toString("latin1").split("\r\n");
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (!match) throw new Error(`Not an HTTP response: ${JSON.stringify(statusLine.slice(0, 100))}`);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const status = Number(match[1]);
  const rest = data.subarray(end + 4);
  if ((headers["content-type"] ?? "").startsWith("text/event-stream")) return { status, headers, body: rest };
  if (headers["content-length"] !== undefined) {
    const length = Number(headers["content-length"]);
    return rest.length >= length ? { status, headers, body: rest.subarray(0, length) } : closed ? { status, headers, body: rest } : null;
  }
  if ((headers["transfer-encoding"] ?? "").toLowerCase() === "chunked") {
    const body = dechunk(rest);
    if (body) return { status, headers, body };
    return closed ? { status, headers, body: rest } : null;
  }
  if (status === 204 || status === 304 || status < 200) return { status, headers, body: Buffer.alloc(0) };
  return closed ? { status, headers, body: rest } : null;
}

function dechunk(data: Buffer): Buffer | null {
  const parts: Buffer[] = [];
  let offset = 0;
  for (;;) {
    const lineEnd = data.indexOf("\r\n", offset);
    if (lineEnd === -1) return null;
    const size = parseInt(data.subarray(offset, lineEnd).toString("latin1"), 16);
    if (Number.isNaN(size)) return null;
    if (size === 0) return Buffer.concat(parts);
    const start = lineEnd + 2;
    if (data.length < start + size + 2) return null;
    parts.push(data.subarray(start, start + size));
    offset = start + size + 2;
  }
}

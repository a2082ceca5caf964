import { request, type IncomingMessage } from "node:http";
import { TOKEN_HEADER_KEY } from "graphql-sse";
import { onCleanup } from "./cleanup.ts";
import { bearer, type Result, type Variables } from "./clients.ts";
import type { EventPayload } from "./events.ts";

/**
 * One frame of an event stream. In distinct connections mode `data` is the operation's result; in single
 * connection mode it is `{ id, payload }` (the operation and its result); `complete` frames may carry no data.
 */
export interface SseFrame {
  readonly event: string;
  readonly data: (Result & { readonly id?: string; readonly payload?: Result }) | null;
}

/** One request to `/graphql/stream`, as `RawEventStream.request` sends it. */
export interface StreamRequest {
  readonly method: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  /** The URL's search parameters. */
  readonly search?: Record<string, string>;
}

/**
 * The one raw SSE stream of the tests: an event stream read by hand with node:http, for what graphql-sse's client
 * hides: every frame in order, the status and body of a refusal, a reader that stops reading (`pause()`) so the
 * server's writes back up, a stream cut without telling the server (`close()`). Destroyed by `cleanup()`.
 */
export class RawEventStream {
  readonly frames: SseFrame[] = [];
  status = 0;
  /** The response's headers (lower-case names). */
  headers: IncomingMessage["headers"] = {};
  ended = false;
  private response: IncomingMessage | undefined;
  private text = "";

  /** An operation on a stream of its own (graphql-sse's distinct connections mode): POST /graphql/stream. */
  static post(baseUrl: string, query: string, variables?: Variables): Promise<RawEventStream> {
    const headers = { accept: "text/event-stream", "content-type": "application/json" };
    return RawEventStream.request(baseUrl, { method: "POST", headers, body: JSON.stringify({ query, variables }) });
  }

  /** Opens the stream reserved with `token` (graphql-sse's single connection mode): GET /graphql/stream. */
  static open(baseUrl: string, token: string, key?: string): Promise<RawEventStream> {
    const headers = { accept: "text/event-stream", [TOKEN_HEADER_KEY]: token, ...bearer(key) };
    return RawEventStream.request(baseUrl, { method: "GET", headers });
  }

  /**
   * Any request to `/graphql/stream`, by hand: resolves once the response's headers are in. Its body is read as an
   * event stream when it is one (`frames`), as text otherwise (`body`, complete once `ended`).
   */
  static request(baseUrl: string, { method, headers = {}, body, search }: StreamRequest): Promise<RawEventStream> {
    const stream = new RawEventStream();
    const query = search ? `?${new URLSearchParams(search).toString()}` : "";
    return new Promise((resolve, reject) => {
      const req = request(`${baseUrl}/graphql/stream${query}`, { method, headers }, (res) => {
        stream.response = res;
        stream.status = res.statusCode ?? 0;
        stream.headers = res.headers;
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => stream.read(chunk));
        res.on("end", () => (stream.ended = true));
        res.on("error", () => {});
        resolve(stream);
      });
      onCleanup(() => req.destroy());
      req.on("error", reject);
      req.end(body);
    });
  }

  /** The `data.events` of every `next` frame (distinct connections mode). */
  get events(): EventPayload[] {
    return this.frames.filter((f) => f.event === "next" && f.data?.data).map((f) => f.data!.data!["events"] as EventPayload);
  }

  /** The results of one operation, in order (single connection mode). */
  results(operationId: string): Result[] {
    return this.frames.filter((f) => f.event === "next" && f.data?.id === operationId).map((f) => f.data!.payload!);
  }

  /** Whether one operation has completed (single connection mode). */
  completed(operationId: string): boolean {
    return this.frames.some((f) => f.event === "complete" && f.data?.id === operationId);
  }

  /** What is left unparsed: the whole body of an answer that is not an event stream. */
  get body(): string {
    return this.text;
  }

  pause(): void {
    this.response!.pause();
  }

  resume(): void {
    this.response!.resume();
  }

  /** Cuts the connection without telling the server. */
  close(): void {
    this.response!.destroy();
  }

  private read(chunk: string): void {
    this.text += chunk;
    if (!(this.headers["content-type"] ?? "").startsWith("text/event-stream")) return;
    for (let end = this.text.indexOf("\n\n"); end >= 0; end = this.text.indexOf("\n\n")) {
      const block = this.text.slice(0, end);
      this.text = this.text.slice(end + 2);
      if (block.startsWith(":")) continue; // keep-alive comment
      const event = /^event: (.*)$/m.exec(block)?.[1] ?? "";
      const data = /^data: ?(.*)$/m.exec(block)?.[1] ?? "";
      this.frames.push({ event, data: data ? (JSON.parse(data) as SseFrame["data"]) : null });
    }
  }
}

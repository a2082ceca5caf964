import type { IncomingMessage, ServerResponse } from "node:http";

/**
 * The event stream responses under way (graphql-sse's at /graphql/stream, Yoga's own SSE at /graphql), so that
 * shutdown ends them without the `complete` their operations would otherwise get. A `complete` tells a stock
 * client (graphql-sse's, Yoga's SSE readers) the operation is over for good; a stream that just ends while the
 * client waits for results is a network error to graphql-sse's client, which reconnects and subscribes again.
 * One entry per open event stream, removed when its response closes; bounded by the connection limits.
 */
export class EventStreamResponses {
  private readonly open = new Set<ServerResponse>();
  private shuttingDown = false;

  /** Whether `req` asks for an event stream (graphql-sse in either mode, or Yoga's SSE): its `accept` says so. */
  static wanted(req: IncomingMessage): boolean {
    return req.headers.accept?.includes("text/event-stream") ?? false;
  }

  /**
   * Tracks the response to an event stream request until it closes; false once shutting down, after answering it
   * 503 with `Retry-After` (a stock client retries, by then against the next instance).
   */
  admit(res: ServerResponse): boolean {
    if (this.shuttingDown) {
      const body = JSON.stringify({ errors: [{ message: "Pulse is shutting down; retry shortly", extensions: { code: "UNAVAILABLE" } }] });
      res.writeHead(503, {
        "content-type": "application/json; charset=utf-8",
        "retry-after": "1",
        "content-length": Buffer.byteLength(body),
      });
      res.end(body);
      return false;
    }
    this.open.add(res);
    res.once("close", () => this.open.delete(res));
    return true;
  }

  /**
   * Ends every event stream now, before the hub ends their operations: what is written to them afterwards (the
   * `complete` frames) goes nowhere. A started stream ends cleanly (its last chunk); one whose head is not sent yet
   * is cut, as answering it now would race the head its writer is about to send.
   */
  endAll(): void {
    this.shuttingDown = true;
    for (const res of this.open) {
      // Yoga's writer still writes (a ping, the `complete`) until its operation ends: a write after the end is an
      // `error` event, and one without a listener would end the process.
      res.on("error", ignore);
      if (res.headersSent) res.end();
      else res.destroy();
    }
    this.open.clear();
  }
}

function ignore(): void {}

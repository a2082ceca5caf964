import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { performance } from "node:perf_hooks";
import type { Logger } from "pino";
import type { Transport } from "../graphql/context.ts";
import { SSE_PATH } from "../transport/sse.ts";

/** What Pulse knows about one HTTP request or WebSocket connection while it is open. */
export interface ConnectionRecord {
  /** The request id: the client's `x-request-id` when it is sane, else a fresh UUID. Echoed in `x-request-id`. */
  readonly id: string;
  readonly transport: Transport;
  /** Event payloads pushed to the subscriptions this connection started. */
  deliveries: number;
  /** Subscriptions started on it. */
  subscriptions: number;
}

interface Tracked extends ConnectionRecord {
  readonly startedAt: number;
}

/** An incoming id is used only when it cannot garble a log line or bloat it. */
const SANE_REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;

export interface ConnectionLogOptions {
  /** Paths logged at debug rather than info (probes and scrapes, which arrive every few seconds). */
  readonly quietPaths?: readonly string[];
}

/**
 * Request ids and one log line per HTTP request, SSE stream and WebSocket connection, with the same fields on
 * every transport: `reqId`, `transport`, `durationMs`, `deliveries`, ... Streams (SSE, WebSocket) get a line when
 * they open too, since they may last hours. Lines never carry headers, query strings, connection params or
 * variables: keys and event properties travel there.
 */
export class ConnectionLog {
  /** By HTTP request, or by what stands for a WebSocket connection (see socketOpened). */
  private readonly records = new WeakMap<object, Tracked>();
  private readonly upgradeIds = new WeakMap<IncomingMessage, string>();
  private readonly quietPaths: ReadonlySet<string>;

  constructor(
    private readonly logger: Logger,
    options: ConnectionLogOptions = {},
  ) {
    this.quietPaths = new Set(options.quietPaths ?? []);
  }

  /** Starts tracking an HTTP request: sets its `x-request-id` response header, logs it when the response ends. */
  request(req: IncomingMessage, res: ServerResponse): ConnectionRecord {
    const path = pathOf(req);
    const streaming = (req.headers.accept ?? "").includes("text/event-stream");
    const record = this.track(req, path === SSE_PATH ? "sse" : "http", requestIdOf(req));
    res.setHeader("x-request-id", record.id);
    const fields = { reqId: record.id, transport: record.transport, method: req.method, path };
    const quiet = this.quietPaths.has(path);
    if (streaming) this.logger.info({ ...fields, remoteAddress: req.socket.remoteAddress }, "connection opened");
    res.once("close", () => {
      const done = {
        ...fields,
        status: res.statusCode,
        durationMs: elapsedMs(record.startedAt),
        ...(streaming || record.subscriptions > 0 ? { subscriptions: record.subscriptions, deliveries: record.deliveries } : {}),
        ...(res.writableFinished ? {} : { aborted: true }),
      };
      const level = res.statusCode >= 500 && !quiet ? "error" : quiet ? "debug" : "info";
      this.logger[level](done, streaming ? "connection closed" : "request completed");
    });
    return record;
  }

  /** A WebSocket upgrade is about to be accepted: its id goes into the 101 response headers. */
  upgrading(req: IncomingMessage, headers: string[]): void {
    const id = requestIdOf(req);
    this.upgradeIds.set(req, id);
    headers.push(`x-request-id: ${id}`);
  }

  /**
   * A WebSocket connection opened: `req` is its upgrade request, `peer` what stands for the connection from now on
   * (the object its operations carry as `req`, and `socketClosed` is given).
   */
  socketOpened(req: IncomingMessage, peer: object): ConnectionRecord {
    const record = this.track(peer, "ws", this.upgradeIds.get(req) ?? requestIdOf(req));
    this.logger.info(
      { reqId: record.id, transport: "ws", path: pathOf(req), remoteAddress: req.socket.remoteAddress },
      "connection opened",
    );
    return record;
  }

  /** A WebSocket connection closed, after its subscriptions ended (so its counts are final). */
  socketClosed(peer: object, code: number, reason: string): void {
    const record = this.records.get(peer);
    if (!record) return;
    this.logger.info(
      {
        reqId: record.id,
        transport: "ws",
        code,
        ...(reason ? { reason: reason.slice(0, 123) } : {}),
        durationMs: elapsedMs(record.startedAt),
        subscriptions: record.subscriptions,
        deliveries: record.deliveries,
      },
      "connection closed",
    );
  }

  /** The record of the request (or WebSocket connection) an operation came in on: its context's `req`. */
  of(req: unknown): ConnectionRecord | undefined {
    return req && typeof req === "object" ? this.records.get(req) : undefined;
  }

  private track(req: object, transport: Transport, id: string): Tracked {
    const record: Tracked = { id, transport, deliveries: 0, subscriptions: 0, startedAt: performance.now() };
    this.records.set(req, record);
    return record;
  }
}

export function requestIdOf(req: IncomingMessage): string {
  const incoming = req.headers["x-request-id"];
  return typeof incoming === "string" && SANE_REQUEST_ID.test(incoming) ? incoming : flatUUID();
}

/**
 * A fresh UUID as one flat string. Node builds `randomUUID()` by concatenating 20 pieces, and V8 keeps such a string
 * as a tree of them: ~490 bytes instead of ~60, held for the life of every WebSocket connection (memory_idle_10k).
 */
function flatUUID(): string {
  return JSON.parse(JSON.stringify(randomUUID())) as string;
}

/** The path alone: query strings may carry keys (EventSource cannot send headers) or GraphQL variables. */
export function pathOf(req: IncomingMessage): string {
  return (req.url ?? "/").split("?")[0] ?? "/";
}

function elapsedMs(startedAt: number): number {
  return Math.round((performance.now() - startedAt) * 10) / 10;
}

import type { IncomingMessage, ServerResponse } from "node:http";
import { gunzip } from "node:zlib";
import type { Ingest } from "../app/ingest.ts";
import type { Principal } from "../auth/keys.ts";
import type { Clock } from "../domain/clock.ts";
import { badInput, PulseError, type ErrorCode } from "../domain/errors.ts";
import { isPostHogConfigPath, postHogConfigAnswer } from "./posthog-config.ts";
import { parseQuerySentAt, readPayload, requestKey, toCaptureInputs } from "./posthog-payload.ts";

/**
 * Who sends a request, from the key PostHog's SDKs put in the body (`api_key`, `token`) or the Authorization
 * header. Throws UNAUTHENTICATED (401) for a missing or unknown key on a server with keys.
 */
export type AuthenticateCapture = (apiKey: string | undefined) => Principal;

export interface PostHogIngestionOptions {
  /** The one ingest path (src/app/ingest.ts): size, validation with the configured limits, scope, rate, store. */
  readonly ingest: Ingest;
  readonly clock: Clock;
  /** Body limit in bytes, checked on the bytes received and again on the decompressed size (PULSE_MAX_BODY_BYTES). Over: 413. */
  readonly maxBodyBytes: number;
  readonly authenticate: AuthenticateCapture;
  /**
   * Checks an `Authorization` header before any byte of the body is read: throws a PulseError UNAUTHENTICATED for a
   * key that is not valid (answered 401, connection closed). Only called when the header is present; a key sent as
   * `api_key` in the body can only be checked once the body is read (within `maxBodyBytes` and the HTTP request
   * timeout). Default: no early check.
   */
  readonly authenticateHeader?: (authorization: string) => void;
  /**
   * The client's address for a request: what the capture rate is charged to and the country comes from (the server
   * passes TrustedProxies' answer, src/enrich/client-address.ts). Default: the socket's peer.
   */
  readonly clientAddress?: (req: IncomingMessage) => string;
}

export interface PostHogIngestion {
  /** Whether this path is one of PostHog's endpoints (capture, remote config and flags, or one answered as not supported). */
  handles(path: string): boolean;
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
}

/** PostHog's capture endpoints, each with and without the trailing slash. */
export const POSTHOG_CAPTURE_PATHS: readonly string[] = ["/batch", "/capture", "/e", "/i/v0/e"].flatMap((p) => [p, `${p}/`]);

/**
 * PostHog endpoints Pulse does not serve; each gets 501 with a JSON error saying what is missing. The remote config
 * (posthog-config.ts) turns them off, so posthog-js asks for them only when configured to.
 */
export const POSTHOG_UNSUPPORTED: readonly { readonly pattern: RegExp; readonly feature: string }[] = [
  { pattern: /^\/s\/?$/, feature: "session recording (/s)" },
  { pattern: /^\/api\/surveys\/?$/, feature: "surveys (/api/surveys)" },
];

const STATUS: Record<ErrorCode, number> = {
  BAD_USER_INPUT: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  RATE_LIMITED: 429,
  LAGGED: 500,
  UNAVAILABLE: 503,
};

/** A body over the limit: BAD_USER_INPUT, answered with 413 so SDKs (posthog-node halves its batch) react to it. */
class PayloadTooLarge extends PulseError {
  constructor(limit: number) {
    super("BAD_USER_INPUT", `The body is larger than ${limit} bytes (after decompression)`, { field: "body", limit });
  }
}

/**
 * PostHog-compatible ingestion, so apps instrumented with PostHog's SDKs send to Pulse by changing only the host.
 * `POST /batch/`, `/capture/`, `/e/`, `/i/v0/e/` take PostHog's payloads (see posthog-payload.ts) as JSON, gzip
 * (`Content-Encoding: gzip`, `?compression=gzip-js`, or gzip bytes), base64, or a form with a `data` field; the events
 * go through the same ingest path as the GraphQL mutations (src/app/ingest.ts: the configured limits, the scope, the rate, enrichment), so ids, duplicates (an SDK retry with the
 * same `uuid`) and delivery behave identically. Success is PostHog's `200 {"status": 1}` (`204` with `?beacon=1`);
 * a bad payload is 400 `{"error": {"code": "BAD_USER_INPUT", "message", "field"}}` and stores nothing.
 * `/flags`, `/decide` and `/array/<key>/config(.js)` get posthog-config.ts's answers: no flags, remote features off.
 * Answers CORS (PostHog's capture is cross-origin from browsers).
 */
export function createPostHogIngestion(options: PostHogIngestionOptions): PostHogIngestion {
  const { ingest, clock, maxBodyBytes, authenticate, authenticateHeader } = options;
  const clientAddress = options.clientAddress ?? ((req: IncomingMessage) => req.socket.remoteAddress ?? "unknown");
  const capturePaths = new Set(POSTHOG_CAPTURE_PATHS);

  async function capture(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): Promise<void> {
    if (authenticateHeader && req.headers.authorization !== undefined) authenticateHeader(req.headers.authorization);
    const body = await readBody(req, maxBodyBytes);
    const payload = readPayload(await decode(body, req, query, maxBodyBytes));
    if (payload.events.length === 0) throw badInput("The request carries no events", { field: "batch" });
    const principal = authenticate(requestKey(payload) ?? bearerToken(req));
    const { inputs, describeError } = toCaptureInputs(payload, {
      now: clock.now(),
      environment: principal.environment,
      sentAt: payload.sentAt ?? parseQuerySentAt(query.get("_")),
    });
    await ingest.capture(principal, inputs, {
      batch: true,
      address: clientAddress(req),
      userAgent: req.headers["user-agent"],
      listField: "batch",
      describeError,
    });
    if (query.get("beacon") === "1") {
      res.writeHead(204).end();
      return;
    }
    sendJson(res, 200, { status: 1 });
  }

  return {
    handles: (path) => capturePaths.has(path) || isPostHogConfigPath(path) || POSTHOG_UNSUPPORTED.some((u) => u.pattern.test(path)),

    async handle(req, res) {
      const url = new URL(req.url ?? "/", "http://pulse.invalid");
      allowCrossOrigin(req, res);
      if (req.method === "OPTIONS") {
        res.writeHead(204, {
          "access-control-allow-methods": "POST, OPTIONS",
          "access-control-allow-headers": req.headers["access-control-request-headers"] ?? "content-type, content-encoding",
          "access-control-max-age": "86400",
        });
        res.end();
        return;
      }
      const config = postHogConfigAnswer(url.pathname);
      if (config) {
        if (req.method !== "GET" && req.method !== "HEAD" && req.method !== "POST") {
          res.setHeader("allow", "GET, HEAD, POST, OPTIONS");
          sendJson(res, 405, { error: { code: "BAD_USER_INPUT", message: `${req.method} is not allowed here` } });
          return;
        }
        req.resume(); // what /flags is sent (the person to evaluate flags for) changes nothing in the answer
        res.writeHead(200, {
          "content-type": config.contentType,
          "cache-control": config.cacheControl,
          "content-length": Buffer.byteLength(config.body),
        });
        res.end(req.method === "HEAD" ? undefined : config.body);
        return;
      }
      const unsupported = POSTHOG_UNSUPPORTED.find((u) => u.pattern.test(url.pathname));
      if (unsupported) {
        sendJson(res, 501, {
          error: { code: "NOT_IMPLEMENTED", message: `Pulse does not serve PostHog ${unsupported.feature}; only event capture` },
        });
        return;
      }
      if (req.method !== "POST") {
        res.setHeader("allow", "POST, OPTIONS");
        sendJson(res, 405, { error: { code: "BAD_USER_INPUT", message: `${req.method} is not allowed here: POST the events` } });
        return;
      }
      try {
        await capture(req, res, url.searchParams);
      } catch (error) {
        sendError(req, res, error);
      }
    },
  };
}

/** Reads the body, refusing it as soon as it passes `limit` bytes (a declared Content-Length over it is refused unread). */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) throw new PayloadTooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new PayloadTooLarge(limit);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b, 0x08]);
const BASE64 = /^[A-Za-z0-9+/\-_\s]+={0,2}\s*$/;

/**
 * The body's JSON, through whatever wrapping the SDK chose. Like PostHog's capture, gzip is also recognised by its
 * magic bytes (some clients compress without saying so). lz64 (old posthog-js) is refused: use gzip-js.
 */
async function decode(body: Buffer, req: IncomingMessage, query: URLSearchParams, limit: number): Promise<unknown> {
  let compression = (query.get("compression") ?? "").toLowerCase();
  let bytes = body;
  const contentType = (req.headers["content-type"] ?? "").toLowerCase();
  if (contentType.startsWith("application/x-www-form-urlencoded")) {
    const form = new URLSearchParams(body.toString("utf8"));
    const data = form.get("data");
    if (data === null) throw badInput("A form body must carry the events in its data field", { field: "data" });
    compression = (form.get("compression") ?? compression).toLowerCase();
    bytes = Buffer.from(data, "utf8");
  }
  const encoding = (req.headers["content-encoding"] ?? "identity").toLowerCase().trim();
  if (encoding !== "identity" && encoding !== "gzip") {
    throw badInput(`Content-Encoding "${encoding}" is not supported: send gzip or uncompressed`, { field: "content-encoding" });
  }
  if (compression === "lz64" || compression === "lz-string") {
    throw badInput(`compression "${compression}" is not supported: use gzip-js, base64 or none`, { field: "compression" });
  }
  if (encoding === "gzip" || compression === "gzip" || compression === "gzip-js" || bytes.subarray(0, 3).equals(GZIP_MAGIC)) {
    bytes = await gunzipWithin(bytes, limit);
  }
  let text = bytes.toString("utf8").trim();
  const looksLikeJson = text.startsWith("{") || text.startsWith("[");
  if (compression === "base64" || compression === "b64" || (!looksLikeJson && text.length > 0 && BASE64.test(text))) {
    text = Buffer.from(text, "base64").toString("utf8").trim();
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw badInput(`The body is not valid JSON: ${(error as Error).message}`, { field: "body" });
  }
}

function gunzipWithin(bytes: Buffer, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // maxOutputLength stops inflating at the limit: a compression bomb is refused without being allocated.
    gunzip(bytes, { maxOutputLength: limit }, (error, result) => {
      if (!error) resolve(result);
      else if ((error as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") reject(new PayloadTooLarge(limit));
      else reject(badInput(`The body is not valid gzip: ${error.message}`, { field: "body" }));
    });
  });
}

function bearerToken(req: IncomingMessage): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "");
  return match?.[1];
}

/** PostHog's capture answers any origin: the SDKs post from the instrumented site's pages. */
function allowCrossOrigin(req: IncomingMessage, res: ServerResponse): void {
  const origin = req.headers.origin;
  res.setHeader("access-control-allow-origin", origin ?? "*");
  if (origin) {
    res.setHeader("access-control-allow-credentials", "true");
    res.setHeader("vary", "origin");
  }
}

function sendError(req: IncomingMessage, res: ServerResponse, error: unknown): void {
  if (!(error instanceof PulseError)) {
    sendJson(res, 500, { error: { code: "INTERNAL_SERVER_ERROR", message: "Unexpected error." } });
    return;
  }
  const status = error instanceof PayloadTooLarge ? 413 : STATUS[error.code];
  // An unread remainder of a refused body is not worth reading: close the connection after answering.
  if (!req.complete) res.setHeader("connection", "close");
  const retryAfter = error.extensions["retryAfterSeconds"];
  if (error.code === "RATE_LIMITED" && typeof retryAfter === "number") res.setHeader("retry-after", String(retryAfter));
  sendJson(res, status, { error: { code: error.code, message: error.message, ...error.extensions } });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
  res.end(JSON.stringify(body));
}

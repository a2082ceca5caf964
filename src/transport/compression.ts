import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import { promisify } from "node:util";
import { brotliCompress, constants, gzip } from "node:zlib";
import type { Plugin } from "graphql-yoga";
import { negotiateEncoding } from "./accept-encoding.ts";

const brotliAsync = promisify(brotliCompress);
const gzipAsync = promisify(gzip);

/**
 * Answers smaller than this (bytes, uncompressed) go out as they are: 1 KiB. Such a body and its ~200 bytes of
 * headers fit in one TCP segment (1,460 bytes on Ethernet) either way, so compressing it saves no packet and no
 * round trip, while it costs a trip through libuv's thread pool and a fresh compressor: about 0.13 ms per answer
 * here, for 100-450 bytes saved (`bench/tools/compression.ts`: recentEvents(limit: 1), 417 bytes, gzips to 315;
 * limit 5, 1,981 bytes, to 440). Capture answers (`captureEvent { id cursor }`, `captureEvents { accepted }`) are
 * far below it.
 */
export const COMPRESSION_THRESHOLD = 1024;

/**
 * The codings Pulse compresses with, in its order of preference. Brotli first: on a `recentEvents(limit: 1000)`
 * answer (391 KB of JSON, `bench/tools/compression.ts`), brotli at quality 4 took 1.1 ms for 20.9 KB, gzip at level 6
 * 1.8 ms for 24.5 KB: smaller and cheaper per byte. Around them: brotli 1, 22.9 KB in 0.5 ms; brotli 5, 17.7 KB in
 * 2.2 ms; gzip 9, 22.6 KB in 4.0 ms; brotli's default 11, 14.3 KB in 610 ms. Node's fetch sends `gzip, deflate`,
 * browsers add `br`.
 */
export const CODINGS = ["br", "gzip"] as const;
export type ContentCoding = (typeof CODINGS)[number];

/**
 * Media types worth compressing: GraphQL answers, HTML pages and the Prometheus exposition. Everything else is sent
 * as it is, above all `text/event-stream` (a compressor holds events back until it has a block's worth, so a live
 * stream would stall) and `multipart/mixed` (incremental delivery, a stream too).
 */
const COMPRESSIBLE_TYPES = new Set([
  "application/graphql-response+json",
  "application/json",
  "text/html",
  "text/plain",
  "application/openmetrics-text",
]);

/** What decides whether an answer may be compressed, read off it before its body is touched. */
export interface AnswerFacts {
  readonly method: string | undefined;
  readonly status: number;
  readonly contentType: string | null | undefined;
  /** An answer already encoded is left alone. */
  readonly contentEncoding: string | null | undefined;
  /** The body's length in bytes; undefined when it is a stream of unknown length. */
  readonly length: number | undefined;
}

/**
 * Pulse's rule, in one place: an answer is compressed when it is at least `COMPRESSION_THRESHOLD` bytes of a
 * compressible media type with a known length, not yet encoded, with a body (not HEAD, 204, 304 or 1xx). Such an
 * answer varies by Accept-Encoding (`vary: accept-encoding`), whatever this client accepts. A body of unknown length
 * is a stream (SSE, incremental delivery, or one a route chose to stream): it is never read to be measured.
 */
export function compressible(answer: AnswerFacts): boolean {
  const { method, status, contentType, contentEncoding, length } = answer;
  if (length === undefined || !(length >= COMPRESSION_THRESHOLD)) return false;
  if (method === "HEAD" || status < 200 || status === 204 || status === 304 || contentEncoding) return false;
  const mediaType = contentType?.split(";", 1)[0]!.trim().toLowerCase();
  return mediaType !== undefined && COMPRESSIBLE_TYPES.has(mediaType);
}

/** The coding to send an answer in for this Accept-Encoding header, or undefined for as it is. */
export function chooseCoding(acceptEncoding: string | null | undefined): ContentCoding | undefined {
  return negotiateEncoding(acceptEncoding ?? undefined, CODINGS);
}

/**
 * Compresses `body` in libuv's thread pool, off the event loop. `answer` settings (brotli 4, gzip 6) suit a body
 * compressed once per request; `page` (brotli 5) suits one compressed once and kept.
 */
export function compress(body: string | Buffer, coding: ContentCoding, kind: "answer" | "page" = "answer"): Promise<Buffer> {
  if (coding === "gzip") return gzipAsync(body, { level: 6 });
  const params = {
    [constants.BROTLI_PARAM_QUALITY]: kind === "page" ? 5 : 4,
    [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
    // A string's length in UTF-16 units is near enough its size in bytes for a hint.
    [constants.BROTLI_PARAM_SIZE_HINT]: body.length,
  };
  return brotliAsync(body, { params });
}

/** `vary` with `accept-encoding` added, keeping what is there (CORS adds `origin`). */
function varyWithAcceptEncoding(vary: string | null | undefined): string {
  if (!vary) return "accept-encoding";
  if (vary.split(",").some((name) => ["accept-encoding", "*"].includes(name.trim().toLowerCase()))) return vary;
  return `${vary}, accept-encoding`;
}

/**
 * Compresses what Yoga answers (GraphQL results over POST and GET /graphql, GraphiQL's page) by `compressible`'s
 * rule, for a client that accepts brotli or gzip, and sets `content-encoding`, `content-length` and `vary`.
 *
 * An answer below the threshold costs two header reads and nothing else: Yoga's results are strings whose length is
 * in `content-length` before anything reads them. Event streams (`/graphql/stream`) and incremental delivery have no
 * length and a media type of their own, and WebSocket traffic never passes here. GraphiQL's page (about 9 MB of HTML
 * with everything inlined, about 2 MB compressed) is the same for every request: each coding of it is compressed
 * once and kept (one page, at most two codings). Every other answer is compressed per response.
 *
 * Not @whatwg-node/server's `useContentEncoding` (0.11, Yoga's server): it compresses every answer with a body, event
 * streams included (a zlib stream holds the frames back), with no threshold, no `vary`, and chunked (no length);
 * it takes the first element of Accept-Encoding that is spelled exactly like a format it knows, so `br, gzip` gets
 * brotli at zlib's default quality 11 (630 ms for a 391 KB answer), `gzip;q=1` nothing; and it also decompresses
 * request bodies, which Pulse already does, within PULSE_MAX_BODY_BYTES (src/transport/body.ts).
 */
export function useResponseCompression(): Plugin {
  let page: string | undefined;
  const pages = new Map<ContentCoding, Promise<Buffer>>();
  const compressPage = (html: string, coding: ContentCoding): Promise<Buffer> => {
    if (html !== page) {
      page = html;
      pages.clear();
    }
    let body = pages.get(coding);
    if (!body) {
      body = compress(html, coding, "page");
      pages.set(coding, body);
    }
    return body;
  };
  return {
    onResponse(payload) {
      const { request, response, fetchAPI } = payload;
      const { headers } = response;
      // The common case first, before any other header is read: a capture's answer (small), or a stream (no length).
      const length = Number(headers.get("content-length") ?? NaN);
      if (!(length >= COMPRESSION_THRESHOLD)) return;
      const contentType = headers.get("content-type");
      const { status, statusText } = response;
      if (!compressible({ method: request.method, status, contentType, contentEncoding: headers.get("content-encoding"), length })) return;
      headers.set("vary", varyWithAcceptEncoding(headers.get("vary")));
      const coding = chooseCoding(request.headers.get("accept-encoding"));
      if (!coding) return;
      return response.text().then((text) =>
        (contentType!.startsWith("text/html") ? compressPage(text, coding) : compress(text, coding)).then(
          (body) => {
            const encoded = new fetchAPI.Headers(headers);
            encoded.set("content-encoding", coding);
            encoded.set("content-length", String(body.length));
            const bytes = new Uint8Array(body.buffer as ArrayBuffer, body.byteOffset, body.length);
            payload.setResponse(new fetchAPI.Response(bytes, { status, statusText, headers: encoded }));
          },
          // Only a compressor out of memory gets here. The answer still goes out, as it is: a rejected hook would be
          // answered by @whatwg-node with a 500 carrying the stack trace.
          () => payload.setResponse(new fetchAPI.Response(text, { status, statusText, headers })),
        ),
      );
    },
  };
}

/**
 * Ends a node:http response (a route outside Yoga, such as /metrics) with `body`, compressed by the same rule and
 * settings as Yoga's answers when the request accepts it. `headers` must carry `content-type`; `content-length`,
 * and `content-encoding` and `vary` where they apply, are added. Returns a promise only when it compresses; it
 * rejects only if the compressor fails.
 */
export function sendAnswer(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  headers: OutgoingHttpHeaders,
  body: string,
): void | Promise<void> {
  const length = Buffer.byteLength(body);
  const contentType = headers["content-type"]?.toString();
  const eligible = compressible({
    method: req.method,
    status,
    contentType,
    contentEncoding: headers["content-encoding"]?.toString(),
    length,
  });
  const coding = eligible ? chooseCoding(req.headers["accept-encoding"]) : undefined;
  const vary = eligible ? { vary: varyWithAcceptEncoding(headers["vary"]?.toString()) } : {};
  if (!coding) {
    res.writeHead(status, { ...headers, ...vary, "content-length": length });
    res.end(req.method === "HEAD" ? undefined : body);
    return;
  }
  return compress(body, coding).then((compressed) => {
    if (res.destroyed) return; // the client left while the body was compressed
    res.writeHead(status, { ...headers, ...vary, "content-encoding": coding, "content-length": compressed.length });
    res.end(compressed);
  });
}

import type { IncomingMessage, ServerResponse } from "node:http";
import { promisify } from "node:util";
import { gunzip } from "node:zlib";

const gunzipAsync = promisify(gunzip);

/** Why a request body was refused: the HTTP status, Pulse's code and a message naming the limit. */
export class BodyError extends Error {
  constructor(
    readonly status: 400 | 413 | 415,
    message: string,
  ) {
    super(message);
    this.name = "BodyError";
  }
}

export interface ReadBodyOptions {
  /** The most bytes accepted, compressed and (again) decompressed (PULSE_MAX_BODY_BYTES). */
  readonly limit: number;
  /** Overrides `Content-Encoding` (PostHog's SDKs say `compression=gzip-js` in the query string instead). */
  readonly encoding?: string;
}

/**
 * Reads a request body whole, refusing more than `limit` bytes (413) before buffering them: a declared
 * Content-Length over the limit is refused unread, and a stream is counted as it arrives. `gzip` bodies are
 * inflated with zlib's `maxOutputLength` set to the limit, so a compression bomb fails at the limit and never
 * allocates its full size. Other encodings are 415; a corrupt gzip stream is 400.
 */
export async function readBody(req: IncomingMessage, { limit, encoding }: ReadBodyOptions): Promise<Buffer> {
  const coding = (encoding ?? req.headers["content-encoding"] ?? "identity").trim().toLowerCase();
  const gzipped = coding === "gzip" || coding === "x-gzip" || coding === "gzip-js";
  if (!gzipped && coding !== "identity" && coding !== "") {
    throw new BodyError(415, `Content-Encoding "${coding}" is not supported; send identity or gzip`);
  }
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);

  const chunks: Buffer[] = [];
  let received = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    received += chunk.length;
    if (received > limit) throw tooLarge(limit);
    chunks.push(chunk);
  }
  const raw = Buffer.concat(chunks, received);
  if (!gzipped) return raw;
  try {
    return await gunzipAsync(raw, { maxOutputLength: limit });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") throw tooLarge(limit, "decompressed ");
    throw new BodyError(400, `The gzip body could not be decompressed: ${(error as Error).message}`);
  }
}

function tooLarge(limit: number, what = ""): BodyError {
  return new BodyError(413, `The ${what}request body is larger than ${limit} bytes (PULSE_MAX_BODY_BYTES)`);
}

/**
 * Answers a refused body as GraphQL over HTTP would: a JSON error with `extensions.code` BAD_USER_INPUT.
 * The connection is closed afterwards, since the rest of an oversized body is not read.
 */
export function sendBodyError(res: ServerResponse, error: BodyError, limit: number): void {
  const body = JSON.stringify({ errors: [{ message: error.message, extensions: { code: "BAD_USER_INPUT", limit } }] });
  res.writeHead(error.status, { "content-type": "application/json; charset=utf-8", connection: "close" });
  res.end(body);
}

/** Whether Pulse reads this request's body: every method but GET, HEAD and OPTIONS. */
export function carriesBody(req: IncomingMessage): boolean {
  return req.method !== "GET" && req.method !== "HEAD" && req.method !== "OPTIONS";
}

/**
 * Pre-reads the body of a request bound for Yoga, so the limits above hold on every route Yoga serves (HTTP and
 * SSE). Yoga then takes the decompressed bytes from `req.body` instead of the stream. Requests without a body
 * (GET, HEAD, and WebSocket upgrades, which never come here) pass untouched. Resolves false when it answered.
 */
export async function prepareBody(req: IncomingMessage, res: ServerResponse, limit: number): Promise<boolean> {
  if (!carriesBody(req)) return true;
  try {
    const body = await readBody(req, { limit });
    delete req.headers["content-encoding"];
    req.headers["content-length"] = String(body.length);
    // Yoga (through @whatwg-node/server) takes a pre-read body from `req.body`. Not as a Buffer: it calls
    // Object.keys() on it, which costs ~0.5 s per MiB; an async iterable with one own key is taken as is.
    (req as IncomingMessage & { body?: unknown }).body = {
      byteLength: body.length,
      // eslint-disable-next-line @typescript-eslint/require-await -- the body is read already, but Yoga takes an async iterable
      async *[Symbol.asyncIterator]() {
        yield body;
      },
    };
    return true;
  } catch (error) {
    if (error instanceof BodyError) sendBodyError(res, error, limit);
    else res.destroy(); // the client went away mid-body: nobody to answer
    return false;
  }
}

import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import { acceptableCodings } from "./accept-encoding.ts";

/** Where sites load the tracker from: `<script defer src="https://pulse.example.com/pulse.js" data-key="…">`. */
export const TRACKER_PATH = "/pulse.js";

/** Where `npm run build:tracker` (scripts/build-tracker.ts) writes it, with `.br` and `.gz` beside it. */
export const TRACKER_FILE = join(import.meta.dirname, "../../dist/pulse.js");
const ENCODINGS = ["br", "gzip"] as const;
const SUFFIXES = { identity: "", br: ".br", gzip: ".gz" } as const;
type Variant = keyof typeof SUFFIXES;

// Unversioned (sites embed one URL for good), so browsers may keep it only briefly; revalidating costs a 304.
const CACHE_CONTROL = "public, max-age=300";

/**
 * Serves the tracker script. GET and HEAD only (405 otherwise); a script never built is 503 naming the command that
 * builds it. The files are read once and kept in memory (they weigh a few KB and every page view of every
 * instrumented site asks for them); brotli or gzip as the client accepts, an ETag of the script, 304 on a match.
 * `file` is the script's path (default TRACKER_FILE); its compressed variants are looked for beside it.
 */
export function createTrackerRoute(file = TRACKER_FILE): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  // null: a compressed file the build did not write. The script itself is looked for again until it exists.
  const loaded = new Map<Variant, Buffer | null>();
  let etag: string | undefined;

  const load = async (variant: Variant): Promise<Buffer | null> => {
    const cached = loaded.get(variant);
    if (cached !== undefined) return cached;
    const body = await readFile(file + SUFFIXES[variant]).catch(() => null);
    if (body || variant !== "identity") loaded.set(variant, body);
    return body;
  };

  return async (req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" }).end("method not allowed\n");
      return;
    }
    const script = await load("identity");
    if (!script) {
      res
        .writeHead(503, { "content-type": "text/plain", "cache-control": "no-store" })
        .end("tracker not built: run npm run build:tracker\n");
      return;
    }
    etag ??= `"${createHash("sha256").update(script).digest("base64url").slice(0, 22)}"`;
    const headers = {
      "content-type": "text/javascript; charset=utf-8",
      "cache-control": CACHE_CONTROL,
      etag,
      vary: "accept-encoding",
      "x-content-type-options": "nosniff",
      // A classic <script> needs no CORS; this is for a page that loads it with `crossorigin` (or `integrity`).
      "access-control-allow-origin": "*",
      // And for a page isolated with Cross-Origin-Embedder-Policy: require-corp.
      "cross-origin-resource-policy": "cross-origin",
    };
    if (req.headers["if-none-match"]?.split(",").some((tag) => tag.trim().replace(/^W\//, "") === etag)) {
      res.writeHead(304, headers).end();
      return;
    }
    let body = script;
    let encoding: string | undefined;
    for (const candidate of acceptableCodings(req.headers["accept-encoding"], ENCODINGS)) {
      const compressed = await load(candidate);
      if (!compressed) continue;
      body = compressed;
      encoding = candidate;
      break;
    }
    res.writeHead(200, { ...headers, "content-length": body.length, ...(encoding ? { "content-encoding": encoding } : {}) });
    res.end(req.method === "HEAD" ? undefined : body);
  };
}

import { readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { extname, join, normalize, sep } from "node:path";
import { acceptableCodings } from "./accept-encoding.ts";

/** Where `npm run build:dashboard` puts the page (index.html, hashed files under dashboard/assets/). */
const ROOT = join(import.meta.dirname, "../../dist/dashboard");
const ASSETS = "/dashboard/assets/";
const TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
};

/** True for the paths the dashboard serves: `/` (and `/index.html`) and `/dashboard/assets/*`. */
export function isDashboardPath(path: string): boolean {
  return path === "/" || path === "/index.html" || path.startsWith(ASSETS);
}

/** Encodings the build writes beside each text file (scripts/build-dashboard.ts), in the order Pulse prefers them. */
const ENCODINGS = ["br", "gzip"] as const;
const SUFFIXES = { br: ".br", gzip: ".gz" } as const;

/**
 * Serves the built page: index.html with `no-cache` (so a new build shows at once), hashed assets `immutable` for a
 * year. GET and HEAD only; a missing file (or a path outside the build) is 404, a bad %-escape 400, a page never built
 * is 503 naming the command that builds it. A client that accepts brotli or gzip gets the file the build compressed
 * (`content-encoding`, `vary: accept-encoding`); nothing is compressed per request.
 */
export async function serveDashboard(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" });
    res.end("method not allowed\n");
    return;
  }
  const isAsset = path.startsWith(ASSETS);
  let name = "index.html";
  if (isAsset) {
    try {
      name = decodeURIComponent(path);
    } catch {
      // The router refuses such URLs first; this route must not depend on it to stay up.
      res.writeHead(400, { "content-type": "text/plain" }).end("bad percent-encoding in the path\n");
      return;
    }
  }
  const file = normalize(join(ROOT, name));
  if (!file.startsWith(ROOT + sep) || file.includes("\0")) {
    res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    return;
  }
  let body: Buffer;
  try {
    body = await readFile(file);
  } catch {
    if (isAsset) res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    else res.writeHead(503, { "content-type": "text/plain" }).end("dashboard not built: run npm run build:dashboard\n");
    return;
  }
  let encoding: string | undefined;
  for (const candidate of acceptableCodings(req.headers["accept-encoding"], ENCODINGS)) {
    const compressed = await readFile(file + SUFFIXES[candidate]).catch(() => undefined);
    if (!compressed) continue;
    body = compressed;
    encoding = candidate;
    break;
  }
  res.writeHead(200, {
    "content-type": isAsset ? (TYPES[extname(file)] ?? "application/octet-stream") : "text/html; charset=utf-8",
    "content-length": body.length,
    ...(encoding ? { "content-encoding": encoding } : {}),
    vary: "accept-encoding",
    "cache-control": isAsset ? "public, max-age=31536000, immutable" : "no-cache",
    "x-content-type-options": "nosniff",
  });
  res.end(req.method === "HEAD" ? undefined : body);
}

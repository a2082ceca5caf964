import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "../telemetry/logger.ts";
import { pathOf } from "../telemetry/connections.ts";

/** One HTTP route: which paths it takes, and what answers them. */
export interface Route {
  /** Names the route in the log line of a failed request. */
  readonly name: string;
  matches(path: string): boolean;
  /** May throw or reject: the router answers (or cuts) the request and logs it. */
  handle(req: IncomingMessage, res: ServerResponse, path: string): void | Promise<void>;
}

export interface RouterOptions {
  /** Tried in order; the first whose `matches` holds answers. */
  readonly routes: readonly Route[];
  /** Everything no route matches (GraphQL through Yoga, which answers unknown paths itself). */
  readonly fallback: Route;
  readonly logger: Logger;
  /** PULSE_MAX_URL_LENGTH (default 8192): a longer request target is refused with 400 before any route sees it. */
  readonly maxUrlLength: number;
  /** Starts tracking a request (request id, access log line); called first, for every request. */
  readonly track: (req: IncomingMessage, res: ServerResponse) => { readonly id: string };
}

/** The body of every unexpected failure: GraphQL-shaped, masked, with the request id to find the log line by. */
export function unexpectedErrorBody(requestId: string): string {
  return JSON.stringify({ errors: [{ message: "Unexpected error.", extensions: { code: "INTERNAL_SERVER_ERROR", requestId } }] });
}

/**
 * The HTTP server's one request listener. Every request is tracked, its URL checked (400 BAD_USER_INPUT for one
 * that is too long, not valid percent-encoded UTF-8, or that decodes to a NUL), then handed to the first matching
 * route. It is also the error boundary: a route that throws or rejects gets a 500 with `unexpectedErrorBody` (or its
 * connection cut, when the headers are already sent) and one error log line with the request id. Nothing a request
 * does can become an unhandled rejection.
 */
export function createRouter(options: RouterOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const { routes, fallback, logger, maxUrlLength, track } = options;
  return (req, res) => {
    let id = "untracked";
    const path = pathOf(req);
    let route: Route = fallback;
    const fail = (error: unknown) => {
      logger.error({ reqId: id, route: route.name, method: req.method, path: path.slice(0, 256), err: error }, "request failed");
      if (res.headersSent || res.destroyed) {
        res.destroy();
        return;
      }
      try {
        const body = unexpectedErrorBody(id);
        // Whatever the route left behind (a half-read body, headers it set) is not worth keeping the connection for.
        for (const name of res.getHeaderNames()) if (name !== "x-request-id") res.removeHeader(name);
        res.writeHead(500, {
          "content-type": "application/json; charset=utf-8",
          "content-length": Buffer.byteLength(body),
          connection: "close",
        });
        res.end(body);
      } catch {
        res.destroy(); // the response cannot be written any more: cutting it is the only answer left
      }
    };
    try {
      id = track(req, res).id;
      const refusal = urlProblem(req.url ?? "/", maxUrlLength);
      if (refusal) return refuseUrl(res, refusal);
      route = routes.find((candidate) => candidate.matches(path)) ?? fallback;
      const handled = route.handle(req, res, path);
      if (handled) handled.catch(fail);
    } catch (error) {
      fail(error);
    }
  };
}

interface UrlProblem {
  readonly message: string;
  readonly limit?: number;
}

/** Why a request target cannot be routed, or null. Checked whole: the query string reaches Yoga and PostHog too. */
export function urlProblem(url: string, maxLength: number): UrlProblem | null {
  if (url.length > maxLength) {
    return {
      message: `The request URL is ${url.length} characters long; the limit is ${maxLength} (PULSE_MAX_URL_LENGTH)`,
      limit: maxLength,
    };
  }
  let decoded: string;
  try {
    decoded = decodeURIComponent(url);
  } catch {
    return { message: "The request URL is not valid percent-encoded UTF-8 (a bad %-escape or an invalid byte sequence)" };
  }
  if (decoded.includes("\0")) return { message: "The request URL contains a NUL character (%00)" };
  return null;
}

function refuseUrl(res: ServerResponse, problem: UrlProblem): void {
  const extensions = {
    code: "BAD_USER_INPUT",
    field: "url",
    ...(problem.limit !== undefined ? { limit: problem.limit, setting: "PULSE_MAX_URL_LENGTH" } : {}),
  };
  const body = JSON.stringify({ errors: [{ message: problem.message, extensions }] });
  // A body, if any, is left unread: close rather than drain it.
  res.writeHead(400, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body), connection: "close" });
  res.end(body);
}

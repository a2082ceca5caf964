import type { IncomingMessage, ServerResponse } from "node:http";
import type { Plugin } from "graphql-yoga";
import type { ConnectionCounter } from "../limits/connections.ts";
import { SSE_PATH } from "./sse.ts";
import { streamToken } from "./sse-streams.ts";

/** The header Yoga's CSRF prevention accepts from clients that cannot set a non-simple content type. */
export const CSRF_HEADER = "x-graphql-yoga-csrf";

const SIMPLE_CONTENT_TYPES = ["application/x-www-form-urlencoded", "multipart/form-data", "text/plain"];

/**
 * Limits on event streams:
 * - CSRF on `/graphql/stream`, which graphql-sse answers before Yoga's own request checks run, as Yoga's
 *   useCSRFPrevention does on `/graphql`: a POST sent with a content type a browser form can send without a CORS
 *   preflight (or none), and without the `x-graphql-yoga-csrf` header, is refused with 403 FORBIDDEN. graphql-sse's
 *   clients send `application/json`. PUT and DELETE (single connection mode's reservation and its operations' end)
 *   need no header: no HTML form can send them, and a cross-origin fetch with either is always preflighted, so
 *   another site can only send them where CORS lets it; graphql-sse's client sends them without a content type.
 * - Event streams open at once per address (shared with WebSockets), refused with 429 RATE_LIMITED: graphql-sse's
 *   on `/graphql/stream`, and Yoga's own on `/graphql` (any request there that accepts `text/event-stream`). A single
 *   connection stream (a request with its token) took its slot when it was reserved (SingleConnectionStreams).
 * Must come before the SSE plugin in Yoga's plugin list.
 */
export function useSseGuard(connections: ConnectionCounter): Plugin {
  let graphqlEndpoint = "/graphql";
  return {
    onYogaInit({ yoga }) {
      graphqlEndpoint = yoga.graphqlEndpoint;
    },
    onRequest(payload) {
      const { request, url, serverContext, fetchAPI } = payload;
      if (url.pathname !== SSE_PATH && url.pathname !== graphqlEndpoint) return;
      const refuse = (status: number, code: string, message: string) =>
        payload.endResponse(
          new fetchAPI.Response(JSON.stringify({ errors: [{ message, extensions: { code } }] }), {
            status,
            headers: { "content-type": "application/json; charset=utf-8" },
          }),
        );
      if (url.pathname === SSE_PATH && request.method === "POST") {
        const type = (request.headers.get("content-type") ?? "").toLowerCase();
        const simple = type === "" || SIMPLE_CONTENT_TYPES.some((t) => type.startsWith(t));
        if (simple && !request.headers.has(CSRF_HEADER)) {
          refuse(403, "FORBIDDEN", `Required CSRF header(s) not present: send Content-Type: application/json or ${CSRF_HEADER}`);
          return;
        }
      }
      if (!(request.headers.get("accept") ?? "").includes("text/event-stream")) return;
      if (streamToken(request) !== null) return;
      const node = serverContext as { req?: IncomingMessage; res?: ServerResponse };
      const address = node.req?.socket?.remoteAddress ?? "unknown";
      const release = connections.acquire(address);
      if (!release) {
        refuse(429, "RATE_LIMITED", `Too many connections from ${address} (PULSE_MAX_CONNECTIONS_PER_ADDRESS=${connections.max})`);
        return;
      }
      if (node.res) node.res.once("close", release);
      else release();
    },
  };
}

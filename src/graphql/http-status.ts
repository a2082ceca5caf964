import type { ExecutionResult } from "graphql";
import type { Plugin } from "graphql-yoga";

/** The HTTP status a plain (non-streaming) response gets when one of its errors has this code. */
export const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  RATE_LIMITED: 429,
  UNAVAILABLE: 503,
};

/** The code an error without one gets, from the HTTP status Yoga chose for it. */
function codeForStatus(status: number | undefined): string | undefined {
  if (status === 401) return "UNAUTHENTICATED";
  if (status === 403) return "FORBIDDEN";
  if (status === 429) return "RATE_LIMITED";
  if (status !== undefined && status >= 400 && status < 500) return "BAD_USER_INPUT";
  return undefined;
}

/**
 * Plain HTTP responses: UNAUTHENTICATED → 401, FORBIDDEN → 403, RATE_LIMITED → 429 (with Retry-After),
 * UNAVAILABLE → 503; and every request error Yoga raises by itself (malformed JSON, an unsupported content type,
 * a missing CSRF header, ...) gets an `extensions.code` too. Streams (WebSocket, SSE) keep their own status.
 */
export function useHttpStatusForCodes(): Plugin {
  return {
    // Yoga answers a content type none of its parsers reads with an empty 415; give it a body and a code.
    onRequestParse({ request, requestParser, endResponse, fetchAPI }) {
      if (requestParser || request.method === "GET") return;
      const type = request.headers.get("content-type") ?? "(none)";
      const message = `Content-Type ${type} is not supported: send application/json`;
      endResponse(
        new fetchAPI.Response(JSON.stringify({ errors: [{ message, extensions: { code: "BAD_USER_INPUT" } }] }), {
          status: 415,
          headers: { "content-type": "application/json; charset=utf-8" },
        }),
      );
    },
    onResultProcess(payload) {
      const { result } = payload;
      if (Array.isArray(result) || !isSingleResult(result) || !result.errors?.length) return;
      let status = 0;
      let retryAfter: number | undefined;
      const errors = result.errors.map((error) => {
        const extensions = (error.extensions ?? {}) as Record<string, unknown>;
        const http = extensions["http"] as { status?: number } | undefined;
        let code = extensions["code"] as string | undefined;
        if (code === undefined) {
          code = codeForStatus(http?.status);
          if (code !== undefined) (error.extensions as Record<string, unknown>)["code"] = code;
        }
        const mapped = code === undefined ? undefined : STATUS_BY_CODE[code];
        if (mapped !== undefined && mapped > status) status = mapped;
        if (code === "RATE_LIMITED" && typeof extensions["retryAfterSeconds"] === "number") {
          retryAfter = extensions["retryAfterSeconds"];
        }
        return error;
      });
      if (status === 0) return;
      const headers: Record<string, string> = {};
      if (retryAfter !== undefined) headers["retry-after"] = String(retryAfter);
      if (status === 401) headers["www-authenticate"] = 'Bearer realm="pulse"';
      payload.setResult({ ...result, errors, extensions: { ...result.extensions, http: { status, headers } } });
    },
  };
}

function isSingleResult(value: unknown): value is ExecutionResult {
  return value !== null && typeof value === "object" && !(Symbol.asyncIterator in value);
}

import { GraphQLError } from "graphql";
import { createGraphQLError, maskError as yogaMaskError } from "graphql-yoga";
import { PulseError } from "../domain/errors.ts";

/**
 * Yoga's error mask, taught Pulse's errors: a PulseError anywhere in the chain becomes a GraphQL error with its
 * code and extensions; any other unexpected error is masked ("Unexpected error.", no stack, no internals), even
 * with NODE_ENV=development: a message can hold a database URL or a file path.
 */
export function maskError(error: unknown, message: string): Error {
  const pulse = findPulseError(error);
  if (pulse) {
    const located = error instanceof GraphQLError ? error : undefined;
    return new GraphQLError(pulse.message, {
      nodes: located?.nodes,
      source: located?.source,
      positions: located?.positions,
      path: located?.path,
      extensions: { ...pulse.extensions, code: pulse.code },
    });
  }
  return yogaMaskError(error, message, false);
}

function findPulseError(error: unknown): PulseError | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current; depth++) {
    if (current instanceof PulseError) return current;
    current = (current as { originalError?: unknown; cause?: unknown }).originalError ?? (current as { cause?: unknown }).cause;
  }
  return undefined;
}

export const PARSE_FAILED = "GRAPHQL_PARSE_FAILED";
export const VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED";
/** Yoga's code for a document without the operation asked for (an unknown `operationName`, say). */
export const OPERATION_RESOLUTION_FAILED = "OPERATION_RESOLUTION_FAILURE";

/**
 * The status GraphQL over HTTP gives a request refused with these errors before it ran: the one Yoga put in an
 * error's `extensions.http` (405 for a mutation over GET), else 400.
 */
export function requestStatus(errors: readonly unknown[]): number {
  for (const error of errors) {
    const status = (error as { extensions?: { http?: { status?: unknown } } } | null)?.extensions?.http?.status;
    if (typeof status === "number" && status >= 400 && status < 500) return status;
  }
  return 400;
}

/**
 * The errors of an operation rejected before it runs (syntax, validation, a failed context), as a WebSocket or SSE
 * client receives them: message, locations and `extensions.code` as over HTTP (`code` where the error has none:
 * Yoga adds GRAPHQL_PARSE_FAILED only on its HTTP path), without Yoga's internal `extensions.http` (an HTTP
 * status means nothing inside a stream); any other error goes through `maskError`.
 * Rebuilt with Yoga's own `GraphQLError`: graphql-ws accepts only instances of the class from the `graphql` it
 * imports, and a second copy of graphql may be loaded beside it (vitest loads graphql's ESM build for `src/` and
 * its CommonJS build for `node_modules/`), so neither `instanceof` here nor the caller's class can be trusted.
 */
export function operationErrors(errors: readonly unknown[], code?: string): GraphQLError[] {
  return errors.map((error) => {
    const original = (isGraphQLError(error) ? error : maskError(error, "Unexpected error.")) as Error & Partial<GraphQLError>;
    const { http: _http, ...extensions } = original.extensions ?? {};
    if (extensions["code"] === undefined && code !== undefined) extensions["code"] = code;
    return createGraphQLError(original.message, {
      nodes: original.nodes,
      source: original.source,
      positions: original.positions,
      path: original.path,
      extensions,
    });
  });
}

/** `instanceof` across copies of graphql: GraphQLError tags itself. */
function isGraphQLError(error: unknown): error is GraphQLError {
  return Object.prototype.toString.call(error) === "[object GraphQLError]";
}

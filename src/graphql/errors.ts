import { GraphQLError } from "graphql";
import { maskError as yogaMaskError } from "graphql-yoga";
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

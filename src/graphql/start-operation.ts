import { getOperationAST, type ExecutionResult, type GraphQLError } from "graphql";
import type { YogaServerInstance } from "graphql-yoga";
import type { OperationSlot, PulseContext } from "./context.ts";
import { operationErrors, PARSE_FAILED, VALIDATION_FAILED } from "./errors.ts";
import type { PushableResults } from "./shared-execution.ts";

/** Yoga's envelop for one operation (`yoga.getEnveloped(initialContext)`). */
export type Enveloped = ReturnType<YogaServerInstance<Record<string, unknown>, PulseContext>["getEnveloped"]>;

export interface OperationParams {
  readonly query: string;
  readonly variables?: Record<string, unknown> | null;
  readonly operationName?: string | null;
}

/**
 * An operation refused before it ran (its errors), or run: its context and its result or stream of results, and
 * for an `events` subscription its results to take by push (the transport then lets go of `result`).
 */
export type StartedOperation =
  | { readonly errors: GraphQLError[] }
  | {
      readonly contextValue: unknown;
      readonly result: ExecutionResult | AsyncIterableIterator<ExecutionResult>;
      readonly pushable: PushableResults | undefined;
    };

/**
 * Starts one operation through Yoga's envelop, as the streaming transports (WebSocket, SSE) do it: parse, validate,
 * build the context, then subscribe or execute. A syntax or validation error comes back as this operation's errors
 * (with GRAPHQL_PARSE_FAILED / GRAPHQL_VALIDATION_FAILED where the error has no code of its own), never thrown:
 * validation rules may throw rather than report (GraphQL Armor's limits do). Anything later rejects.
 */
export async function startOperation(enveloped: Enveloped, params: OperationParams): Promise<StartedOperation> {
  const { schema, parse, validate, contextFactory, execute, subscribe } = enveloped;
  let document;
  try {
    document = parse(params.query);
  } catch (error) {
    return { errors: operationErrors([error], PARSE_FAILED) };
  }
  let errors;
  try {
    errors = validate(schema, document);
  } catch (error) {
    return { errors: operationErrors([error], VALIDATION_FAILED) };
  }
  if (errors.length > 0) return { errors: operationErrors(errors, VALIDATION_FAILED) };
  const slot: OperationSlot = {};
  const contextValue = await contextFactory({ operation: slot });
  const run = getOperationAST(document, params.operationName)?.operation === "subscription" ? subscribe : execute;
  const result = (await run({
    schema,
    document,
    contextValue,
    variableValues: params.variables,
    operationName: params.operationName,
  })) as ExecutionResult | AsyncIterableIterator<ExecutionResult>;
  return { contextValue, result, pushable: slot.pushable };
}

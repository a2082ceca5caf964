import {
  getOperationAST,
  OperationTypeNode,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type GraphQLError,
  type GraphQLSchema,
} from "graphql";
import type { YogaServerInstance } from "graphql-yoga";
import type { OperationSlot, PulseContext } from "./context.ts";
import { operationErrors, PARSE_FAILED, VALIDATION_FAILED } from "./errors.ts";
import type { PushableResults } from "./shared-execution.ts";

/** Yoga's envelop for one operation (`yoga.getEnveloped(initialContext)`). */
export type Enveloped = ReturnType<YogaServerInstance<Record<string, unknown>, PulseContext>["getEnveloped"]>;

type PromiseOrValue<T> = T | Promise<T>;

/**
 * The graphql-js functions of an envelop with graphql-js's types: envelop types them `any` (it accepts any
 * graphql-js look-alike); Yoga's are graphql-js's own, wrapped by the plugins.
 */
export interface EnvelopedGraphQL {
  readonly schema: GraphQLSchema;
  readonly parse: (source: string) => DocumentNode;
  readonly validate: (schema: GraphQLSchema, document: DocumentNode) => readonly GraphQLError[];
  readonly execute: (args: ExecutionArgs) => PromiseOrValue<ExecutionResult | AsyncIterableIterator<ExecutionResult>>;
  readonly subscribe: (args: ExecutionArgs) => PromiseOrValue<ExecutionResult | AsyncIterableIterator<ExecutionResult>>;
}

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
  const typed: EnvelopedGraphQL = enveloped;
  const { schema, parse, validate, execute, subscribe } = typed;
  let document: DocumentNode;
  try {
    document = parse(params.query);
  } catch (error) {
    return { errors: operationErrors([error], PARSE_FAILED) };
  }
  let errors: readonly GraphQLError[];
  try {
    errors = validate(schema, document);
  } catch (error) {
    return { errors: operationErrors([error], VALIDATION_FAILED) };
  }
  if (errors.length > 0) return { errors: operationErrors(errors, VALIDATION_FAILED) };
  const slot: OperationSlot = {};
  const contextValue = await enveloped.contextFactory({ operation: slot });
  const run = getOperationAST(document, params.operationName)?.operation === OperationTypeNode.SUBSCRIPTION ? subscribe : execute;
  const result = await run({
    schema,
    document,
    contextValue,
    variableValues: params.variables,
    operationName: params.operationName,
  });
  return { contextValue, result, pushable: slot.pushable };
}

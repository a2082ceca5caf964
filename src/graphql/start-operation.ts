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
import { createGraphQLError } from "graphql-yoga";
import { OPERATION_RESOLUTION_FAILED, operationErrors, PARSE_FAILED, requestStatus, VALIDATION_FAILED } from "./errors.ts";
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
 * An operation refused before it ran: its errors, and the status GraphQL over HTTP gives such a request (400, or
 * 405 for a mutation over GET), for the transports that answer with one (graphql-sse's single connection mode). Or
 * an operation run: its context and its result or stream of results, and for an `events` subscription its results
 * to take by push (the transport then lets go of `result`).
 */
export type StartedOperation =
  | { readonly errors: GraphQLError[]; readonly status: number }
  | {
      readonly contextValue: unknown;
      readonly result: ExecutionResult | AsyncIterableIterator<ExecutionResult>;
      readonly pushable: PushableResults | undefined;
    };

/**
 * Starts one operation through Yoga's envelop, as the streaming transports (WebSocket, SSE) do it: parse, validate,
 * pick the operation, build the context, then subscribe or execute. A syntax or validation error, and a document
 * without the operation asked for (an unknown `operationName`, or several operations and none named:
 * OPERATION_RESOLUTION_FAILURE), come back as this operation's errors (with GRAPHQL_PARSE_FAILED /
 * GRAPHQL_VALIDATION_FAILED where the error has no code of its own), never thrown: validation rules may throw
 * rather than report (GraphQL Armor's limits do). A single result's errors lose Yoga's internal `extensions.http`
 * (a variable coercion error has one), as every streamed error does (operationErrors). Anything later rejects.
 */
export async function startOperation(enveloped: Enveloped, params: OperationParams): Promise<StartedOperation> {
  const typed: EnvelopedGraphQL = enveloped;
  const { schema, parse, validate, execute, subscribe } = typed;
  let document: DocumentNode;
  try {
    document = parse(params.query);
  } catch (error) {
    // Yoga's parse hook also refuses a mutation over GET here (405) and an operation it cannot find (400).
    return refused([error], PARSE_FAILED);
  }
  let errors: readonly GraphQLError[];
  try {
    errors = validate(schema, document);
  } catch (error) {
    return refused([error], VALIDATION_FAILED);
  }
  if (errors.length > 0) return refused(errors, VALIDATION_FAILED);
  const operation = getOperationAST(document, params.operationName);
  if (!operation) {
    const message = "Could not determine what operation to execute.";
    return refused([createGraphQLError(message, { extensions: { code: OPERATION_RESOLUTION_FAILED } })]);
  }
  const slot: OperationSlot = {};
  const contextValue = await enveloped.contextFactory({ operation: slot });
  const run = operation.operation === OperationTypeNode.SUBSCRIPTION ? subscribe : execute;
  const result = await run({
    schema,
    document,
    contextValue,
    variableValues: params.variables,
    operationName: params.operationName,
  });
  return { contextValue, result: isSingleResult(result) ? withoutHttpExtensions(result) : result, pushable: slot.pushable };
}

function refused(errors: readonly unknown[], code?: string): StartedOperation {
  return { errors: operationErrors(errors, code), status: requestStatus(errors) };
}

function isSingleResult(result: ExecutionResult | AsyncIterableIterator<ExecutionResult>): result is ExecutionResult {
  return !(Symbol.asyncIterator in result);
}

function withoutHttpExtensions(result: ExecutionResult): ExecutionResult {
  if (!result.errors?.some((error) => error.extensions?.["http"] !== undefined)) return result;
  return { ...result, errors: operationErrors(result.errors) };
}

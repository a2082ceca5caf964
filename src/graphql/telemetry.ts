import { getOperationAST, Kind, OperationTypeNode, type ExecutionArgs, type ExecutionResult, type OperationDefinitionNode } from "graphql";
import { createGraphQLError, type Plugin } from "graphql-yoga";
import { PulseError } from "../domain/errors.ts";
import type { ConnectionLog } from "../telemetry/connections.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { PulseMetrics } from "../telemetry/metrics.ts";
import type { PulseContext } from "./context.ts";
import { isSharedSubscription, type DeliveryObserver } from "./shared-execution.ts";

/** The mutation fields that capture events; a failed one is a refused capture. */
const CAPTURE_FIELDS = new Set(["captureEvent", "captureEvents"]);

export interface TelemetryOptions {
  readonly metrics: PulseMetrics;
  readonly connections: ConnectionLog;
}

/**
 * Counts what happens to operations on every transport (they all run through Yoga's envelop): capture mutations
 * refused (by `extensions.code`), subscriptions started and ended, and subscriptions to the connection they came in on
 * (deliveries are counted by deliveryTelemetry).
 */
export function useTelemetry({ metrics, connections }: TelemetryOptions): Plugin<PulseContext> {
  return {
    // envelop types `args` loosely (`any` fields); they are graphql-js's.
    onExecute({ args }: { args: ExecutionArgs }) {
      const operation = getOperationAST(args.document, args.operationName);
      if (operation?.operation !== OperationTypeNode.MUTATION) return;
      const captures = rootFields(operation).filter((field) => CAPTURE_FIELDS.has(field.name));
      if (captures.length === 0) return;
      return {
        onExecuteDone({ result }) {
          if (Symbol.asyncIterator in result) return;
          for (const field of captures) {
            const code = refusal(result, field.key);
            if (code) metrics.captureRejected(code);
          }
        },
      };
    },
    onSubscribe({ args }: { args: ExecutionArgs }) {
      const context = args.contextValue as PulseContext & { req?: unknown };
      const { transport } = context;
      const connection = connections.of(context.req);
      return {
        onSubscribeResult({ result }) {
          // An operation refused when it starts (a bad filter) returns a result, not a stream: never active.
          if (!(Symbol.asyncIterator in result)) return;
          metrics.subscriptionStarted(transport);
          if (connection) connection.subscriptions++;
          // An `events` subscription's end is told by the shared execution (deliveryTelemetry), on every transport:
          // one that pushes its results never ends the iterator these hooks would wrap.
          if (isSharedSubscription(args.document, args.operationName)) return;
          return {
            onEnd() {
              metrics.subscriptionEnded(transport);
            },
          };
        },
      };
    },
  };
}

/**
 * Counts `events` payloads delivered (per transport, and on the connection the operation came in on, for its log
 * line), LAGGED endings with the events they dropped, and the subscriptions' ends. Told by the shared execution
 * (shared-execution.ts), which every `events` delivery goes through, whether a transport pulls it or takes it by push.
 */
export function deliveryTelemetry({ metrics, connections }: TelemetryOptions): DeliveryObserver {
  return {
    delivered(context) {
      metrics.delivered(context.transport);
      const connection = connections.of((context as PulseContext & { req?: unknown }).req);
      if (connection) connection.deliveries++;
    },
    lagged(context, dropped) {
      metrics.lagged(context.transport, dropped);
    },
    ended(context) {
      metrics.subscriptionEnded(context.transport);
    },
  };
}

/**
 * While Pulse is starting (restoring its snapshot), an operation that reaches the envelop fails with UNAVAILABLE
 * instead of touching a half-restored hub. None should: plain HTTP and SSE are turned away before Yoga with a 503,
 * WebSockets closed with 1013 before their `connection_ack` (use/ws.ts); this is the last line, not the first.
 * `startingReason()` says why Pulse is not started, or undefined once it is.
 */
export function useStartupGate(startingReason: () => string | undefined): Plugin<PulseContext> {
  const refuse = (setResultAndStopExecution: (result: ExecutionResult) => void) => {
    const reason = startingReason();
    if (reason === undefined) return;
    setResultAndStopExecution({
      errors: [createGraphQLError(`Pulse is starting (${reason}); retry shortly`, { extensions: { code: "UNAVAILABLE" } })],
    });
  };
  return {
    onExecute: ({ setResultAndStopExecution }) => refuse(setResultAndStopExecution),
    onSubscribe: ({ setResultAndStopExecution }) => refuse(setResultAndStopExecution),
  };
}

/**
 * The code a capture field was refused with: its own error, or an error of the whole operation (variables,
 * authentication) that kept every field from running. Undefined when the field succeeded.
 */
function refusal(result: ExecutionResult, key: string): string | undefined {
  const errors = result.errors ?? [];
  const own = errors.find((error) => error.path?.[0] === key);
  if (own) return errorCode(own);
  const whole = errors.find((error) => error.path === undefined);
  if (whole && (result.data == null || !(key in result.data))) return errorCode(whole);
  return undefined;
}

/**
 * The code of a refused operation, as the client knows it: `extensions.code` when there is one. Masking may not
 * have run yet when the hooks see the error, so a PulseError in the chain is read directly. An error thrown by
 * anything else is INTERNAL_SERVER_ERROR; a chain of GraphQL errors alone is a request graphql-js refused
 * (variables that do not fit the schema, reported without a code), which is BAD_USER_INPUT.
 */
function errorCode(error: { extensions?: Record<string, unknown>; originalError?: unknown }): string {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current; depth++) {
    if (current instanceof PulseError) return current.code;
    const link = current as { extensions?: Record<string, unknown>; originalError?: unknown };
    if (typeof link.extensions?.code === "string") return link.extensions.code;
    // Tagged rather than `instanceof`: a second copy of graphql may be loaded (see errors.ts).
    if (Object.prototype.toString.call(current) !== "[object GraphQLError]") return "INTERNAL_SERVER_ERROR";
    current = link.originalError;
  }
  return "BAD_USER_INPUT";
}

function rootFields(operation: OperationDefinitionNode): { name: string; key: string }[] {
  return operation.selectionSet.selections.flatMap((selection) =>
    selection.kind === Kind.FIELD ? [{ name: selection.name.value, key: selection.alias?.value ?? selection.name.value }] : [],
  );
}

/**
 * Wraps the error mask so an unexpected error (a bug, a dependency failing) is logged with its stack before the
 * client gets "Unexpected error.". Errors meant for the user (BAD_USER_INPUT, ...) are not logged: they are the
 * client's business and would drown the real ones.
 */
export function logUnexpectedErrors(
  mask: (error: unknown, message: string, isDev?: boolean) => Error,
  logger: Logger,
): (error: unknown, message: string, isDev?: boolean) => Error {
  return (error, message, isDev) => {
    const masked = mask(error, message, isDev);
    if ((masked as { extensions?: Record<string, unknown> }).extensions?.unexpected === true) {
      const original = (error as { originalError?: unknown }).originalError ?? error;
      logger.error({ err: original }, "unexpected error");
    }
    return masked;
  };
}

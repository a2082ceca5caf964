import {
  getArgumentValues,
  getOperationAST,
  getVariableValues,
  GraphQLError,
  Kind,
  OperationTypeNode,
  type DocumentNode,
  type ExecutionArgs,
  type FieldNode,
  type GraphQLObjectType,
  type SelectionSetNode,
} from "graphql";
import type { Plugin } from "graphql-yoga";
import { forbiddenEnvironment } from "../app/scope.ts";
import type { KeyRing, Principal } from "../auth/keys.ts";
import { PulseError } from "../domain/errors.ts";
import type { PulseContext, TransportContext } from "./context.ts";

export interface AuthPluginOptions {
  readonly keys: KeyRing;
}

/** The context as the transports hand it to Yoga's envelop, before this plugin adds the caller. */
interface InitialContext extends TransportContext {
  readonly request?: Request;
  readonly connectionParams?: Readonly<Record<string, unknown>>;
}

/** A PulseError as the GraphQL error the client sees (error masking passes PulseErrors through unchanged). */
export function toGraphQLError(error: PulseError): GraphQLError {
  return new GraphQLError(error.message, { originalError: error, extensions: { ...error.extensions, code: error.code } });
}

/**
 * API keys on every transport.
 * - HTTP and SSE: `Authorization: Bearer <key>` is checked when the request arrives, before its body is parsed;
 *   a missing or unknown key is answered 401 UNAUTHENTICATED. (WebSocket keys are checked at `connection_init`,
 *   in src/transport/ws-guard.ts.)
 * - Every operation's context gets the caller: `principal`, and `reads`, what it may read
 *   (src/app/reads.ts). Captures go through the application's ingest with the same principal.
 * - When an operation starts: a capture key may only run mutations (anything else is FORBIDDEN), and a scoped key
 *   naming another environment in a root field's arguments is FORBIDDEN, before any resolver runs (the same rule
 *   the reads and the ingest apply, src/app/scope.ts: here it keeps a refused operation from running in part).
 */
export function useApiKeys({ keys }: AuthPluginOptions): Plugin<PulseContext> {
  const principals = new WeakMap<Request, Principal>();

  const principalOf = (context: InitialContext): Principal => {
    if (context.transport === "ws") {
      const params = context.connectionParams ?? {};
      return keys.authenticate(params["authorization"] ?? params["Authorization"]);
    }
    const known = context.request ? principals.get(context.request) : undefined;
    return known ?? keys.authenticate(context.request?.headers.get("authorization"));
  };

  const refuse = (error: PulseError) => ({ errors: [toGraphQLError(error)] });

  return {
    onRequest(payload) {
      const { request, fetchAPI } = payload;
      if (!keys.enabled) return;
      try {
        principals.set(request, keys.authenticate(request.headers.get("authorization")));
      } catch (error) {
        if (!(error instanceof PulseError)) throw error;
        payload.endResponse(
          new fetchAPI.Response(JSON.stringify({ errors: [{ message: error.message, extensions: { code: error.code } }] }), {
            status: 401,
            headers: { "content-type": "application/json; charset=utf-8", "www-authenticate": 'Bearer realm="pulse"' },
          }),
        );
      }
    },
    onContextBuilding({ context, extendContext }) {
      const initial = context as unknown as InitialContext;
      const principal = principalOf(initial);
      extendContext({ principal, reads: initial.app.readsFor(principal) });
    },
    onExecute({ args, setResultAndStopExecution }) {
      const refusal = checkOperation(args);
      if (refusal) setResultAndStopExecution(refuse(refusal));
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const refusal = checkOperation(args);
      if (refusal) setResultAndStopExecution(refuse(refusal));
    },
  };
}

function checkOperation(args: ExecutionArgs): PulseError | null {
  const principal = (args.contextValue as Partial<PulseContext>).principal;
  if (!principal) return new PulseError("UNAUTHENTICATED", "No principal for this operation");
  const operation = getOperationAST(args.document, args.operationName);
  if (!operation) return null; // execution reports it
  if (principal.role === "capture" && operation.operation !== OperationTypeNode.MUTATION) {
    return new PulseError("FORBIDDEN", `This key may only capture events; a ${operation.operation} needs a read key (PULSE_READ_KEYS)`);
  }
  if (principal.environment === null) return null;
  const root = args.schema.getRootType(operation.operation);
  if (!root) return null;
  const variables = getVariableValues(args.schema, operation.variableDefinitions ?? [], args.variableValues ?? {});
  if (variables.errors) return null; // execution reports them
  for (const field of rootFields(operation.selectionSet, args.document)) {
    const refusal = environmentRefusal(principal, root, field, variables.coerced);
    if (refusal) return refusal;
  }
  return null;
}

/** The root fields of a selection, through fragments (validation has already refused fragment cycles). */
function* rootFields(selectionSet: SelectionSetNode, document: DocumentNode): Generator<FieldNode> {
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) yield selection;
    else if (selection.kind === Kind.INLINE_FRAGMENT) yield* rootFields(selection.selectionSet, document);
    else {
      const fragment = document.definitions.find((d) => d.kind === Kind.FRAGMENT_DEFINITION && d.name.value === selection.name.value);
      if (fragment?.kind === Kind.FRAGMENT_DEFINITION) yield* rootFields(fragment.selectionSet, document);
    }
  }
}

/** `environment` as an argument, inside an input object argument, or inside a list of them. */
function environmentRefusal(
  principal: Principal,
  root: GraphQLObjectType,
  node: FieldNode,
  variables: Record<string, unknown>,
): PulseError | null {
  const definition = root.getFields()[node.name.value];
  if (!definition) return null;
  let values: Record<string, unknown>;
  try {
    values = getArgumentValues(definition, node, variables);
  } catch {
    return null; // execution reports it
  }
  for (const [name, value] of Object.entries(values)) {
    if (name === "environment") {
      const refusal = forbiddenEnvironment(principal, value, "environment");
      if (refusal) return refusal;
    } else if (Array.isArray(value)) {
      for (const [index, item] of value.entries()) {
        const refusal = forbiddenEnvironment(principal, environmentIn(item), `${name}[${index}].environment`);
        if (refusal) return refusal;
      }
    } else {
      const refusal = forbiddenEnvironment(principal, environmentIn(value), `${name}.environment`);
      if (refusal) return refusal;
    }
  }
  return null;
}

function environmentIn(value: unknown): unknown {
  return value !== null && typeof value === "object" ? (value as { environment?: unknown }).environment : undefined;
}

import {
  getNamedType,
  getOperationAST,
  isInputObjectType,
  isListType,
  isNonNullType,
  isScalarType,
  Kind,
  typeFromAST,
  type DocumentNode,
  type ExecutionArgs,
  type GraphQLInputType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type TypeNode,
} from "graphql";
import type { Plugin } from "graphql-yoga";
import { PASS_THROUGH_SCALARS } from "./scalars.ts";

/**
 * The input types whose variables skip graphql-js's coercion when their values are already what coercion would
 * make of them. Capture inputs are validated field by field by Pulse's one ingest path (src/domain/event.ts) right
 * after, so coercing them first only copied them: for `captureEvents` with 100 inputs, GraphQL's variable coercion was
 * 4.4 % of the ingest_batch profile (`coerceInputValueImpl`), a new object per input and per field check.
 */
const CAPTURE_INPUT_TYPES = ["CaptureEventInput"];

/** A field's check: true when coercion would hand this value on unchanged. */
type FieldCheck = (value: unknown) => boolean;

interface InputCheck {
  /** Every field the type has, with its check. */
  readonly fields: ReadonlyMap<string, FieldCheck>;
  /** The fields that must be present (non-null types). */
  readonly required: readonly string[];
}

/** What to do for one (document, operation): the variables to check, and the document that declares them `JSON`. */
interface Plan {
  readonly variables: readonly { readonly name: string; readonly list: boolean; readonly check: InputCheck }[];
  readonly document: DocumentNode;
}

const isString = (value: unknown) => typeof value === "string";
const isNullableString = (value: unknown) => value === null || typeof value === "string";
const anything = () => true;

/**
 * Checks, derived from the schema, that a value is one graphql-js's coercion would pass on unchanged: a plain object
 * with only the type's fields, strings where the schema says String or ID (an ID given as a number would become a
 * string: not unchanged), anything where it names one of Pulse's pass-through scalars, and the non-null fields
 * present. Undefined when the type has a field this cannot decide (another type, a default value): such a type
 * always takes the coercion.
 */
function inputCheck(schema: GraphQLSchema, typeName: string): InputCheck | undefined {
  const type = schema.getType(typeName);
  if (!isInputObjectType(type)) return undefined;
  const fields = new Map<string, FieldCheck>();
  const required: string[] = [];
  for (const field of Object.values(type.getFields())) {
    if (field.defaultValue !== undefined) return undefined;
    const named: GraphQLInputType = isNonNullType(field.type) ? field.type.ofType : field.type;
    const nonNull = named !== field.type;
    if (!isScalarType(named)) return undefined;
    if (named.name === "String" || named.name === "ID") fields.set(field.name, nonNull ? isString : isNullableString);
    else if (PASS_THROUGH_SCALARS.has(named.name) && !nonNull) fields.set(field.name, anything);
    else return undefined;
    if (nonNull) required.push(field.name);
  }
  return { fields, required };
}

function passesUnchanged(value: unknown, check: InputCheck): boolean {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return false;
  const record = value as Record<string, unknown>;
  for (const key in record) {
    const field = check.fields.get(key);
    const fieldValue = record[key];
    if (field === undefined || fieldValue === undefined || !field(fieldValue)) return false;
  }
  for (const key of check.required) if (!(key in record)) return false;
  return true;
}

/**
 * Skips graphql-js's variable coercion for capture inputs that it would not change, keeping GraphQL's answers for
 * every other input exactly as they are.
 *
 * For an operation with a variable of type `CaptureEventInput`, `CaptureEventInput!`, `[CaptureEventInput!]` or
 * `[CaptureEventInput!]!` whose value passes the schema-derived check (see `inputCheck`), the operation executes
 * with that variable declared `JSON` instead (same nullability): the executor's coercion of a `JSON` value is the
 * identity, and it hands a variable to the field's argument as it is, so the resolver gets the very value coercion
 * would have built. Any value that does not pass (an unknown field, a missing or non-string `event`, a number as
 * `id`, a single input where a list is declared...) executes the document as sent, so its error is GraphQL's own,
 * word for word. Validation has already run on the document as sent (Yoga validates before executing); only the
 * execution sees the rewritten declaration. Rewritten documents are kept per parsed operation (Yoga caches documents).
 */
export function useCaptureVariables(schema: GraphQLSchema): Plugin {
  const checks = new Map<string, InputCheck>();
  const json = schema.getType("JSON");
  for (const name of isScalarType(json) && PASS_THROUGH_SCALARS.has(json.name) ? CAPTURE_INPUT_TYPES : []) {
    const check = inputCheck(schema, name);
    if (check) checks.set(name, check);
  }
  // By the operation's node, not its name: a client may send any number of names, a document has a few operations.
  const plans = new WeakMap<OperationDefinitionNode, Plan | null>();

  function planFor(document: DocumentNode, operationName: string | null): Plan | null {
    const operation = getOperationAST(document, operationName);
    if (!operation) return null;
    let plan = plans.get(operation);
    if (plan === undefined) plans.set(operation, (plan = makePlan(schema, checks, document, operation)));
    return plan;
  }

  return {
    // envelop types `args` loosely; they are graphql-js's.
    onExecute({
      args,
      executeFn,
      setExecuteFn,
    }: {
      args: ExecutionArgs;
      executeFn: (args: ExecutionArgs) => unknown;
      setExecuteFn: (fn: (args: ExecutionArgs) => unknown) => void;
    }) {
      if (checks.size === 0) return;
      const plan = planFor(args.document, args.operationName ?? null);
      if (plan === null) return;
      const variables = args.variableValues ?? {};
      for (const { name, list, check } of plan.variables) {
        const value = variables[name];
        if (list ? !Array.isArray(value) || !value.every((item) => passesUnchanged(item, check)) : !passesUnchanged(value, check)) return;
      }
      setExecuteFn((executionArgs) => executeFn({ ...executionArgs, document: plan.document }));
    },
  };
}

/** The plan for the operation, or null when it has no variable of a capture input type. */
function makePlan(
  schema: GraphQLSchema,
  checks: ReadonlyMap<string, InputCheck>,
  document: DocumentNode,
  operation: OperationDefinitionNode,
): Plan | null {
  if (!operation.variableDefinitions?.length) return null;
  const variables: { name: string; list: boolean; check: InputCheck }[] = [];
  for (const definition of operation.variableDefinitions) {
    if (definition.defaultValue !== undefined) continue;
    const type = typeFromAST(schema, definition.type) as GraphQLInputType | undefined;
    if (!type) continue;
    const check = checks.get(getNamedType(type).name);
    if (!check) continue;
    const inner = isNonNullType(type) ? type.ofType : type;
    // Items of a list must be non-null: a null item would be coerced (and refused) item by item.
    const list = isListType(inner);
    if (list && !(isNonNullType(inner.ofType) && !isListType(inner.ofType.ofType))) continue;
    variables.push({ name: definition.variable.name.value, list, check });
  }
  if (variables.length === 0) return null;
  const rewritten = new Set(variables.map((variable) => variable.name));
  const asJson = (type: TypeNode): TypeNode => {
    const json = { kind: Kind.NAMED_TYPE, name: { kind: Kind.NAME, value: "JSON" } } as const;
    return type.kind === Kind.NON_NULL_TYPE ? { kind: Kind.NON_NULL_TYPE, type: json } : json;
  };
  return {
    variables,
    document: {
      ...document,
      definitions: document.definitions.map((definition) =>
        definition !== operation
          ? definition
          : {
              ...operation,
              variableDefinitions: operation.variableDefinitions!.map((variable) =>
                rewritten.has(variable.variable.name.value) ? { ...variable, type: asJson(variable.type) } : variable,
              ),
            },
      ),
    },
  };
}

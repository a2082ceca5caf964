import { GraphQLScalarType, Kind, valueFromASTUntyped, type ValueNode } from "graphql";

/**
 * Pulse's scalars. Input values pass through unchanged and are validated by the capture validator, so a bad
 * timestamp or non-object properties is one BAD_USER_INPUT naming the field (and batch index), on every transport,
 * instead of a coercion error that cannot say which item of a batch was wrong.
 */
export const DateTime = new GraphQLScalarType({
  name: "DateTime",
  serialize(value) {
    const date = value instanceof Date ? value : new Date(value as number | string);
    if (Number.isNaN(date.getTime())) throw new TypeError(`DateTime cannot represent ${String(value)}`);
    return date.toISOString();
  },
  parseValue: (value) => value,
  parseLiteral: (ast) => literal(ast),
});

export const JSON = new GraphQLScalarType({
  name: "JSON",
  serialize: (value) => value,
  parseValue: (value) => value,
  parseLiteral: (ast, variables) => valueFromASTUntyped(ast, variables),
});

export const JSONObject = new GraphQLScalarType({
  name: "JSONObject",
  serialize(value) {
    if (value === null || typeof value !== "object" || Array.isArray(value)) throw new TypeError("JSONObject must be an object");
    return value;
  },
  parseValue: (value) => value,
  parseLiteral: (ast, variables) => valueFromASTUntyped(ast, variables),
});

/**
 * The scalars above whose `parseValue` hands the variable's value on unchanged (see src/graphql/capture-variables.ts,
 * which relies on it to skip coercing capture inputs).
 */
export const PASS_THROUGH_SCALARS: ReadonlySet<string> = new Set([DateTime.name, JSON.name, JSONObject.name]);

function literal(ast: ValueNode): unknown {
  switch (ast.kind) {
    case Kind.STRING:
      return ast.value;
    case Kind.INT:
    case Kind.FLOAT:
      return Number(ast.value);
    default:
      return valueFromASTUntyped(ast);
  }
}

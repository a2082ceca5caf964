import { isDeepStrictEqual } from "node:util";
import safeRegex from "safe-regex2";
import { badInput } from "./errors.ts";
import type { JsonValue, StoredEvent } from "./event.ts";

export const FILTER_OPERATORS = [
  "EQUALS",
  "NOT_EQUALS",
  "CONTAINS",
  "NOT_CONTAINS",
  "ICONTAINS",
  "NOT_ICONTAINS",
  "REGEX",
  "NOT_REGEX",
  "GT",
  "GTE",
  "LT",
  "LTE",
  "IS_SET",
  "IS_NOT_SET",
] as const;
export type FilterOperator = (typeof FILTER_OPERATORS)[number];

export interface PropertyFilter {
  property: string;
  operator: FilterOperator;
  /** Absent (`undefined`) differs from JSON `null`: `EQUALS null` matches a property set to null. */
  value?: JsonValue;
}

export interface EventFilter {
  events?: readonly string[] | null;
  environment?: string | null;
  distinctId?: string | null;
  properties?: readonly PropertyFilter[] | null;
}

export type EventPredicate = (event: StoredEvent) => boolean;

export const MAX_REGEX_LENGTH = 256;

const matchAll: EventPredicate = () => true;

/**
 * Compiles a filter once into a predicate; every part given must hold.
 * Bad filters (unknown operator, a missing or non-numeric value, an invalid or unsafe regex)
 * throw `BAD_USER_INPUT` here, never at match time.
 */
export function compileFilter(filter: EventFilter | null | undefined): EventPredicate {
  if (filter == null) return matchAll;
  assertFilterShape(filter);
  const checks: EventPredicate[] = [];
  if (filter.events && filter.events.length > 0) {
    const names = new Set(filter.events);
    checks.push((e) => names.has(e.event));
  }
  if (filter.environment != null) {
    const environment = filter.environment;
    checks.push((e) => e.environment === environment);
  }
  if (filter.distinctId != null) {
    const distinctId = filter.distinctId;
    checks.push((e) => e.distinctId === distinctId);
  }
  (filter.properties ?? []).forEach((condition, index) => {
    const test = compileCondition(condition, `filter.properties[${index}]`);
    const key = condition.property;
    checks.push((e) => test(Object.hasOwn(e.properties, key), e.properties[key]));
  });
  if (checks.length === 0) return matchAll;
  if (checks.length === 1) return checks[0]!;
  return (e) => {
    for (const check of checks) if (!check(e)) return false;
    return true;
  };
}

/**
 * GraphQL's input coercion already guarantees this shape; the hub is also called directly (PostHog endpoints,
 * other transports), and a wrong shape must be a BAD_USER_INPUT there too, never a TypeError.
 */
function assertFilterShape(filter: unknown): asserts filter is EventFilter {
  const fail = (field: string, expected: string) => {
    throw badInput(`${field} must be ${expected}`, { field });
  };
  if (typeof filter !== "object" || Array.isArray(filter)) fail("filter", "an object");
  const { events, environment, distinctId, properties } = filter as Record<string, unknown>;
  if (events != null && !(Array.isArray(events) && events.every((name) => typeof name === "string"))) {
    fail("filter.events", "a list of strings");
  }
  if (environment != null && typeof environment !== "string") fail("filter.environment", "a string");
  if (distinctId != null && typeof distinctId !== "string") fail("filter.distinctId", "a string");
  if (properties != null) {
    if (!Array.isArray(properties)) fail("filter.properties", "a list");
    (properties as unknown[]).forEach((condition, index) => {
      if (condition === null || typeof condition !== "object" || Array.isArray(condition)) {
        fail(`filter.properties[${index}]`, "an object");
      }
    });
  }
}

/** A bad value as it goes into a message: JSON where it can be, never a throw. */
function show(value: unknown): string {
  try {
    return JSON.stringify(value ?? null) ?? String(value);
  } catch {
    return String(typeof value);
  }
}

/** A test of one property: `isSet` says whether the key is present (a null value is present). */
type ValueTest = (isSet: boolean, value: JsonValue | undefined) => boolean;

function compileCondition(condition: PropertyFilter, where: string): ValueTest {
  const { operator, value } = condition;
  if (typeof condition.property !== "string" || condition.property.length === 0) {
    throw badInput(`${where}.property must be a non-empty string`, { field: `${where}.property` });
  }
  const positive = (test: (v: JsonValue | undefined) => boolean): ValueTest => (isSet, v) => isSet && test(v);
  // A negated operator is the exact complement of its positive among events where the property is set.
  const negative = (test: (v: JsonValue | undefined) => boolean): ValueTest => (isSet, v) => isSet && !test(v);

  switch (operator) {
    case "IS_SET":
      return (isSet) => isSet;
    case "IS_NOT_SET":
      return (isSet) => !isSet;
    case "EQUALS":
    case "NOT_EQUALS": {
      if (value === undefined) throw badInput(`${where}.value is required for ${operator}`, { field: `${where}.value` });
      const equals = (v: JsonValue | undefined) => isDeepStrictEqual(v, value);
      return operator === "EQUALS" ? positive(equals) : negative(equals);
    }
    case "CONTAINS":
    case "NOT_CONTAINS": {
      const needle = requireString(value, operator, where);
      const contains = (v: JsonValue | undefined) => typeof v === "string" && v.includes(needle);
      return operator === "CONTAINS" ? positive(contains) : negative(contains);
    }
    case "ICONTAINS":
    case "NOT_ICONTAINS": {
      const needle = requireString(value, operator, where).toLowerCase();
      const contains = (v: JsonValue | undefined) => typeof v === "string" && v.toLowerCase().includes(needle);
      return operator === "ICONTAINS" ? positive(contains) : negative(contains);
    }
    case "REGEX":
    case "NOT_REGEX": {
      const regex = compileSafeRegex(requireString(value, operator, where), where);
      const matches = (v: JsonValue | undefined) => typeof v === "string" && regex.test(v);
      return operator === "REGEX" ? positive(matches) : negative(matches);
    }
    case "GT":
    case "GTE":
    case "LT":
    case "LTE": {
      const bound = toNumber(value as JsonValue | undefined);
      if (bound === null) {
        throw badInput(`${where}.value must be a number or a numeric string for ${operator}, got ${show(value)}`, {
          field: `${where}.value`,
        });
      }
      const compare = numericComparison(operator, bound);
      return positive((v) => {
        const n = toNumber(v);
        return n !== null && compare(n);
      });
    }
    default:
      throw badInput(`${where}.operator "${String(operator)}" is not a filter operator`, { field: `${where}.operator` });
  }
}

function requireString(value: JsonValue | undefined, operator: FilterOperator, where: string): string {
  if (typeof value !== "string") {
    throw badInput(`${where}.value must be a string for ${operator}, got ${show(value)}`, { field: `${where}.value` });
  }
  return value;
}

function compileSafeRegex(pattern: string, where: string): RegExp {
  if (pattern.length > MAX_REGEX_LENGTH) {
    throw badInput(`${where}.value: regex is ${pattern.length} characters, the limit is ${MAX_REGEX_LENGTH}`, { field: `${where}.value` });
  }
  let regex: RegExp;
  try {
    regex = new RegExp(pattern);
  } catch (error) {
    throw badInput(`${where}.value: invalid regex ${JSON.stringify(pattern)}: ${(error as Error).message}`, { field: `${where}.value` });
  }
  // safe-regex2 flags patterns with nested quantifiers (star height > 1), the source of catastrophic backtracking.
  // Its parser does not know every modern JavaScript construct: a pattern it cannot judge is refused as well.
  let safe: boolean;
  try {
    safe = safeRegex(regex);
  } catch {
    safe = false;
  }
  if (!safe) {
    throw badInput(`${where}.value: regex ${JSON.stringify(pattern)} may backtrack catastrophically`, { field: `${where}.value` });
  }
  return regex;
}

/** A number, or a string that is entirely a finite number; anything else is null. */
export function toNumber(value: JsonValue | undefined): number | null {
  if (typeof value === "number") return Number.isFinite(value) ? value : null;
  if (typeof value === "string" && value.trim() !== "") {
    const n = Number(value);
    return Number.isFinite(n) ? n : null;
  }
  return null;
}

function numericComparison(operator: "GT" | "GTE" | "LT" | "LTE", bound: number): (n: number) => boolean {
  switch (operator) {
    case "GT":
      return (n) => n > bound;
    case "GTE":
      return (n) => n >= bound;
    case "LT":
      return (n) => n < bound;
    case "LTE":
      return (n) => n <= bound;
  }
}

import { isDeepStrictEqual } from "node:util";
import { badInput } from "./errors.ts";
import type { JsonValue, StoredEvent } from "./event.ts";
import { compileLinearRegex, MAX_FILTER_REGEX_SIZE, MAX_REGEX_LENGTH, type LinearRegex } from "./regex.ts";

export { MAX_FILTER_REGEX_SIZE, MAX_REGEX_LENGTH };

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

/**
 * Bounds on one filter. A filter runs against every event captured while its subscription lives (inside the
 * capture), so its size is its cost: these keep one filter's worst case small and fixed. Defaults as in
 * docs/security.md, "Limits".
 */
export interface FilterLimits {
  /**
   * Clauses in one filter: each name in `events`, `environment`, `distinctId` and each `properties` condition
   * (PULSE_MAX_FILTER_CONDITIONS, default 50).
   */
  readonly maxConditions: number;
  /**
   * Characters in any one value of a filter: an event name, the environment, the distinctId, a condition's value
   * (a non-string `EQUALS` value counts as its JSON) (PULSE_MAX_FILTER_VALUE_LENGTH, default 1024).
   */
  readonly maxValueLength: number;
  /** REGEX / NOT_REGEX read at most this many characters from the start of a value (PULSE_MAX_REGEX_INPUT_LENGTH, default 1024). */
  readonly maxRegexInputLength: number;
  /** A condition's property key: no longer than a captured key may be (PULSE_MAX_PROPERTY_KEY_LENGTH, default 256). */
  readonly maxPropertyKeyLength: number;
  /** Nesting of an `EQUALS` value: no deeper than captured properties may be (PULSE_MAX_PROPERTY_DEPTH, default 10). */
  readonly maxValueDepth: number;
}

export const DEFAULT_FILTER_LIMITS: FilterLimits = Object.freeze({
  maxConditions: 50,
  maxValueLength: 1024,
  maxRegexInputLength: 1024,
  maxPropertyKeyLength: 256,
  maxValueDepth: 10,
});

const matchAll: EventPredicate = () => true;

/**
 * Compiles a filter once into a predicate; every part given must hold.
 * Bad filters (unknown operator, a missing or non-numeric value, a pattern RE2 cannot compile, anything over
 * `limits`) throw `BAD_USER_INPUT` here, never at match time. Every way in (recentEvents, the events
 * subscription, the hub called directly) comes through here, so the limits hold on all of them.
 */
export function compileFilter(filter: EventFilter | null | undefined, limits: FilterLimits = DEFAULT_FILTER_LIMITS): EventPredicate {
  if (filter == null) return matchAll;
  assertFilterShape(filter, limits);
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
  const regexBudget = { left: MAX_FILTER_REGEX_SIZE };
  (filter.properties ?? []).forEach((condition, index) => {
    const test = compileCondition(condition, `filter.properties[${index}]`, limits, regexBudget);
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
 * Compiles filters as `compileFilter` does, giving every equal filter one shared predicate that remembers its
 * answer for the last event: however many subscribers use a filter, each event is tested against it once (the
 * rest is one comparison each). At the design point, 10,000 subscribers each with 50 conditions, a capture then
 * costs what the distinct filters cost, not what the subscribers do. Keeps the last `capacity` distinct filters
 * (a subscriber keeps its own predicate when one is dropped; only the sharing ends).
 */
export class SharedFilters {
  private readonly shared = new Map<string, EventPredicate>();

  constructor(
    private readonly limits: FilterLimits = DEFAULT_FILTER_LIMITS,
    private readonly capacity = 1000,
  ) {}

  compile(filter: EventFilter | null | undefined): EventPredicate {
    // Compiled first: that validates the filter (bounded size and depth) before it is serialized for the key.
    const predicate = compileFilter(filter, this.limits);
    if (predicate === matchAll) return predicate;
    const key = sharingKey(filter);
    if (key === null) return predicate;
    const existing = this.shared.get(key);
    if (existing) {
      this.shared.delete(key);
      this.shared.set(key, existing);
      return existing;
    }
    let lastEvent: StoredEvent | null = null;
    let lastAnswer = false;
    const remembering: EventPredicate = (event) => {
      if (event !== lastEvent) {
        lastAnswer = predicate(event);
        lastEvent = event;
      }
      return lastAnswer;
    };
    this.shared.set(key, remembering);
    if (this.shared.size > this.capacity) this.shared.delete(this.shared.keys().next().value!);
    return remembering;
  }
}

/**
 * A key equal for filters that match the same events: JSON with strings and numbers tagged (so `"1"`, `1` and
 * `-0` stay apart). Null for a filter holding anything but plain JSON (a Map, a class instance: only a direct
 * caller can pass one), which is then not shared.
 */
export function sharingKey(filter: unknown): string | null {
  let plain = true;
  const key = JSON.stringify(filter, (_name, value: unknown) => {
    if (typeof value === "string") return `$${value}`;
    if (typeof value === "number") return `#${Object.is(value, -0) ? "-0" : String(value)}`;
    if (value === null || typeof value === "boolean" || value === undefined) return value;
    if (typeof value === "object") {
      const prototype = Object.getPrototypeOf(value) as unknown;
      if (Array.isArray(value) || prototype === Object.prototype || prototype === null) return value;
    }
    plain = false;
    return null;
  });
  return plain ? key : null;
}

/**
 * GraphQL's input coercion already guarantees this shape; the hub is also called directly (PostHog endpoints,
 * other transports), and a wrong shape must be a BAD_USER_INPUT there too, never a TypeError.
 */
function assertFilterShape(filter: unknown, limits: FilterLimits): asserts filter is EventFilter {
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
  if (properties != null && !Array.isArray(properties)) fail("filter.properties", "a list");
  // Counted before anything is walked, so a filter of a million conditions costs no more than one over the limit.
  const conditions =
    ((events as string[] | null | undefined)?.length ?? 0) +
    (environment != null ? 1 : 0) +
    (distinctId != null ? 1 : 0) +
    ((properties as unknown[] | null | undefined)?.length ?? 0);
  if (conditions > limits.maxConditions) {
    throw badInput(
      `filter has ${conditions} conditions (event names, environment, distinctId and property conditions together), the limit is ${limits.maxConditions} (PULSE_MAX_FILTER_CONDITIONS)`,
      { field: "filter", limit: limits.maxConditions, setting: "PULSE_MAX_FILTER_CONDITIONS" },
    );
  }
  ((events as string[] | null | undefined) ?? []).forEach((name, index) => checkValueLength(name, `filter.events[${index}]`, limits));
  if (environment != null) checkValueLength(environment as string, "filter.environment", limits);
  if (distinctId != null) checkValueLength(distinctId as string, "filter.distinctId", limits);
  ((properties as unknown[] | null | undefined) ?? []).forEach((condition, index) => {
    if (condition === null || typeof condition !== "object" || Array.isArray(condition)) {
      fail(`filter.properties[${index}]`, "an object");
    }
  });
}

function checkValueLength(value: string, field: string, limits: FilterLimits): void {
  if (value.length <= limits.maxValueLength) return;
  throw badInput(`${field} is ${value.length} characters, the limit is ${limits.maxValueLength} (PULSE_MAX_FILTER_VALUE_LENGTH)`, {
    field,
    limit: limits.maxValueLength,
    setting: "PULSE_MAX_FILTER_VALUE_LENGTH",
  });
}

/**
 * Checks a non-string condition value (a JSON object or list for `EQUALS`) against the length and depth limits
 * without recursion and without serializing it: a value sent as a variable can be nested far deeper than a stack.
 * Its length is that of its JSON, give or take escapes; the walk stops at the first excess.
 */
function checkValueSize(value: unknown, field: string, limits: FilterLimits): void {
  let length = 0;
  const pending: { value: unknown; depth: number }[] = [{ value, depth: 0 }];
  while (pending.length > 0) {
    const { value: current, depth } = pending.pop()!;
    if (current !== null && typeof current === "object") {
      if (depth + 1 > limits.maxValueDepth) {
        throw badInput(`${field} is nested deeper than ${limits.maxValueDepth} levels (PULSE_MAX_PROPERTY_DEPTH)`, {
          field,
          limit: limits.maxValueDepth,
          setting: "PULSE_MAX_PROPERTY_DEPTH",
        });
      }
      const keys = Object.keys(current);
      length += 2 + Math.max(0, keys.length - 1);
      const isList = Array.isArray(current);
      for (const key of keys) {
        if (!isList) length += key.length + 3;
        pending.push({ value: (current as Record<string, unknown>)[key], depth: depth + 1 });
      }
    } else {
      length += typeof current === "string" ? current.length + 2 : typeof current === "symbol" ? 8 : String(current).length;
    }
    if (length > limits.maxValueLength) {
      throw badInput(`${field} is over ${limits.maxValueLength} characters as JSON (PULSE_MAX_FILTER_VALUE_LENGTH)`, {
        field,
        limit: limits.maxValueLength,
        setting: "PULSE_MAX_FILTER_VALUE_LENGTH",
      });
    }
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

function compileCondition(condition: PropertyFilter, where: string, limits: FilterLimits, regexBudget: { left: number }): ValueTest {
  const { operator, value } = condition;
  if (typeof condition.property !== "string" || condition.property.length === 0) {
    throw badInput(`${where}.property must be a non-empty string`, { field: `${where}.property` });
  }
  if (condition.property.length > limits.maxPropertyKeyLength) {
    // No captured event has a longer key, so such a condition could only ever hold for IS_NOT_SET.
    throw badInput(
      `${where}.property is ${condition.property.length} characters, the limit is ${limits.maxPropertyKeyLength} (PULSE_MAX_PROPERTY_KEY_LENGTH)`,
      { field: `${where}.property`, limit: limits.maxPropertyKeyLength, setting: "PULSE_MAX_PROPERTY_KEY_LENGTH" },
    );
  }
  if (typeof value === "string") checkValueLength(value, `${where}.value`, limits);
  else if (value !== undefined) checkValueSize(value, `${where}.value`, limits);
  const positive =
    (test: (v: JsonValue | undefined) => boolean): ValueTest =>
    (isSet, v) =>
      isSet && test(v);
  // A negated operator is the exact complement of its positive among events where the property is set.
  const negative =
    (test: (v: JsonValue | undefined) => boolean): ValueTest =>
    (isSet, v) =>
      isSet && !test(v);

  switch (operator) {
    case "IS_SET":
      return (isSet) => isSet;
    case "IS_NOT_SET":
      return (isSet) => !isSet;
    case "EQUALS":
    case "NOT_EQUALS": {
      if (value === undefined) throw badInput(`${where}.value is required for ${operator}`, { field: `${where}.value` });
      // Object.is is isDeepStrictEqual for a primitive (0 and -0 differ, as there), without its generic walk.
      const equals =
        value === null || typeof value !== "object"
          ? (v: JsonValue | undefined) => Object.is(v, value)
          : (v: JsonValue | undefined) => isDeepStrictEqual(v, value);
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
      const contains = (v: JsonValue | undefined) => typeof v === "string" && lowerCase(v).includes(needle);
      return operator === "ICONTAINS" ? positive(contains) : negative(contains);
    }
    case "REGEX":
    case "NOT_REGEX": {
      const regex = compileRegex(requireString(value, operator, where), where, regexBudget);
      const { maxRegexInputLength } = limits;
      const matches = (v: JsonValue | undefined) => typeof v === "string" && regex.test(v, maxRegexInputLength);
      return operator === "REGEX" ? positive(matches) : negative(matches);
    }
    case "GT":
    case "GTE":
    case "LT":
    case "LTE": {
      const bound = toNumber(value);
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

/** Compiles a REGEX / NOT_REGEX pattern (RE2 syntax) and charges its size to the filter's `regexBudget`. */
function compileRegex(pattern: string, where: string, regexBudget: { left: number }): LinearRegex {
  if (pattern.length > MAX_REGEX_LENGTH) {
    throw badInput(`${where}.value: regex is ${pattern.length} characters, the limit is ${MAX_REGEX_LENGTH}`, {
      field: `${where}.value`,
      limit: MAX_REGEX_LENGTH,
    });
  }
  const compiled = compileLinearRegex(pattern, regexBudget.left);
  if (!compiled.ok) {
    throw badInput(`${where}.value: regex ${JSON.stringify(pattern)} ${compiled.reason}`, { field: `${where}.value` });
  }
  regexBudget.left -= compiled.regex.size;
  return compiled.regex;
}

/**
 * `value.toLowerCase()`, remembering the last answer: every ICONTAINS subscriber is offered the same string in
 * turn, and lowering a long one for each of them would cost the length times the subscribers.
 */
function lowerCase(value: string): string {
  if (value !== lastLowered.value) lastLowered = { value, lower: value.toLowerCase() };
  return lastLowered.lower;
}
let lastLowered = { value: "", lower: "" };

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

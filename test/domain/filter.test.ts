import { describe, expect, it } from "vitest";
import type { JsonValue, StoredEvent } from "../../src/domain/event.ts";
import {
  compileFilter,
  DEFAULT_FILTER_LIMITS,
  MAX_FILTER_REGEX_SIZE,
  MAX_REGEX_LENGTH,
  SharedFilters,
  toNumber,
  type FilterOperator,
  type PropertyFilter,
} from "../../src/domain/filter.ts";
import { expectBadInput, storedEvent, withProperties } from "./helpers.ts";

/** One event holding a property of every JSON kind; `missing` is never set. */
const sample = withProperties({
  text: "Hello World",
  number: 42,
  numericString: "42",
  decimalString: " 3.5 ",
  nothing: null,
  yes: true,
  object: { a: 1, b: [1, 2] },
  list: [1, 2],
  empty: "",
});

const matches = (condition: PropertyFilter, event: StoredEvent = sample) => compileFilter({ properties: [condition] })(event);
const test = (property: string, operator: FilterOperator, value?: JsonValue) =>
  matches(value === undefined ? { property, operator } : { property, operator, value });

describe("compileFilter: top-level parts", () => {
  const pageview = storedEvent({ event: "$pageview", environment: "production", distinctId: "alice" });
  const click = storedEvent({ event: "click", environment: "staging", distinctId: "bob" });

  it("matches every event for a null, undefined or empty filter", () => {
    for (const filter of [
      null,
      undefined,
      {},
      { events: [], properties: [] },
      { events: null, environment: null, distinctId: null, properties: null },
    ]) {
      const predicate = compileFilter(filter);
      expect([predicate(pageview), predicate(click)]).toEqual([true, true]);
    }
  });

  it("events: the event name must be in the list", () => {
    const predicate = compileFilter({ events: ["click", "signup"] });
    expect([predicate(pageview), predicate(click)]).toEqual([false, true]);
    expect(compileFilter({ events: ["$PAGEVIEW"] })(pageview)).toBe(false);
  });

  it("environment: exact and case-sensitive", () => {
    expect(compileFilter({ environment: "staging" })(click)).toBe(true);
    expect(compileFilter({ environment: "staging" })(pageview)).toBe(false);
    expect(compileFilter({ environment: "Staging" })(click)).toBe(false);
    expect(compileFilter({ environment: "stag" })(click)).toBe(false);
  });

  it("distinctId: exact", () => {
    expect(compileFilter({ distinctId: "alice" })(pageview)).toBe(true);
    expect(compileFilter({ distinctId: "alice" })(click)).toBe(false);
    expect(compileFilter({ distinctId: "alic" })(pageview)).toBe(false);
  });

  it("every given part must hold", () => {
    const event = storedEvent({ event: "click", environment: "staging", distinctId: "bob", properties: { plan: "pro", seats: 5 } });
    const filter = {
      events: ["click"],
      environment: "staging",
      distinctId: "bob",
      properties: [
        { property: "plan", operator: "EQUALS", value: "pro" },
        { property: "seats", operator: "GTE", value: 5 },
      ],
    } as const;
    expect(compileFilter(filter)(event)).toBe(true);
    expect(compileFilter({ ...filter, events: ["other"] })(event)).toBe(false);
    expect(compileFilter({ ...filter, environment: "production" })(event)).toBe(false);
    expect(compileFilter({ ...filter, distinctId: "alice" })(event)).toBe(false);
    expect(compileFilter({ ...filter, properties: [...filter.properties, { property: "seats", operator: "GT", value: 5 }] })(event)).toBe(
      false,
    );
  });
});

describe("compileFilter: IS_SET / IS_NOT_SET", () => {
  it("a present property is set, whatever its value (null included)", () => {
    for (const property of ["text", "number", "nothing", "yes", "object", "list", "empty"]) {
      expect([property, test(property, "IS_SET"), test(property, "IS_NOT_SET")]).toEqual([property, true, false]);
    }
  });

  it("an absent property is not set, including keys inherited from Object.prototype", () => {
    for (const property of ["missing", "toString", "constructor", "__proto__", "hasOwnProperty"]) {
      expect([property, test(property, "IS_SET"), test(property, "IS_NOT_SET")]).toEqual([property, false, true]);
    }
  });
});

describe("compileFilter: an absent property satisfies only IS_NOT_SET", () => {
  const cases: [FilterOperator, JsonValue][] = [
    ["EQUALS", null],
    ["NOT_EQUALS", "x"],
    ["NOT_EQUALS", null],
    ["CONTAINS", ""],
    ["NOT_CONTAINS", "x"],
    ["ICONTAINS", ""],
    ["NOT_ICONTAINS", "x"],
    ["REGEX", ".*"],
    ["NOT_REGEX", "x"],
    ["GT", -1e9],
    ["GTE", 0],
    ["LT", 1e9],
    ["LTE", 0],
    ["IS_SET", null],
  ];
  it.each(cases)("%s %j is false on an absent property", (operator, value) => {
    expect(test("missing", operator, value)).toBe(false);
  });
  it("IS_NOT_SET is true on it", () => {
    expect(test("missing", "IS_NOT_SET")).toBe(true);
  });
});

describe("compileFilter: EQUALS / NOT_EQUALS (deep JSON equality)", () => {
  it("compares scalars by type and value", () => {
    expect(test("text", "EQUALS", "Hello World")).toBe(true);
    expect(test("text", "EQUALS", "hello world")).toBe(false);
    expect(test("number", "EQUALS", 42)).toBe(true);
    expect(test("number", "EQUALS", "42")).toBe(false);
    expect(test("numericString", "EQUALS", 42)).toBe(false);
    expect(test("yes", "EQUALS", true)).toBe(true);
    expect(test("yes", "EQUALS", "true")).toBe(false);
  });

  it("compares objects and arrays deeply (key order does not matter, item order does)", () => {
    expect(test("object", "EQUALS", { b: [1, 2], a: 1 })).toBe(true);
    expect(test("object", "EQUALS", { a: 1, b: [2, 1] })).toBe(false);
    expect(test("object", "EQUALS", { a: 1 })).toBe(false);
    expect(test("list", "EQUALS", [1, 2])).toBe(true);
    expect(test("list", "EQUALS", [2, 1])).toBe(false);
  });

  it("EQUALS null matches a property set to null, and nothing else", () => {
    expect(test("nothing", "EQUALS", null)).toBe(true);
    expect(test("empty", "EQUALS", null)).toBe(false);
    expect(test("nothing", "NOT_EQUALS", null)).toBe(false);
    expect(test("nothing", "NOT_EQUALS", "x")).toBe(true);
  });

  it("NOT_EQUALS is true on a set property with another value", () => {
    expect(test("text", "NOT_EQUALS", "Hello World")).toBe(false);
    expect(test("text", "NOT_EQUALS", "Bye")).toBe(true);
    expect(test("number", "NOT_EQUALS", "42")).toBe(true);
    expect(test("object", "NOT_EQUALS", { a: 1 })).toBe(true);
  });

  it.each(["EQUALS", "NOT_EQUALS"] as const)("%s without a value is BAD_USER_INPUT", (operator) => {
    const error = expectBadInput(() => compileFilter({ properties: [{ property: "text", operator }] }), "filter.properties[0].value");
    expect(error.message).toContain(operator);
  });
});

describe("compileFilter: CONTAINS / ICONTAINS and their negations", () => {
  it("CONTAINS is a case-sensitive substring test on string values", () => {
    expect(test("text", "CONTAINS", "lo Wo")).toBe(true);
    expect(test("text", "CONTAINS", "")).toBe(true);
    expect(test("text", "CONTAINS", "hello")).toBe(false);
    expect(test("text", "CONTAINS", "Hello World!")).toBe(false);
  });

  it("ICONTAINS ignores case on both sides", () => {
    expect(test("text", "ICONTAINS", "hello")).toBe(true);
    expect(test("text", "ICONTAINS", "WORLD")).toBe(true);
    expect(test("text", "ICONTAINS", "planet")).toBe(false);
  });

  it("a non-string value never matches CONTAINS or ICONTAINS, and always matches their negations", () => {
    for (const property of ["number", "nothing", "yes", "object", "list"]) {
      expect([property, test(property, "CONTAINS", "4"), test(property, "ICONTAINS", "")]).toEqual([property, false, false]);
      expect([property, test(property, "NOT_CONTAINS", "4"), test(property, "NOT_ICONTAINS", "")]).toEqual([property, true, true]);
    }
  });

  it("NOT_CONTAINS / NOT_ICONTAINS on string values", () => {
    expect(test("text", "NOT_CONTAINS", "hello")).toBe(true);
    expect(test("text", "NOT_CONTAINS", "Hello")).toBe(false);
    expect(test("text", "NOT_ICONTAINS", "hello")).toBe(false);
    expect(test("text", "NOT_ICONTAINS", "planet")).toBe(true);
  });

  it.each(["CONTAINS", "NOT_CONTAINS", "ICONTAINS", "NOT_ICONTAINS", "REGEX", "NOT_REGEX"] as const)(
    "%s with a non-string or missing value is BAD_USER_INPUT",
    (operator) => {
      for (const value of [42, null, true, ["a"], undefined] as (JsonValue | undefined)[]) {
        const condition = value === undefined ? { property: "text", operator } : { property: "text", operator, value };
        const error = expectBadInput(() => compileFilter({ properties: [condition] }), "filter.properties[0].value");
        expect(error.message).toContain(`must be a string for ${operator}`);
      }
    },
  );
});

describe("compileFilter: REGEX / NOT_REGEX (RE2 syntax)", () => {
  it("tests RE2 patterns against string values", () => {
    expect(test("text", "REGEX", "^Hello\\s+W")).toBe(true);
    expect(test("text", "REGEX", "^World")).toBe(false);
    expect(test("text", "REGEX", "world")).toBe(false);
    expect(test("text", "REGEX", "(?i)world")).toBe(true);
    expect(test("text", "REGEX", "^(?P<greeting>Hel+o) (?<who>\\w+)$")).toBe(true);
    expect(test("numericString", "REGEX", "^\\d+$")).toBe(true);
    expect(test("text", "NOT_REGEX", "^World")).toBe(true);
    expect(test("text", "NOT_REGEX", "World$")).toBe(false);
  });

  it("a non-string value does not match REGEX, even when its JSON form would", () => {
    expect(test("number", "REGEX", "^\\d+$")).toBe(false);
    expect(test("nothing", "REGEX", "null")).toBe(false);
    expect(test("yes", "REGEX", "true")).toBe(false);
    expect(test("number", "NOT_REGEX", "^\\d+$")).toBe(true);
  });

  it("gives the same answer on repeated matches (no stateful lastIndex), also when filters share a pattern", () => {
    const predicate = compileFilter({ properties: [{ property: "text", operator: "REGEX", value: "o" }] });
    const twin = compileFilter({ properties: [{ property: "text", operator: "NOT_REGEX", value: "o" }] });
    const other = withProperties({ text: "xyz" });
    expect([predicate(sample), twin(sample), predicate(other), twin(other), predicate(sample)]).toEqual([true, false, false, true, true]);
  });

  it("rejects an invalid pattern at compile time, saying RE2 syntax is required", () => {
    const error = expectBadInput(
      () => compileFilter({ properties: [{ property: "text", operator: "REGEX", value: "([a-z" }] }),
      "filter.properties[0].value",
    );
    expect(error.message).toContain('"([a-z"');
    expect(error.message).toContain("RE2 syntax is required");
  });

  it.each(["(?=a)b", "a(?!b)", "(?<=a)b", "(?<!a)b", "(a)\\1", "(?<x>a)\\k<x>"])(
    "rejects %s (lookaround and backreferences are not RE2)",
    (pattern) => {
      for (const operator of ["REGEX", "NOT_REGEX"] as const) {
        const error = expectBadInput(
          () => compileFilter({ properties: [{ property: "text", operator, value: pattern }] }),
          "filter.properties[0].value",
        );
        expect(error.message).toContain("RE2 syntax is required");
      }
    },
  );

  // These backtrack exponentially in a backtracking engine (safe-regex2 even accepted ^(a|a)*$). RE2 accepts them
  // and answers in time linear in the input; how fast is shown without a clock in regex-linear-time.test.ts.
  it.each([
    ["^(a|a)*$", "a".repeat(30) + "!", false],
    ["^(a|a)*$", "a".repeat(30), true],
    ["(a+)+$", "a".repeat(30) + "!", false],
    ["(a*)*b", "a".repeat(30), false],
    ["(x+x+)+y", "x".repeat(30), false],
    ["^(\\w+\\s?)*$", "word ".repeat(10) + "!", false],
  ])("accepts %s and matches %j (%s) without backtracking", (pattern, value, expected) => {
    expect(matches({ property: "p", operator: "REGEX", value: pattern }, withProperties({ p: value }))).toBe(expected);
    expect(matches({ property: "p", operator: "NOT_REGEX", value: pattern }, withProperties({ p: value }))).toBe(!expected);
  });

  it(`accepts ${MAX_REGEX_LENGTH} characters and rejects ${MAX_REGEX_LENGTH + 1}`, () => {
    expect(MAX_REGEX_LENGTH).toBe(256);
    const longest = "a".repeat(256);
    expect(compileFilter({ properties: [{ property: "text", operator: "REGEX", value: longest }] })(sample)).toBe(false);
    expect(matches({ property: "p", operator: "REGEX", value: longest }, withProperties({ p: `x${longest}y` }))).toBe(true);
    const error = expectBadInput(
      () => compileFilter({ properties: [{ property: "text", operator: "REGEX", value: "a".repeat(257) }] }),
      "filter.properties[0].value",
    );
    expect(error.message).toContain("257 characters");
  });

  it(`refuses patterns that compile to more than ${MAX_FILTER_REGEX_SIZE} RE2 instructions, alone or together`, () => {
    const regex = (value: string) => ({ property: "text", operator: "REGEX" as const, value });
    expect(MAX_FILTER_REGEX_SIZE).toBe(500);
    expect(compileFilter({ properties: [regex("a{450}")] })(sample)).toBe(false);
    const alone = expectBadInput(() => compileFilter({ properties: [regex("(a{20}){20}b{100}")] }), "filter.properties[0].value");
    expect(alone.message).toMatch(/RE2 instructions/);
    // Each fits; the second does not fit in what the first left, and the message names the second.
    const together = expectBadInput(() => compileFilter({ properties: [regex("x{300}"), regex("y{300}")] }), "filter.properties[1].value");
    expect(together.message).toMatch(/RE2 instructions/);
    // RE2's own limit on a counted repetition (1000) is a syntax error, refused before anything is built.
    expect(expectBadInput(() => compileFilter({ properties: [regex(".{1001}")] }), "filter.properties[0].value").message).toMatch(
      /RE2|instructions/,
    );
  });

  it("reads at most maxRegexInputLength characters from the start of a value; NOT_REGEX stays the complement", () => {
    const limits = { ...DEFAULT_FILTER_LIMITS, maxRegexInputLength: 8 };
    const event = withProperties({ url: "https://example.com/checkout" });
    const check = (operator: "REGEX" | "NOT_REGEX", value: string) =>
      compileFilter({ properties: [{ property: "url", operator, value }] }, limits)(event);
    expect(check("REGEX", "^https:")).toBe(true);
    expect(check("REGEX", "checkout")).toBe(false);
    expect(check("NOT_REGEX", "checkout")).toBe(true);
    expect(check("REGEX", "^https://$")).toBe(true);
  });
});

describe("compileFilter: negated operators are exact complements among set properties", () => {
  const pairs: [FilterOperator, FilterOperator, JsonValue][] = [
    ["EQUALS", "NOT_EQUALS", "Hello World"],
    ["EQUALS", "NOT_EQUALS", null],
    ["EQUALS", "NOT_EQUALS", 42],
    ["CONTAINS", "NOT_CONTAINS", "o"],
    ["ICONTAINS", "NOT_ICONTAINS", "HELLO"],
    ["REGEX", "NOT_REGEX", "^4"],
  ];
  const setProperties = Object.keys(sample.properties);

  it.each(pairs)("%s / %s with %j", (positive, negative, value) => {
    const results = setProperties.map((property) => [property, test(property, positive, value), test(property, negative, value)] as const);
    for (const [property, yes, no] of results) expect([property, no]).toEqual([property, !yes]);
    // The pair is not trivially constant over the sample: each side holds somewhere.
    expect(results.some(([, yes]) => yes)).toBe(true);
    expect(results.some(([, , no]) => no)).toBe(true);
  });
});

describe("compileFilter: GT / GTE / LT / LTE", () => {
  it("compare numbers, including at the bound", () => {
    expect([test("number", "GT", 41), test("number", "GT", 42), test("number", "GT", 43)]).toEqual([true, false, false]);
    expect([test("number", "GTE", 41), test("number", "GTE", 42), test("number", "GTE", 43)]).toEqual([true, true, false]);
    expect([test("number", "LT", 41), test("number", "LT", 42), test("number", "LT", 43)]).toEqual([false, false, true]);
    expect([test("number", "LTE", 41), test("number", "LTE", 42), test("number", "LTE", 43)]).toEqual([false, true, true]);
  });

  it("compare numeric string values as numbers, not as text", () => {
    // As text, "42" < "9"; as numbers it is not.
    expect(test("numericString", "GT", 9)).toBe(true);
    expect(test("numericString", "LT", 9)).toBe(false);
    expect(test("numericString", "GTE", 42)).toBe(true);
    expect(test("decimalString", "GT", 3.4)).toBe(true);
    expect(test("decimalString", "LT", 3.6)).toBe(true);
    expect(test("decimalString", "GT", 3.5)).toBe(false);
  });

  it("accept a numeric string bound", () => {
    expect(test("number", "GT", "9")).toBe(true);
    expect(test("number", "LTE", "42.0")).toBe(true);
    expect(test("number", "LT", " 42 ")).toBe(false);
    expect(test("numericString", "GTE", "1e1")).toBe(true);
  });

  it("handle negative numbers and decimals", () => {
    const event = withProperties({ t: -2.5 });
    expect(matches({ property: "t", operator: "LT", value: -2 }, event)).toBe(true);
    expect(matches({ property: "t", operator: "GT", value: "-3" }, event)).toBe(true);
    expect(matches({ property: "t", operator: "GTE", value: -2.5 }, event)).toBe(true);
    expect(matches({ property: "t", operator: "GT", value: -2.5 }, event)).toBe(false);
  });

  it("a non-numeric property value never matches", () => {
    const event = withProperties({
      word: "abc",
      blank: "",
      spaces: "  ",
      yes: true,
      nothing: null,
      object: { n: 1 },
      list: [1],
      mixed: "12abc",
    });
    for (const property of Object.keys(event.properties)) {
      for (const operator of ["GT", "GTE", "LT", "LTE"] as const) {
        // A bound of 0 with GTE and LTE would match anything numeric-ish (false, "", null → 0 in JavaScript).
        expect([property, operator, matches({ property, operator, value: 0 }, event)]).toEqual([property, operator, false]);
      }
    }
  });

  it.each(["GT", "GTE", "LT", "LTE"] as const)("%s with a non-numeric bound is BAD_USER_INPUT naming the value", (operator) => {
    const bounds: [JsonValue | undefined, string][] = [
      ["abc", '"abc"'],
      ["", '""'],
      [true, "true"],
      [null, "null"],
      [{ n: 1 }, '{"n":1}'],
      [[1], "[1]"],
      [undefined, "null"],
    ];
    for (const [value, shown] of bounds) {
      const condition = value === undefined ? { property: "number", operator } : { property: "number", operator, value };
      const error = expectBadInput(() => compileFilter({ properties: [condition] }), "filter.properties[0].value");
      expect(error.message).toBe(`filter.properties[0].value must be a number or a numeric string for ${operator}, got ${shown}`);
    }
  });
});

describe("compileFilter: malformed conditions are BAD_USER_INPUT at compile time", () => {
  it("names the index of the bad condition", () => {
    expectBadInput(
      () =>
        compileFilter({
          properties: [
            { property: "a", operator: "IS_SET" },
            { property: "b", operator: "GT", value: "ten" },
          ],
        }),
      "filter.properties[1].value",
    );
  });

  it("an unknown operator", () => {
    const error = expectBadInput(
      () => compileFilter({ properties: [{ property: "a", operator: "STARTS_WITH" as FilterOperator, value: "x" }] }),
      "filter.properties[0].operator",
    );
    expect(error.message).toContain('"STARTS_WITH"');
  });

  it("an empty or non-string property name", () => {
    expectBadInput(() => compileFilter({ properties: [{ property: "", operator: "IS_SET" }] }), "filter.properties[0].property");
    expectBadInput(
      () => compileFilter({ properties: [{ property: 7 as unknown as string, operator: "IS_SET" }] }),
      "filter.properties[0].property",
    );
  });

  it("a wrong shape for a part", () => {
    expectBadInput(() => compileFilter({ events: "click" as unknown as string[] }), "filter.events");
    expectBadInput(() => compileFilter({ events: ["a", 1] as unknown as string[] }), "filter.events");
    expectBadInput(() => compileFilter({ environment: 1 as unknown as string }), "filter.environment");
    expectBadInput(() => compileFilter({ distinctId: {} as unknown as string }), "filter.distinctId");
    expectBadInput(() => compileFilter({ properties: {} as unknown as PropertyFilter[] }), "filter.properties");
    expectBadInput(() => compileFilter({ properties: [null as unknown as PropertyFilter] }), "filter.properties[0]");
    expectBadInput(() => compileFilter([] as never), "filter");
  });
});

describe("toNumber", () => {
  it("reads finite numbers and numeric strings, and nothing else", () => {
    expect([toNumber(3), toNumber(-0.5), toNumber("7"), toNumber(" 7 "), toNumber("1e3"), toNumber("-2.5")]).toEqual([
      3, -0.5, 7, 7, 1000, -2.5,
    ]);
    for (const value of ["", "  ", "abc", "12abc", "Infinity", true, false, null, [], {}, undefined] as (JsonValue | undefined)[]) {
      expect(toNumber(value)).toBeNull();
    }
    expect(toNumber(Number.NaN)).toBeNull();
    expect(toNumber(Number.POSITIVE_INFINITY)).toBeNull();
  });
});

describe("compileFilter: size limits (a filter's size is its cost on every capture)", () => {
  const limits = { ...DEFAULT_FILTER_LIMITS, maxConditions: 5, maxValueLength: 10, maxPropertyKeyLength: 4, maxValueDepth: 2 };
  const setting = (error: { extensions: Record<string, unknown> }) => [error.extensions["setting"], error.extensions["limit"]];
  const isSet = (property: string) => ({ property, operator: "IS_SET" as const });

  it("counts event names, environment, distinctId and property conditions together against maxConditions", () => {
    expect(compileFilter({ events: ["a", "b"], environment: "e", properties: [isSet("x"), isSet("y")] }, limits)).toBeTypeOf("function");
    const over = [
      { events: ["a", "b", "c", "d", "e", "f"] },
      { events: ["a", "b"], environment: "e", distinctId: "d", properties: [isSet("x"), isSet("y")] },
      { properties: Array.from({ length: 15_000 }, () => isSet("x")) },
    ];
    for (const filter of over) {
      const error = expectBadInput(() => compileFilter(filter, limits), "filter");
      expect(error.message).toContain("PULSE_MAX_FILTER_CONDITIONS");
      expect(setting(error)).toEqual(["PULSE_MAX_FILTER_CONDITIONS", 5]);
    }
  });

  it("the default is 50 conditions", () => {
    expect(DEFAULT_FILTER_LIMITS.maxConditions).toBe(50);
    expect(compileFilter({ properties: Array.from({ length: 50 }, () => isSet("x")) })).toBeTypeOf("function");
    expectBadInput(() => compileFilter({ properties: Array.from({ length: 51 }, () => isSet("x")) }), "filter");
  });

  it("bounds every string a filter holds by maxValueLength, naming the field", () => {
    const long = "x".repeat(11);
    const cases: [object, string][] = [
      [{ events: ["ok", long] }, "filter.events[1]"],
      [{ environment: long }, "filter.environment"],
      [{ distinctId: long }, "filter.distinctId"],
      [{ properties: [{ property: "p", operator: "EQUALS", value: long }] }, "filter.properties[0].value"],
      [{ properties: [{ property: "p", operator: "CONTAINS", value: long }] }, "filter.properties[0].value"],
      [{ properties: [{ property: "p", operator: "REGEX", value: long }] }, "filter.properties[0].value"],
    ];
    for (const [filter, field] of cases) {
      const error = expectBadInput(() => compileFilter(filter, limits), field);
      expect(setting(error)).toEqual(["PULSE_MAX_FILTER_VALUE_LENGTH", 10]);
    }
    expect(compileFilter({ events: ["x".repeat(10)] }, limits)).toBeTypeOf("function");
  });

  it("bounds a JSON EQUALS value by its JSON length and by maxValueDepth, without recursion", () => {
    const error = expectBadInput(
      () => compileFilter({ properties: [{ property: "p", operator: "EQUALS", value: { abc: [1, 2, 3, 4] } }] }, limits),
      "filter.properties[0].value",
    );
    expect(setting(error)).toEqual(["PULSE_MAX_FILTER_VALUE_LENGTH", 10]);
    const deep = expectBadInput(
      () => compileFilter({ properties: [{ property: "p", operator: "EQUALS", value: [[[1]]] }] }, limits),
      "filter.properties[0].value",
    );
    expect(setting(deep)).toEqual(["PULSE_MAX_PROPERTY_DEPTH", 2]);
    let nested: JsonValue = 1;
    for (let i = 0; i < 200_000; i++) nested = [nested];
    expectBadInput(
      () => compileFilter({ properties: [{ property: "p", operator: "NOT_EQUALS", value: nested }] }),
      "filter.properties[0].value",
    );
    expect(matches({ property: "p", operator: "EQUALS", value: [[1]] }, withProperties({ p: [[1]] }))).toBe(true);
  });

  it("refuses a property key longer than a captured key may be (PULSE_MAX_PROPERTY_KEY_LENGTH)", () => {
    const error = expectBadInput(() => compileFilter({ properties: [isSet("abcde")] }, limits), "filter.properties[0].property");
    expect(setting(error)).toEqual(["PULSE_MAX_PROPERTY_KEY_LENGTH", 4]);
  });
});

describe("SharedFilters: equal filters are tested once per event, however many subscribers hold them", () => {
  /** An event whose property `p` counts how often a filter reads it. */
  const counted = (value: JsonValue) => {
    const reads = { count: 0 };
    const properties = {};
    Object.defineProperty(properties, "p", { enumerable: true, get: () => (reads.count++, value) });
    return { event: withProperties(properties), reads };
  };
  const filter = () => ({ events: ["$pageview"], properties: [{ property: "p", operator: "REGEX" as const, value: "^a+$" }] });

  it("equal filters get one predicate, which answers each event once", () => {
    const filters = new SharedFilters();
    const predicates = Array.from({ length: 1000 }, () => filters.compile(filter()));
    expect(new Set(predicates).size).toBe(1);
    const first = counted("aaa");
    expect(predicates.every((predicate) => predicate(first.event))).toBe(true);
    expect(first.reads.count).toBe(1);
    const second = counted("b");
    expect(predicates.some((predicate) => predicate(second.event))).toBe(false);
    expect(second.reads.count).toBe(1);
    expect(predicates[0]!(first.event)).toBe(true);
  });

  it('filters that match differently are never shared: 0 and -0, 1 and "1", other operators', () => {
    const filters = new SharedFilters();
    const equals = (value: JsonValue) => filters.compile({ properties: [{ property: "p", operator: "EQUALS", value }] });
    const [zero, negativeZero, one, oneText] = [equals(0), equals(-0), equals(1), equals("1")];
    expect(new Set([zero, negativeZero, one, oneText]).size).toBe(4);
    expect([zero, negativeZero, one, oneText].map((predicate) => predicate(withProperties({ p: -0 })))).toEqual([
      false,
      true,
      false,
      false,
    ]);
    expect([zero, negativeZero, one, oneText].map((predicate) => predicate(withProperties({ p: "1" })))).toEqual([
      false,
      false,
      false,
      true,
    ]);
    const regex = filters.compile({ properties: [{ property: "p", operator: "REGEX", value: "^a" }] });
    const notRegex = filters.compile({ properties: [{ property: "p", operator: "NOT_REGEX", value: "^a" }] });
    expect(regex).not.toBe(notRegex);
  });

  it("a filter holding something other than plain JSON is compiled on its own", () => {
    const filters = new SharedFilters();
    const withMap = () =>
      filters.compile({ properties: [{ property: "p", operator: "EQUALS", value: new Map() as unknown as JsonValue }] });
    expect(withMap()).not.toBe(withMap());
    expect(withMap()(withProperties({ p: {} }))).toBe(false);
  });

  it("refuses what compileFilter refuses, with its limits", () => {
    const filters = new SharedFilters({ ...DEFAULT_FILTER_LIMITS, maxConditions: 1 });
    expectBadInput(() => filters.compile({ events: ["a", "b"] }), "filter");
  });
});

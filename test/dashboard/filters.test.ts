import { describe, expect, it } from "vitest";
import { classify, dashboardDocument } from "../../dashboard/src/feed.ts";
import { addChip, chipLabel, readChips, removeChip, toEventFilter, writeChips, type Chip } from "../../dashboard/src/filters.ts";

const google: Chip = { property: "$source", operator: "EQUALS", value: "Google" };

describe("dashboard filters", () => {
  it("round-trip through the URL query, in order, with the events, environment and distinctId fields", () => {
    const chips: Chip[] = [
      { property: "event", operator: "EQUALS", value: "signup" },
      { property: "environment", operator: "EQUALS", value: "prod" },
      google,
      { property: "$screen_width", operator: "GT", value: "1000" },
      { property: "plan", operator: "IS_SET", value: "" },
    ];
    const query = writeChips(chips);
    expect(query.toString()).toBe(
      "events=signup&environment=prod&prop=%24source&op=EQUALS&value=Google&prop=%24screen_width&op=GT&value=1000&prop=plan&op=IS_SET&value=",
    );
    expect(readChips(query)).toEqual(chips);
  });

  it("read a one-condition link from before chips (op defaults to EQUALS) and skip malformed ones", () => {
    expect(readChips(new URLSearchParams("prop=plan&value=pro"))).toEqual([{ property: "plan", operator: "EQUALS", value: "pro" }]);
    expect(readChips(new URLSearchParams("prop=n&op=GT&value=abc&prop=x&op=NOPE&value=1"))).toEqual([]);
  });

  it("map to EventFilter: event names, environment and distinctId as its fields, numbers for comparisons", () => {
    const chips = [
      ...readChips(new URLSearchParams("events=a,b&environment=staging&distinctId=ada")),
      google,
      { property: "n", operator: "LTE", value: "5" } as Chip,
    ];
    expect(toEventFilter(chips)).toEqual({
      environment: "staging",
      filter: {
        events: ["a", "b"],
        distinctId: "ada",
        properties: [
          { property: "$source", operator: "EQUALS", value: "Google" },
          { property: "n", operator: "LTE", value: 5 },
        ],
      },
    });
    expect(toEventFilter([])).toEqual({ environment: null, filter: null });
  });

  it("replace an equality on the same property when a row is clicked, keep several event names", () => {
    const bing = { ...google, value: "Bing" };
    expect(addChip([google], bing)).toEqual([bing]);
    expect(addChip([google], google)).toEqual([google]);
    const events = addChip([{ property: "event", operator: "EQUALS", value: "a" }], { property: "event", operator: "EQUALS", value: "b" });
    expect(events.map((c) => c.value)).toEqual(["a", "b"]);
    expect(removeChip([google, bing], 0)).toEqual([bing]);
    expect(chipLabel(google)).toBe("Source is Google");
    expect(chipLabel({ property: "$geoip_country_code", operator: "EQUALS", value: "DE" }, () => "Germany")).toBe("Country is Germany");
  });
});

describe("dashboard refusals", () => {
  it("name each of Pulse's refusals", () => {
    expect(classify([{ message: "No key", extensions: { code: "UNAUTHENTICATED" } }], 401)).toMatchObject({
      kind: "unauthenticated",
      fatal: true,
    });
    expect(
      classify(
        [{ message: "This key may only capture events; a query needs a read key (PULSE_READ_KEYS)", extensions: { code: "FORBIDDEN" } }],
        403,
      ),
    ).toMatchObject({ kind: "capture-key", fatal: true });
    expect(classify([{ message: "environment production is not this key's", extensions: { code: "FORBIDDEN" } }])).toMatchObject({
      kind: "forbidden",
    });
    const limited = classify([{ message: "Too many", extensions: { code: "RATE_LIMITED", retryAfterSeconds: 3 } }], 429);
    expect(limited).toMatchObject({ kind: "rate-limited", fatal: false });
    expect(limited.retryAt! - Date.now()).toBeGreaterThan(2000);
    expect(classify([], 429, "2")).toMatchObject({ kind: "rate-limited", fatal: false });
    expect(classify([{ message: "Restoring", extensions: { code: "UNAVAILABLE" } }], 503)).toMatchObject({
      kind: "unavailable",
      fatal: false,
    });
    expect(classify([{ message: "bad regex", extensions: { code: "BAD_USER_INPUT" } }])).toMatchObject({
      kind: "bad-request",
      fatal: true,
    });
  });

  it("ask for every breakdown under its alias, within Pulse's default alias limit (15)", () => {
    const document = dashboardDocument("subscription", false);
    expect(document).toContain('sources: breakdown(property: "$source", limit: 8, minutes: 30)');
    expect(document).toContain("liveDashboard(environment: $environment, filter: $filter, intervalMs: 1000)");
    expect(document.match(/\w+: breakdown/g)!.length).toBeLessThanOrEqual(15);
    expect(dashboardDocument("query", true)).not.toMatch(/breakdown|filter/);
  });
});

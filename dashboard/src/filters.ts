import type { EventFilter, FilterOperator, PropertyFilter } from "../../packages/client/src/index.ts";

/**
 * One filter chip: a condition on an event property, or on one of the event's own fields (`event`, `environment`,
 * `distinctId`), which EventFilter names separately. Chips all hold together (AND); several `event` chips mean any of
 * those names.
 */
export interface Chip {
  readonly property: string;
  readonly operator: FilterOperator;
  /** Empty for IS_SET / IS_NOT_SET. */
  readonly value: string;
}

export const OPERATORS: readonly FilterOperator[] = [
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
];
const NUMERIC: readonly FilterOperator[] = ["GT", "GTE", "LT", "LTE"];
const VALUELESS: readonly FilterOperator[] = ["IS_SET", "IS_NOT_SET"];

/** Names people read on chips and list headers; any other property shows as its own name. */
export const PROPERTY_LABELS: Readonly<Record<string, string>> = {
  event: "Event",
  environment: "Environment",
  distinctId: "Visitor",
  $source: "Source",
  $referring_domain: "Referrer",
  utm_campaign: "UTM campaign",
  utm_source: "UTM source",
  utm_medium: "UTM medium",
  $pathname: "Page",
  $entry_pathname: "Entry page",
  $geoip_country_code: "Country",
  $browser: "Browser",
  $os: "OS",
  $device_type: "Device",
};

const OPERATOR_LABELS: Readonly<Record<FilterOperator, string>> = {
  EQUALS: "is",
  NOT_EQUALS: "is not",
  CONTAINS: "contains",
  NOT_CONTAINS: "does not contain",
  ICONTAINS: "contains (any case)",
  NOT_ICONTAINS: "does not contain (any case)",
  REGEX: "matches",
  NOT_REGEX: "does not match",
  GT: ">",
  GTE: "≥",
  LT: "<",
  LTE: "≤",
  IS_SET: "is set",
  IS_NOT_SET: "is not set",
};

/** How a chip words an operator: "is", "contains", "≥", … */
export function operatorLabel(operator: FilterOperator): string {
  return OPERATOR_LABELS[operator];
}

/** "Source is Google", with `describeValue` turning a code into a name (a country code, say). */
export function chipLabel(chip: Chip, describeValue: (property: string, value: string) => string = (_, v) => v): string {
  const name = PROPERTY_LABELS[chip.property] ?? chip.property;
  const op = OPERATOR_LABELS[chip.operator];
  return VALUELESS.includes(chip.operator) ? `${name} ${op}` : `${name} ${op} ${describeValue(chip.property, chip.value)}`;
}

/**
 * The chips of a URL query. Kept as parallel `prop`, `op` and `value` parameters, one triple per chip, in order:
 * readable, shareable, and still the format of a one-condition link from before chips (`op` defaults to EQUALS).
 * `events` (comma separated), `environment` and `distinctId` are read as chips too. Anything malformed is skipped.
 */
export function readChips(query: URLSearchParams): Chip[] {
  const chips: Chip[] = [];
  for (const name of (query.get("events") ?? "").split(",")) {
    if (name.trim()) chips.push({ property: "event", operator: "EQUALS", value: name.trim() });
  }
  for (const field of ["environment", "distinctId"]) {
    const value = query.get(field);
    if (value) chips.push({ property: field, operator: "EQUALS", value });
  }
  const props = query.getAll("prop");
  const ops = query.getAll("op");
  const values = query.getAll("value");
  props.forEach((property, i) => {
    const operator = (ops[i] ?? "EQUALS") as FilterOperator;
    const chip = OPERATORS.includes(operator) ? normalise({ property, operator, value: values[i] ?? "" }) : null;
    if (chip) chips.push(chip);
  });
  return dedupe(chips);
}

/** The URL query for `chips`, keeping parameters that are not filters (none today) untouched. */
export function writeChips(chips: readonly Chip[], query = new URLSearchParams()): URLSearchParams {
  const out = new URLSearchParams(query);
  for (const name of ["events", "environment", "distinctId", "prop", "op", "value"]) out.delete(name);
  const events = chips.filter((c) => c.property === "event").map((c) => c.value);
  if (events.length) out.set("events", events.join(","));
  for (const chip of chips) {
    if (chip.property === "event") continue;
    if ((chip.property === "environment" || chip.property === "distinctId") && chip.operator === "EQUALS") {
      out.set(chip.property, chip.value);
      continue;
    }
    out.append("prop", chip.property);
    out.append("op", chip.operator);
    out.append("value", chip.value);
  }
  return out;
}

/**
 * Adds a chip. A row click (EQUALS) on a property that already has an EQUALS chip replaces it, as clicking another
 * source does in any analytics tool (two "Source is" chips could never both hold); two event names are both kept.
 */
export function addChip(chips: readonly Chip[], chip: Chip): Chip[] {
  const normal = normalise(chip);
  if (!normal) return [...chips];
  const replaces = (c: Chip) =>
    c.property === normal.property && c.property !== "event" && c.operator === "EQUALS" && normal.operator === "EQUALS";
  return dedupe([...chips.filter((c) => !replaces(c)), normal]);
}

export function removeChip(chips: readonly Chip[], index: number): Chip[] {
  return chips.filter((_, i) => i !== index);
}

/**
 * The EventFilter the chips describe, and the `environment` argument of liveDashboard. `event`, `environment` and
 * `distinctId` chips become EventFilter's own fields (only EQUALS can be said of them there); every other chip is a
 * property condition, its value a number for GT/GTE/LT/LTE and the string as typed otherwise (a breakdown row's
 * value is the string the server counted).
 */
export function toEventFilter(chips: readonly Chip[]): { environment: string | null; filter: EventFilter | null } {
  const events = chips.filter((c) => c.property === "event").map((c) => c.value);
  const environment = chips.find((c) => c.property === "environment")?.value ?? null;
  const distinctId = chips.find((c) => c.property === "distinctId")?.value ?? null;
  const properties: PropertyFilter[] = chips
    .filter((c) => !["event", "environment", "distinctId"].includes(c.property))
    .map((c) => ({
      property: c.property,
      operator: c.operator,
      value: VALUELESS.includes(c.operator) ? null : NUMERIC.includes(c.operator) ? Number(c.value) : c.value,
    }));
  const filter: { -readonly [K in keyof EventFilter]: EventFilter[K] } = {};
  if (events.length) filter.events = events;
  if (distinctId !== null) filter.distinctId = distinctId;
  if (properties.length) filter.properties = properties;
  return { environment, filter: Object.keys(filter).length ? filter : null };
}

/** Null for a chip that cannot be sent (a numeric operator without a number, an empty property). */
function normalise(chip: Chip): Chip | null {
  const property = chip.property.trim();
  if (!property) return null;
  const isField = property === "event" || property === "environment" || property === "distinctId";
  if (isField && chip.operator !== "EQUALS") return null;
  if (VALUELESS.includes(chip.operator)) return { property, operator: chip.operator, value: "" };
  if (NUMERIC.includes(chip.operator) && (chip.value.trim() === "" || Number.isNaN(Number(chip.value)))) return null;
  if (isField && !chip.value.trim()) return null;
  return { property, operator: chip.operator, value: chip.value };
}

function dedupe(chips: Chip[]): Chip[] {
  const seen = new Set<string>();
  return chips.filter((c) => {
    const key = JSON.stringify([c.property, c.operator, c.value]);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

import { badInput } from "./errors.ts";
import { pagePath, type JsonValue, type StoredEvent } from "./event.ts";
import { mod, topRanked } from "./sliding-counts.ts";
import { SpaceSaving } from "./space-saving.ts";
import { countUsers, hashUser, UserSketch } from "./user-sketch.ts";

/** One value of a breakdown over a window: its events and distinct users. */
export interface BreakdownRow {
  readonly value: string;
  readonly events: number;
  readonly users: number;
  /** The counts are estimates: see {@link Breakdowns} (tracked) and the buffer's reach (computed on demand). */
  readonly approximate: boolean;
}

/** The longest breakdown window, in minutes (as the timeline's). */
export const BREAKDOWN_MAX_MINUTES = 60;

/** PULSE_BREAKDOWN_MAX_VALUES' default: values one minute of one tracked breakdown counts. */
export const DEFAULT_BREAKDOWN_MAX_VALUES = 200;

/**
 * The pseudo-property "entry page": the path (`$pathname`, else the path of `$current_url`) of the first `$pageview`
 * of each session (`$session_id`) in the window. Its rows count sessions, not events.
 */
export const ENTRY_PATHNAME = "$entry_pathname";

/**
 * Values are cut to this many characters: a value is held by every minute it is counted in, and an event's own
 * limits let one property be tens of kilobytes.
 */
export const MAX_BREAKDOWN_VALUE_LENGTH = 256;

/**
 * Sessions whose entry page one minute of one view remembers, per value a breakdown minute counts: 50 ×
 * PULSE_BREAKDOWN_MAX_VALUES, 10,000 at the default. Past it, the minute's further sessions are left out of
 * `$entry_pathname` (whose rows are then marked approximate). Tied to the same setting so one setting bounds the
 * breakdowns' memory.
 */
export const ENTRY_SESSIONS_PER_VALUE = 50;

/**
 * The breakdowns tracked at capture for every view, in this order: the dimensions a live dashboard shows (the
 * properties Pulse's enrichment sets, with PostHog's names), plus `event`, and `environment` for the
 * all-environments view. Any other property is computed on demand from the buffer.
 */
export const TRACKED_PROPERTIES = [
  "event",
  "$pathname",
  "$source",
  "$referring_domain",
  "utm_source",
  "utm_medium",
  "utm_campaign",
  "$geoip_country_code",
  "$browser",
  "$os",
  "$device_type",
  "environment",
] as const;

const ENVIRONMENT_INDEX = TRACKED_PROPERTIES.indexOf("environment");
const TRACKED_INDEX = new Map<string, number>(TRACKED_PROPERTIES.map((property, index) => [property, index]));

/** Whether `property` is tracked at capture (`$entry_pathname` included). */
export function isTracked(property: string): boolean {
  return property === ENTRY_PATHNAME || TRACKED_INDEX.has(property);
}

/**
 * What `event` shows under `property` in a breakdown, or null when it has nothing to show there (then it is not
 * counted: rows cover the events that carry a value). `event`, `distinctId` and `environment` are the event's own
 * fields; `$pathname` falls back to the path of `$current_url`, as `topPages` does; any other name is a top-level
 * property, whose string, number or boolean value is shown as a string (`null`, objects and lists are not values).
 */
export function breakdownValue(event: StoredEvent, property: string): string | null {
  switch (property) {
    case "event":
      return event.event;
    case "distinctId":
      return event.distinctId;
    case "environment":
      return event.environment;
    case "$pathname":
      return clip(pagePath(event));
    default:
      return Object.hasOwn(event.properties, property) ? valueOf(event.properties[property]) : null;
  }
}

function valueOf(value: JsonValue | undefined): string | null {
  switch (typeof value) {
    case "string":
      return clip(value);
    case "number":
      return Number.isFinite(value) ? String(value) : null;
    case "boolean":
      return value ? "true" : "false";
    default:
      return null;
  }
}

/** `value` cut to MAX_BREAKDOWN_VALUE_LENGTH, as a string of its own (a slice would keep the whole original alive). */
function clip(value: string | null): string | null {
  if (value === null || value.length <= MAX_BREAKDOWN_VALUE_LENGTH) return value;
  return [...value.slice(0, MAX_BREAKDOWN_VALUE_LENGTH)].join("");
}

/** BAD_USER_INPUT unless `minutes` is an integer from 1 to 60 (the same rule as the timeline's). */
export function checkMinutes(minutes: number): void {
  if (!Number.isInteger(minutes) || minutes < 1 || minutes > BREAKDOWN_MAX_MINUTES) {
    throw badInput(`minutes must be an integer from 1 to ${BREAKDOWN_MAX_MINUTES}, got ${minutes}`, { field: "minutes" });
  }
}

/** BAD_USER_INPUT unless `limit` is zero or more. */
export function checkLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 0) throw badInput(`limit must be zero or more, got ${limit}`, { field: "limit" });
}

/** The start (epoch ms) of a window of `minutes` whole minutes ending with the one holding `nowMs`, as the timeline's. */
export function windowStart(nowMs: number, minutes: number): number {
  return (Math.floor(nowMs / 60_000) - minutes + 1) * 60_000;
}

/**
 * What one event contributes to the tracked breakdowns, read once and recorded into every view it belongs to. One
 * instance is refilled for each event (`read`): recording is synchronous and keeps none of it but the strings, and
 * this runs for every captured event, so it allocates nothing.
 */
export class BreakdownSample {
  /** By TRACKED_PROPERTIES index; null where the event has no value. */
  readonly values: (string | null)[] = new Array<string | null>(TRACKED_PROPERTIES.length).fill(null);
  user = 0;
  /** For a `$pageview` with a session and a path: the session's hash (see hashUser), else null. */
  session: number | null = null;
  /** The path of that `$pageview`, else null. */
  path: string | null = null;

  /**
   * Fills this sample from `event`; `path` is its `pagePath`, which the caller has already. Written out rather than
   * through `breakdownValue`, one named read per property, so each read site has its own inline cache. None of these
   * names is on Object.prototype, so a plain read is an own-property read.
   */
  read(event: StoredEvent, path: string | null): this {
    const { values } = this;
    const properties = event.properties;
    const pathname = clip(path);
    values[0] = event.event;
    values[1] = pathname;
    values[2] = valueOf(properties["$source"]);
    values[3] = valueOf(properties["$referring_domain"]);
    values[4] = valueOf(properties["utm_source"]);
    values[5] = valueOf(properties["utm_medium"]);
    values[6] = valueOf(properties["utm_campaign"]);
    values[7] = valueOf(properties["$geoip_country_code"]);
    values[8] = valueOf(properties["$browser"]);
    values[9] = valueOf(properties["$os"]);
    values[10] = valueOf(properties["$device_type"]);
    values[11] = event.environment;
    this.user = hashUser(event.distinctId);
    const entry = event.event === "$pageview" && event.sessionId !== null && pathname !== null;
    this.path = entry ? pathname : null;
    // Sessions are remembered by their 30-bit hash, in a third of the memory of their ids. Two sessions with one
    // hash count as one: among n sessions in a window each is lost that way with a chance of about n / 2³⁰, so at
    // most 0.06 % of the 600,000 of a full hour at the default bound.
    this.session = entry ? hashUser(event.sessionId) : null;
    return this;
  }
}

interface EntrySession {
  readonly path: string;
  readonly user: number;
}

/** One minute of one view's tracked breakdowns. */
class BreakdownMinute {
  /** By TRACKED_PROPERTIES index, created at a dimension's first value in the minute. */
  readonly counters: (SpaceSaving | undefined)[] = new Array<SpaceSaving | undefined>(TRACKED_PROPERTIES.length).fill(undefined);
  /** Each session's first page view in this minute, by the session's hash. */
  readonly sessions = new Map<number, EntrySession>();
  sessionsLeftOut = 0;
  constructor(readonly minute: number) {}
}

export interface BreakdownsStats {
  /** The most values any one minute of one breakdown holds: at most PULSE_BREAKDOWN_MAX_VALUES. */
  readonly maxValuesPerMinute: number;
  /** The most sessions any one minute holds for `$entry_pathname`: at most ENTRY_SESSIONS_PER_VALUE × maxValues. */
  readonly maxSessionsPerMinute: number;
  /** Values that took over another's counter (making their minute's counts estimates), since start. */
  readonly evictions: number;
}

/**
 * The tracked breakdowns of one view (all environments, or one): per-minute counts of each TRACKED_PROPERTIES
 * dimension and of entry pages over the last BREAKDOWN_MAX_MINUTES minutes, by receive time, in a ring of minutes.
 *
 * Memory is bounded whatever the cardinality: each minute of each dimension is a Space-Saving summary of at most
 * `maxValues` (PULSE_BREAKDOWN_MAX_VALUES) values, each value cut to MAX_BREAKDOWN_VALUE_LENGTH characters and with
 * a distinct-users sketch of at most USER_SKETCH_SIZE hashes; each minute remembers the entry page of at most
 * ENTRY_SESSIONS_PER_VALUE × `maxValues` sessions. So one view holds at most 12 × 60 × maxValues counted values and
 * 60 × 50 × maxValues sessions: at the default (200), measured, about 35 MB under a flood of one-off values, 110 MB
 * if every value of every minute had 64 users or more, and 70 MB more for a full hour of sessions; a few MB for a
 * site with hundreds of pages and tens of sources and countries.
 *
 * A window's rows sum its minutes. They are exact (users up to a hash collision) while no minute in the window
 * held more than `maxValues` values of the dimension and no value had more than USER_SKETCH_SIZE users in a minute;
 * otherwise `approximate`: a row's events are then within ± (events in the window / maxValues) of the truth, and its
 * users an estimate (about ±13 %). Time only moves forward: an event older than the ring is not counted.
 */
export class Breakdowns {
  private readonly minutes = new Array<BreakdownMinute | undefined>(BREAKDOWN_MAX_MINUTES).fill(undefined);
  /** The newest minute: the one almost every event goes to. */
  private newest: BreakdownMinute | undefined;
  private readonly dimensions: number;
  private readonly maxSessions: number;
  /** Evictions in the minutes that left the ring. */
  private evictionsBefore = 0;

  /**
   * `withEnvironment`: track the `environment` dimension (only the all-environments view has more than one).
   * `countsFromMs`: events before it may have been left out (the view was dropped and made again): `rows` of a
   * window that starts before its minute are undefined, for the caller to compute from the buffer.
   */
  constructor(
    private readonly maxValues: number,
    withEnvironment: boolean,
    private readonly countsFromMs = -Infinity,
  ) {
    this.dimensions = withEnvironment ? TRACKED_PROPERTIES.length : ENVIRONMENT_INDEX;
    this.maxSessions = ENTRY_SESSIONS_PER_VALUE * maxValues;
  }

  record(sample: BreakdownSample, atMs: number): void {
    const minute = Math.floor(atMs / 60_000);
    const bucket = this.newest !== undefined && this.newest.minute === minute ? this.newest : this.bucketFor(minute);
    if (bucket === undefined) return;
    const { values, user } = sample;
    for (let index = 0; index < this.dimensions; index++) {
      const value = values[index];
      if (value == null) continue;
      let counter = bucket.counters[index];
      if (counter === undefined) bucket.counters[index] = counter = new SpaceSaving(this.maxValues);
      counter.add(value, user);
    }
    if (sample.session !== null && !bucket.sessions.has(sample.session)) {
      if (bucket.sessions.size < this.maxSessions) bucket.sessions.set(sample.session, { path: sample.path!, user });
      else bucket.sessionsLeftOut++;
    }
  }

  /**
   * The first `limit` rows of `property` over the `minutes` minutes ending with the one holding `nowMs`, most events
   * first, ties by value; undefined when `property` is not tracked in this view. `minutes` and `limit` are checked by
   * the caller.
   */
  rows(property: string, nowMs: number, minutes: number, limit: number): BreakdownRow[] | undefined {
    if (Math.floor(nowMs / 60_000) - minutes + 1 < Math.floor(this.countsFromMs / 60_000)) return undefined;
    const window = this.window(nowMs, minutes);
    if (property === ENTRY_PATHNAME) return entryRows(window, limit);
    const index = TRACKED_INDEX.get(property);
    if (index === undefined || index >= this.dimensions) return undefined;
    const counters = window.map((bucket) => bucket.counters[index]).filter((counter) => counter !== undefined);
    const totals = new Map<string, number>();
    let evicted = false;
    for (const counter of counters) {
      if (counter.evictions > 0) evicted = true;
      for (const { value, events } of counter.values()) totals.set(value, (totals.get(value) ?? 0) + events);
    }
    return topRanked(totals, limit).map(([value, events]) => {
      const sketches: UserSketch[] = [];
      for (const counter of counters) {
        const counted = counter.get(value);
        if (counted) sketches.push(counted.users);
      }
      const { users, estimated } = countUsers(sketches);
      return { value, events, users: Math.min(users, events), approximate: evicted || estimated };
    });
  }

  /** True when no minute is within the ring ending at `nowMs`. */
  isEmptyAt(nowMs: number): boolean {
    const current = Math.floor(nowMs / 60_000);
    return this.minutes.every((bucket) => bucket === undefined || bucket.minute <= current - BREAKDOWN_MAX_MINUTES);
  }

  stats(): BreakdownsStats {
    let maxValuesPerMinute = 0;
    let maxSessionsPerMinute = 0;
    let evictions = this.evictionsBefore;
    for (const bucket of this.minutes) {
      if (bucket === undefined) continue;
      maxSessionsPerMinute = Math.max(maxSessionsPerMinute, bucket.sessions.size);
      for (const counter of bucket.counters) {
        if (counter === undefined) continue;
        maxValuesPerMinute = Math.max(maxValuesPerMinute, counter.size);
        evictions += counter.evictions;
      }
    }
    return { maxValuesPerMinute, maxSessionsPerMinute, evictions };
  }

  /** The bucket of `minute`, replacing the one of a minute that left the ring; undefined when `minute` is too old. */
  private bucketFor(minute: number): BreakdownMinute | undefined {
    const index = mod(minute, BREAKDOWN_MAX_MINUTES);
    let bucket = this.minutes[index];
    if (bucket !== undefined && bucket.minute >= minute) return bucket.minute === minute ? bucket : undefined;
    if (bucket !== undefined) for (const counter of bucket.counters) this.evictionsBefore += counter?.evictions ?? 0;
    this.minutes[index] = bucket = new BreakdownMinute(minute);
    if (this.newest === undefined || minute > this.newest.minute) this.newest = bucket;
    return bucket;
  }

  /** The live minutes of the window, oldest first. */
  private window(nowMs: number, minutes: number): BreakdownMinute[] {
    const current = Math.floor(nowMs / 60_000);
    const out: BreakdownMinute[] = [];
    for (let minute = current - minutes + 1; minute <= current; minute++) {
      const bucket = this.minutes[mod(minute, BREAKDOWN_MAX_MINUTES)];
      if (bucket !== undefined && bucket.minute === minute) out.push(bucket);
    }
    return out;
  }
}

/** Entry pages over `window` (oldest first): each session counts once, at its first page view in the window. */
function entryRows(window: readonly BreakdownMinute[], limit: number): BreakdownRow[] {
  const seen = new Set<number>();
  const byPath = new Map<string, { sessions: number; users: UserSketch }>();
  let leftOut = false;
  for (const bucket of window) {
    if (bucket.sessionsLeftOut > 0) leftOut = true;
    for (const [session, { path, user }] of bucket.sessions) {
      if (seen.has(session)) continue;
      seen.add(session);
      let entry = byPath.get(path);
      if (entry === undefined) byPath.set(path, (entry = { sessions: 0, users: new UserSketch() }));
      entry.sessions++;
      entry.users.add(user);
    }
  }
  const totals = new Map<string, number>();
  for (const [path, { sessions }] of byPath) totals.set(path, sessions);
  return topRanked(totals, limit).map(([value, events]) => {
    const { users, estimated } = countUsers([byPath.get(value)!.users]);
    return { value, events, users, approximate: leftOut || estimated };
  });
}

/**
 * The breakdown of `property` over `events` (newest first, as the buffer gives them) received from `fromMs` on,
 * counted exactly: what any untracked property, and any filtered dashboard, gets. `approximate` is the caller's
 * word on whether `events` reach back to `fromMs` (the buffer may have dropped older ones).
 */
export function breakdownOfEvents(
  events: readonly StoredEvent[],
  property: string,
  fromMs: number,
  limit: number,
  approximate: boolean,
): BreakdownRow[] {
  const users = new Map<string, Set<string>>();
  const totals = new Map<string, number>();
  const count = (value: string, distinctId: string) => {
    totals.set(value, (totals.get(value) ?? 0) + 1);
    let ids = users.get(value);
    if (ids === undefined) users.set(value, (ids = new Set()));
    ids.add(distinctId);
  };
  if (property === ENTRY_PATHNAME) {
    const seen = new Set<string>();
    for (let i = events.length - 1; i >= 0; i--) {
      const event = events[i]!;
      if (event.receivedAt < fromMs || event.event !== "$pageview" || event.sessionId === null || seen.has(event.sessionId)) continue;
      const path = breakdownValue(event, "$pathname");
      if (path === null) continue;
      seen.add(event.sessionId);
      count(path, event.distinctId);
    }
  } else {
    for (const event of events) {
      if (event.receivedAt < fromMs) continue;
      const value = breakdownValue(event, property);
      if (value !== null) count(value, event.distinctId);
    }
  }
  return topRanked(totals, limit).map(([value, events]) => ({ value, events, users: users.get(value)!.size, approximate }));
}

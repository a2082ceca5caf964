import { breakdownOfEvents, checkLimit, checkMinutes, windowStart, BREAKDOWN_MAX_MINUTES, type BreakdownRow } from "./breakdown.ts";
import type { Clock } from "./clock.ts";
import { topRanked } from "./sliding-counts.ts";
import { badInput } from "./errors.ts";
import { pagePath, type StoredEvent } from "./event.ts";
import type { EventStream } from "./event-stream.ts";
import { compileFilter, DEFAULT_FILTER_LIMITS, sharingKey, type EventFilter, type EventPredicate, type FilterLimits } from "./filter.ts";
import type { LiveViews } from "./live-views.ts";
import type { Ticks } from "./ticker.ts";
import type { TimelinePoint } from "./timeline.ts";

/**
 * What a `LiveDashboard` shows, at `at`: each method is one of its fields (`limit`, `minutes` and `property` checked
 * here, BAD_USER_INPUT when out of range).
 */
export interface DashboardView {
  /** When the view was made (epoch ms): `LiveDashboard.timestamp`. */
  readonly at: number;
  liveUsers(): number;
  eventCounts(limit: number): { event: string; count: number }[];
  topPages(limit: number): { path: string; count: number }[];
  timeline(minutes: number): TimelinePoint[];
  recentEvents(limit: number): StoredEvent[];
  /** `minutes` null or undefined: the dashboard window, in whole minutes (at least 1, at most 60). */
  breakdown(property: string, limit: number, minutes: number | null | undefined): BreakdownRow[];
}

export interface LiveDashboardsOptions {
  /** A user is live while their latest event is younger than this (PULSE_LIVE_WINDOW_SECONDS). */
  readonly liveWindowSeconds: number;
  /** The dashboard's sliding window (PULSE_DASHBOARD_WINDOW_SECONDS); also the default breakdown window. */
  readonly dashboardWindowSeconds: number;
  /** The filter bounds (PULSE_MAX_FILTER_*), which also bound a breakdown's property name. */
  readonly filterLimits?: FilterLimits | undefined;
  readonly clock: Clock;
}

/** What the live dashboards did, for metrics and tests. */
export interface LiveDashboardsStats {
  /**
   * Scans of the buffer: one per filtered dashboard computed (a query, or one tick of a group of identical
   * subscriptions, whatever its members ask for), one per breakdown of an untracked property without a filter.
   */
  readonly bufferScans: number;
  /** Groups of identical filtered `liveDashboard` subscriptions ticking together now. */
  readonly tickGroups: number;
}

/**
 * The `liveDashboard` views, for one environment or all, with or without a filter.
 *
 * Without a filter (or with one that only names the environment) a view reads the live views' incremental
 * structures, as it always has: the sliding windows, the timeline, live users and the breakdowns tracked at capture
 * (src/domain/breakdown.ts). Only a breakdown of a property that is not tracked reads the buffer.
 *
 * With a filter, every field counts matching events only, computed from the ring buffer (PULSE_BUFFER_SIZE): exact
 * over what the buffer holds, which may not reach back over a whole window on a busy server (breakdown rows then say
 * `approximate`). One scan of the buffer serves every field of the view; each field's answer is computed once per
 * view and shared by whoever reads it, and identical filtered subscriptions (same environment, filter and interval)
 * tick together, one view per tick for all of them.
 */
export class LiveDashboards {
  private readonly clock: Clock;
  private readonly limits: FilterLimits;
  private readonly source: ViewSource;
  private scans = 0;

  constructor(
    stream: EventStream,
    private readonly views: LiveViews,
    options: LiveDashboardsOptions,
  ) {
    const clock = (this.clock = options.clock);
    const limits = (this.limits = options.filterLimits ?? DEFAULT_FILTER_LIMITS);
    const defaultMinutes = Math.min(BREAKDOWN_MAX_MINUTES, Math.max(1, Math.ceil(options.dashboardWindowSeconds / 60)));
    this.source = {
      views,
      liveWindowMs: options.liveWindowSeconds * 1000,
      dashboardWindowSeconds: options.dashboardWindowSeconds,
      now: () => clock.now(),
      scan: (predicate) => {
        this.scans++;
        const events: StoredEvent[] = [];
        for (const event of stream.newestFirst()) if (predicate(event)) events.push(event);
        return { events, completeFrom: stream.completeFrom };
      },
      recent: (limit, environment) => stream.recent(limit, environment === null ? null : { environment }),
      breakdownWindow: (property, limit, minutes) => {
        checkProperty(property, limits);
        checkLimit(limit);
        const window = minutes ?? defaultMinutes;
        checkMinutes(window);
        return window;
      },
    };
  }

  /** The dashboard now, of `environment` (null: all) and of the events matching `filter`; a bad filter is BAD_USER_INPUT. */
  view(environment: string | null, filter?: EventFilter | null): DashboardView {
    return this.plan(environment, filter).make();
  }

  /**
   * A `liveDashboard` subscription: the view now, then every `intervalMs` (at least 250). A bad filter is
   * BAD_USER_INPUT here, before anything starts. Filtered subscriptions with the same environment, filter and
   * interval share one view per tick.
   */
  ticks(environment: string | null, filter: EventFilter | null | undefined, intervalMs: number): Ticks<DashboardView> {
    const plan = this.plan(environment, filter);
    return this.views.tick(intervalMs, plan.make, plan.shareKey ?? undefined);
  }

  stats(): LiveDashboardsStats {
    return { bufferScans: this.scans, tickGroups: this.views.tickGroupCount };
  }

  /** How views of these arguments are made: from the incremental structures, or from the buffer. */
  private plan(environment: string | null, filter: EventFilter | null | undefined): { make: () => DashboardView; shareKey: string | null } {
    const matches = compileFilter(filter, this.limits);
    const filterEnvironment = filter?.environment ?? null;
    const onlyEnvironment =
      !filter?.events?.length &&
      filter?.distinctId == null &&
      !filter?.properties?.length &&
      (environment === null || filterEnvironment === null || environment === filterEnvironment);
    if (onlyEnvironment) {
      const scope = environment ?? filterEnvironment;
      return { make: () => new IncrementalView(this.source, scope, this.clock.now()), shareKey: null };
    }
    const predicate: EventPredicate = environment === null ? matches : (event) => event.environment === environment && matches(event);
    const key = sharingKey(filter);
    return {
      make: () => new BufferedView(this.source, predicate, this.clock.now()),
      shareKey: key === null ? null : JSON.stringify([environment, key]),
    };
  }
}

/** What the views read, handed to them by LiveDashboards. */
interface ViewSource {
  readonly views: LiveViews;
  readonly liveWindowMs: number;
  readonly dashboardWindowSeconds: number;
  now(): number;
  /** Buffered events matching `predicate`, newest first, and the receive time from which the buffer is complete. */
  scan(predicate: EventPredicate): { events: StoredEvent[]; completeFrom: number };
  recent(limit: number, environment: string | null): StoredEvent[];
  /** Checks a breakdown's arguments; returns its window in minutes (the dashboard window's by default). */
  breakdownWindow(property: string, limit: number, minutes: number | null | undefined): number;
}

function checkProperty(property: string, limits: FilterLimits): void {
  if (typeof property !== "string" || property.length === 0) throw badInput("property must be a non-empty string", { field: "property" });
  if (property.length > limits.maxPropertyKeyLength) {
    throw badInput(
      `property is ${property.length} characters, the limit is ${limits.maxPropertyKeyLength} (PULSE_MAX_PROPERTY_KEY_LENGTH)`,
      {
        field: "property",
        limit: limits.maxPropertyKeyLength,
        setting: "PULSE_MAX_PROPERTY_KEY_LENGTH",
      },
    );
  }
}

/** A dashboard without a filter: the incremental structures, read when each field is. */
class IncrementalView implements DashboardView {
  constructor(
    private readonly source: ViewSource,
    private readonly environment: string | null,
    readonly at: number,
  ) {}

  liveUsers(): number {
    return this.source.views.liveUserCount(this.environment);
  }

  eventCounts(limit: number): { event: string; count: number }[] {
    return this.source.views.eventCounts(limit, this.environment);
  }

  topPages(limit: number): { path: string; count: number }[] {
    return this.source.views.topPages(limit, this.environment);
  }

  timeline(minutes: number): TimelinePoint[] {
    return this.source.views.timeline(minutes, this.environment);
  }

  recentEvents(limit: number): StoredEvent[] {
    return this.source.recent(limit, this.environment);
  }

  breakdown(property: string, limit: number, minutes: number | null | undefined): BreakdownRow[] {
    const window = this.source.breakdownWindow(property, limit, minutes);
    const tracked = this.source.views.breakdown(property, limit, window, this.environment);
    if (tracked !== undefined) return tracked;
    const environment = this.environment;
    const { events, completeFrom } = this.source.scan(environment === null ? () => true : (e) => e.environment === environment);
    const from = windowStart(this.source.now(), window);
    return breakdownOfEvents(events, property, from, limit, completeFrom > from);
  }
}

/**
 * A filtered dashboard at `at`: the buffer's matching events, scanned once when a field is first read, and each
 * field's answer computed once (per argument) and shared by every reader of this view. Answers are never mutated.
 */
class BufferedView implements DashboardView {
  private scanned: { readonly events: StoredEvent[]; readonly completeFrom: number } | undefined;
  private readonly answers = new Map<string, unknown>();

  constructor(
    private readonly source: ViewSource,
    private readonly predicate: EventPredicate,
    readonly at: number,
  ) {}

  liveUsers(): number {
    return this.answer("liveUsers", () => {
      const { liveWindowMs } = this.source;
      const users = new Set<string>();
      for (const event of this.events()) if (this.at - event.receivedAt < liveWindowMs) users.add(event.distinctId);
      return users.size;
    });
  }

  eventCounts(limit: number): { event: string; count: number }[] {
    checkLimit(limit);
    const ranked = this.answer("eventCounts", () => {
      const totals = new Map<string, number>();
      for (const event of this.inDashboardWindow()) totals.set(event.event, (totals.get(event.event) ?? 0) + 1);
      return topRanked(totals, Infinity).map(([event, count]) => ({ event, count }));
    });
    return limit >= ranked.length ? ranked : ranked.slice(0, limit);
  }

  topPages(limit: number): { path: string; count: number }[] {
    checkLimit(limit);
    const ranked = this.answer("topPages", () => {
      const totals = new Map<string, number>();
      for (const event of this.inDashboardWindow()) {
        const path = event.event === "$pageview" ? pagePath(event) : null;
        if (path !== null) totals.set(path, (totals.get(path) ?? 0) + 1);
      }
      return topRanked(totals, Infinity).map(([path, count]) => ({ path, count }));
    });
    return limit >= ranked.length ? ranked : ranked.slice(0, limit);
  }

  timeline(minutes: number): TimelinePoint[] {
    checkMinutes(minutes);
    return this.answer(`timeline:${minutes}`, () => {
      const current = Math.floor(this.at / 60_000);
      const first = current - minutes + 1;
      const points = Array.from({ length: minutes }, (_, i) => ({ minute: (first + i) * 60_000, events: 0, users: new Set<string>() }));
      for (const event of this.events()) {
        const point = points[Math.floor(event.receivedAt / 60_000) - first];
        if (point === undefined) continue;
        point.events++;
        point.users.add(event.distinctId);
      }
      return points.map(({ minute, events, users }) => ({ minute, events, uniqueUsers: users.size }));
    });
  }

  recentEvents(limit: number): StoredEvent[] {
    checkLimit(limit);
    const events = this.events();
    return limit >= events.length ? events : events.slice(0, limit);
  }

  breakdown(property: string, limit: number, minutes: number | null | undefined): BreakdownRow[] {
    const window = this.source.breakdownWindow(property, limit, minutes);
    const rows = this.answer(`breakdown:${window}:${property}`, () => {
      const from = windowStart(this.at, window);
      const { events, completeFrom } = this.buffered();
      return breakdownOfEvents(events, property, from, Infinity, completeFrom > from);
    });
    return limit >= rows.length ? rows : rows.slice(0, limit);
  }

  /** Matching events received within the dashboard window (PULSE_DASHBOARD_WINDOW_SECONDS, whole seconds). */
  private *inDashboardWindow(): Generator<StoredEvent> {
    const oldestSecond = Math.floor(this.at / 1000) - this.source.dashboardWindowSeconds + 1;
    for (const event of this.events()) if (Math.floor(event.receivedAt / 1000) >= oldestSecond) yield event;
  }

  private events(): StoredEvent[] {
    return this.buffered().events;
  }

  /** The matching buffered events, newest first, scanned at the first call. */
  private buffered(): { readonly events: StoredEvent[]; readonly completeFrom: number } {
    return (this.scanned ??= this.source.scan(this.predicate));
  }

  private answer<T>(key: string, compute: () => T): T {
    if (this.answers.has(key)) return this.answers.get(key) as T;
    const value = compute();
    this.answers.set(key, value);
    return value;
  }
}

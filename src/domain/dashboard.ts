import { DEFAULT_VIEW_BOUNDS, type ViewBounds } from "./bounds.ts";
import { Breakdowns, BreakdownSample, isTracked, type BreakdownRow } from "./breakdown.ts";
import { pagePath, type StoredEvent } from "./event.ts";
import { RecentlyActive } from "./recently-active.ts";
import { SlidingCounts } from "./sliding-counts.ts";
import { Timeline, type TimelinePoint } from "./timeline.ts";

class Windows {
  readonly byEvent: SlidingCounts;
  readonly byPage: SlidingCounts;
  readonly timeline = new Timeline();
  constructor(seconds: number, maxTrackedNames: number) {
    this.byEvent = new SlidingCounts(seconds, maxTrackedNames);
    this.byPage = new SlidingCounts(seconds, maxTrackedNames);
  }
}

/** What the dashboard windows hold now, and what their bounds turned away; for metrics and tests. */
export interface DashboardStats {
  /** Environments with their own windows now: at most PULSE_MAX_ENVIRONMENTS. */
  readonly environments: number;
  /** Environments with their own tracked breakdowns now: at most PULSE_BREAKDOWN_MAX_ENVIRONMENTS. */
  readonly breakdownEnvironments: number;
  /** Environments whose windows were dropped to stay within PULSE_MAX_ENVIRONMENTS, since start. */
  readonly environmentsEvicted: number;
  /** The most event names any one window counts now: at most PULSE_MAX_TRACKED_NAMES. */
  readonly maxEventNamesPerWindow: number;
  /** The most page paths any one window counts now: at most PULSE_MAX_TRACKED_NAMES. */
  readonly maxPathsPerWindow: number;
  /** Events the all-environments window left out because it counted PULSE_MAX_TRACKED_NAMES names already. */
  readonly untrackedEvents: number;
  /** Page views the all-environments window left out because it counted PULSE_MAX_TRACKED_NAMES paths already. */
  readonly untrackedPageviews: number;
  /** The most values any one minute of one tracked breakdown holds now: at most PULSE_BREAKDOWN_MAX_VALUES. */
  readonly maxBreakdownValuesPerMinute: number;
  /** The most sessions any one minute of `$entry_pathname` holds now: at most 50 × PULSE_BREAKDOWN_MAX_VALUES. */
  readonly maxEntrySessionsPerMinute: number;
  /**
   * Values that took over another's counter in the all-environments breakdowns, since start: each made its
   * minute's counts estimates (PULSE_BREAKDOWN_MAX_VALUES).
   */
  readonly breakdownEvictions: number;
}

/**
 * The dashboard's sliding windows: event counts by name and `$pageview` counts by path over the last
 * `windowSeconds`, by receive time, the per-minute timeline and the tracked breakdowns (see {@link Breakdowns}),
 * for all environments together and for each one. Bounded by `bounds` (PULSE_MAX_ENVIRONMENTS environments with
 * their own windows, the least recently active dropped past it; PULSE_MAX_TRACKED_NAMES names and paths per window;
 * PULSE_BREAKDOWN_MAX_VALUES values per minute of each breakdown), so a stream of new names costs a fixed amount at most.
 *
 * Tracked breakdowns are the largest of these (up to tens of MB a view under a flood of one-off values), so fewer
 * environments have their own: PULSE_BREAKDOWN_MAX_ENVIRONMENTS, the least recently active dropped past it, like
 * the windows. An environment without them answers `breakdown` from the buffer (as for a property that is not
 * tracked), and so does one whose breakdowns were dropped and made again, for windows that start before its new
 * first event: the bound costs scans, never a row that misses events. The breakdowns' memory is at most
 * (1 + that setting) views' worth whatever the number of environments.
 */
export class DashboardWindows {
  private readonly all: Windows;
  private readonly allBreakdowns: Breakdowns;
  private readonly byEnvironment: RecentlyActive<Windows>;
  private readonly breakdownsByEnvironment: RecentlyActive<Breakdowns>;
  /** Refilled for each event (see BreakdownSample). */
  private readonly sample = new BreakdownSample();
  /** The receive time of the event being recorded. */
  private recording = 0;

  constructor(
    private readonly windowSeconds: number,
    bounds: Partial<
      Pick<ViewBounds, "maxEnvironments" | "maxTrackedNames" | "maxBreakdownValues" | "maxBreakdownEnvironments">
    > = DEFAULT_VIEW_BOUNDS,
  ) {
    const { maxEnvironments, maxTrackedNames, maxBreakdownValues, maxBreakdownEnvironments } = { ...DEFAULT_VIEW_BOUNDS, ...bounds };
    this.all = new Windows(windowSeconds, maxTrackedNames);
    this.allBreakdowns = new Breakdowns(maxBreakdownValues, true);
    this.byEnvironment = new RecentlyActive(maxEnvironments, () => new Windows(this.windowSeconds, maxTrackedNames));
    // Once an environment's breakdowns have been dropped, a new one may be that environment's again, missing what
    // the dropped one counted: it answers only windows from its first event on (the buffer answers the others).
    this.breakdownsByEnvironment = new RecentlyActive(
      maxBreakdownEnvironments,
      () => new Breakdowns(maxBreakdownValues, false, this.breakdownsByEnvironment.evicted > 0 ? this.recording : -Infinity),
    );
  }

  record(event: StoredEvent): void {
    const env = this.byEnvironment.active(event.environment);
    const eventPath = pagePath(event);
    const path = event.event === "$pageview" ? eventPath : null;
    const sample = this.sample.read(event, eventPath);
    for (const windows of [this.all, env]) {
      windows.byEvent.record(event.event, event.receivedAt);
      if (path !== null) windows.byPage.record(path, event.receivedAt);
      windows.timeline.record(event.distinctId, event.receivedAt);
    }
    this.recording = event.receivedAt;
    this.allBreakdowns.record(sample, event.receivedAt);
    this.breakdownsByEnvironment.active(event.environment).record(sample, event.receivedAt);
  }

  /** Counts by event name, most first, ties by name; the first `limit` (all by default). */
  eventCounts(now: number, environment?: string | null, limit = Infinity): { event: string; count: number }[] {
    return (this.windows(environment)?.byEvent.ranked(now, limit) ?? []).map(({ key, count }) => ({ event: key, count }));
  }

  topPages(now: number, limit: number, environment?: string | null): { path: string; count: number }[] {
    return (this.windows(environment)?.byPage.ranked(now, limit) ?? []).map(({ key, count }) => ({ path: key, count }));
  }

  /** Per-minute events and distinct users, oldest first; `minutes` from 1 to 60 else BAD_USER_INPUT. */
  timeline(now: number, minutes: number, environment?: string | null): TimelinePoint[] {
    const windows = this.windows(environment);
    return (windows?.timeline ?? new Timeline()).points(now, minutes);
  }

  /**
   * The first `limit` rows of a tracked breakdown over the last `minutes` minutes (see {@link Breakdowns}), or
   * undefined when `property` is not tracked, or the environment has no tracked breakdowns now (none of its events
   * yet, or dropped past PULSE_BREAKDOWN_MAX_ENVIRONMENTS): the caller computes those from the buffer. A view of one
   * environment answers `environment` from the all-environments view's row of that environment.
   */
  breakdown(now: number, property: string, minutes: number, limit: number, environment?: string | null): BreakdownRow[] | undefined {
    if (environment != null && property === "environment") {
      const rows = this.allBreakdowns.rows(property, now, minutes, Infinity) ?? [];
      return rows.filter((row) => row.value === environment).slice(0, limit);
    }
    const breakdowns = environment == null ? this.allBreakdowns : this.breakdownsByEnvironment.get(environment);
    if (breakdowns !== undefined) return breakdowns.rows(property, now, minutes, limit);
    // None dropped yet: an environment without breakdowns had no event within the ring.
    return this.breakdownsByEnvironment.evicted === 0 && isTracked(property) ? [] : undefined;
  }

  /** Drops environments whose windows emptied, so one-off environment names do not hold memory until evicted. */
  sweep(now: number): void {
    for (const [environment, windows] of this.byEnvironment.entries()) {
      windows.byEvent.total(now);
      windows.byPage.total(now);
      if (windows.byEvent.isEmpty && windows.byPage.isEmpty && windows.timeline.isEmptyAt(now)) this.byEnvironment.delete(environment);
    }
    for (const [environment, breakdowns] of this.breakdownsByEnvironment.entries()) {
      if (breakdowns.isEmptyAt(now)) this.breakdownsByEnvironment.delete(environment);
    }
  }

  stats(): DashboardStats {
    let maxEventNamesPerWindow = this.all.byEvent.size;
    let maxPathsPerWindow = this.all.byPage.size;
    const all = this.allBreakdowns.stats();
    let { maxValuesPerMinute, maxSessionsPerMinute } = all;
    for (const [, windows] of this.byEnvironment.entries()) {
      maxEventNamesPerWindow = Math.max(maxEventNamesPerWindow, windows.byEvent.size);
      maxPathsPerWindow = Math.max(maxPathsPerWindow, windows.byPage.size);
    }
    for (const [, breakdowns] of this.breakdownsByEnvironment.entries()) {
      const stats = breakdowns.stats();
      maxValuesPerMinute = Math.max(maxValuesPerMinute, stats.maxValuesPerMinute);
      maxSessionsPerMinute = Math.max(maxSessionsPerMinute, stats.maxSessionsPerMinute);
    }
    return {
      environments: this.byEnvironment.size,
      breakdownEnvironments: this.breakdownsByEnvironment.size,
      environmentsEvicted: this.byEnvironment.evicted,
      maxEventNamesPerWindow,
      maxPathsPerWindow,
      untrackedEvents: this.all.byEvent.untracked,
      untrackedPageviews: this.all.byPage.untracked,
      maxBreakdownValuesPerMinute: maxValuesPerMinute,
      maxEntrySessionsPerMinute: maxSessionsPerMinute,
      breakdownEvictions: all.evictions,
    };
  }

  private windows(environment?: string | null): Windows | undefined {
    return environment == null ? this.all : this.byEnvironment.get(environment);
  }
}

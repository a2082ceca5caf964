import { DEFAULT_VIEW_BOUNDS, type ViewBounds } from "./bounds.ts";
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
}

/**
 * The dashboard's sliding windows: event counts by name and `$pageview` counts by path over the last
 * `windowSeconds`, by receive time, for all environments together and for each one. Bounded by `bounds`
 * (PULSE_MAX_ENVIRONMENTS environments with their own windows, the least recently active dropped past it;
 * PULSE_MAX_TRACKED_NAMES names and paths per window), so a stream of new names costs a fixed amount at most.
 */
export class DashboardWindows {
  private readonly all: Windows;
  private readonly byEnvironment: RecentlyActive<Windows>;

  constructor(
    private readonly windowSeconds: number,
    bounds: Pick<ViewBounds, "maxEnvironments" | "maxTrackedNames"> = DEFAULT_VIEW_BOUNDS,
  ) {
    const { maxEnvironments, maxTrackedNames } = bounds;
    this.all = new Windows(windowSeconds, maxTrackedNames);
    this.byEnvironment = new RecentlyActive(maxEnvironments, () => new Windows(this.windowSeconds, maxTrackedNames));
  }

  record(event: StoredEvent): void {
    const env = this.byEnvironment.active(event.environment);
    const path = event.event === "$pageview" ? pagePath(event) : null;
    for (const windows of [this.all, env]) {
      windows.byEvent.record(event.event, event.receivedAt);
      if (path !== null) windows.byPage.record(path, event.receivedAt);
      windows.timeline.record(event.distinctId, event.receivedAt);
    }
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

  /** Drops environments whose windows emptied, so one-off environment names do not hold memory until evicted. */
  sweep(now: number): void {
    for (const [environment, windows] of this.byEnvironment.entries()) {
      windows.byEvent.total(now);
      windows.byPage.total(now);
      if (windows.byEvent.isEmpty && windows.byPage.isEmpty && windows.timeline.isEmptyAt(now)) this.byEnvironment.delete(environment);
    }
  }

  stats(): DashboardStats {
    let maxEventNamesPerWindow = this.all.byEvent.size;
    let maxPathsPerWindow = this.all.byPage.size;
    for (const [, windows] of this.byEnvironment.entries()) {
      maxEventNamesPerWindow = Math.max(maxEventNamesPerWindow, windows.byEvent.size);
      maxPathsPerWindow = Math.max(maxPathsPerWindow, windows.byPage.size);
    }
    return {
      environments: this.byEnvironment.size,
      environmentsEvicted: this.byEnvironment.evicted,
      maxEventNamesPerWindow,
      maxPathsPerWindow,
      untrackedEvents: this.all.byEvent.untracked,
      untrackedPageviews: this.all.byPage.untracked,
    };
  }

  private windows(environment?: string | null): Windows | undefined {
    return environment == null ? this.all : this.byEnvironment.get(environment);
  }
}

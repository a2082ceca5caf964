import { pagePath, type StoredEvent } from "./event.ts";
import { SlidingCounts } from "./sliding-counts.ts";
import { Timeline, type TimelinePoint } from "./timeline.ts";

class Windows {
  readonly byEvent: SlidingCounts;
  readonly byPage: SlidingCounts;
  readonly timeline = new Timeline();
  constructor(seconds: number) {
    this.byEvent = new SlidingCounts(seconds);
    this.byPage = new SlidingCounts(seconds);
  }
}

/**
 * The dashboard's sliding windows: event counts by name and `$pageview` counts by path over the last
 * `windowSeconds`, by receive time, for all environments together and for each one.
 */
export class DashboardWindows {
  private readonly all: Windows;
  private readonly byEnvironment = new Map<string, Windows>();

  constructor(private readonly windowSeconds: number) {
    this.all = new Windows(windowSeconds);
  }

  record(event: StoredEvent): void {
    let env = this.byEnvironment.get(event.environment);
    if (!env) this.byEnvironment.set(event.environment, (env = new Windows(this.windowSeconds)));
    const path = event.event === "$pageview" ? pagePath(event) : null;
    for (const windows of [this.all, env]) {
      windows.byEvent.record(event.event, event.receivedAt);
      if (path !== null) windows.byPage.record(path, event.receivedAt);
      windows.timeline.record(event.distinctId, event.receivedAt);
    }
  }

  eventCounts(now: number, environment?: string | null): { event: string; count: number }[] {
    return (this.windows(environment)?.byEvent.ranked(now) ?? []).map(({ key, count }) => ({ event: key, count }));
  }

  topPages(now: number, limit: number, environment?: string | null): { path: string; count: number }[] {
    return (this.windows(environment)?.byPage.ranked(now, limit) ?? []).map(({ key, count }) => ({ path: key, count }));
  }

  /** Per-minute events and distinct users, oldest first; `minutes` from 1 to 60 else BAD_USER_INPUT. */
  timeline(now: number, minutes: number, environment?: string | null): TimelinePoint[] {
    const windows = this.windows(environment);
    return (windows?.timeline ?? new Timeline()).points(now, minutes);
  }

  /** Drops environments whose windows emptied, so one-off environment names do not grow memory. */
  sweep(now: number): void {
    for (const [environment, windows] of this.byEnvironment) {
      windows.byEvent.total(now);
      windows.byPage.total(now);
      if (windows.byEvent.isEmpty && windows.byPage.isEmpty && windows.timeline.isEmptyAt(now)) this.byEnvironment.delete(environment);
    }
  }

  private windows(environment?: string | null): Windows | undefined {
    return environment == null ? this.all : this.byEnvironment.get(environment);
  }
}

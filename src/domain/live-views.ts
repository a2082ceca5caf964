import type { Clock } from "./clock.ts";
import { DEFAULT_VIEW_BOUNDS, type ViewBounds } from "./bounds.ts";
import type { BreakdownRow } from "./breakdown.ts";
import { DashboardWindows, type DashboardStats } from "./dashboard.ts";
import { badInput } from "./errors.ts";
import { currentUrl, type StoredEvent } from "./event.ts";
import type { StreamObserver } from "./event-stream.ts";
import { LiveUsers, type LiveUser, type LiveUsersStats } from "./live-users.ts";
import { Persons, type Person, type PersonsStats } from "./persons.ts";
import { SlidingCounts } from "./sliding-counts.ts";
import { TickGroups } from "./tick-groups.ts";
import { Ticker, type Ticks } from "./ticker.ts";
import type { TimelinePoint } from "./timeline.ts";

export interface LiveViewsOptions {
  /** A user is live while their latest event is younger than this (PULSE_LIVE_WINDOW_SECONDS). */
  readonly liveWindowSeconds: number;
  /** The dashboard's sliding window (PULSE_DASHBOARD_WINDOW_SECONDS). */
  readonly dashboardWindowSeconds: number;
  /** Persons kept; the least recently seen are dropped past it (PULSE_PERSONS_MAX); also users per live-user view. */
  readonly personsCapacity: number;
  /** Bounds on per-key structures: environments, names, person properties (DEFAULT_VIEW_BOUNDS). */
  readonly viewBounds?: Partial<ViewBounds> | undefined;
  readonly clock: Clock;
}

/** What the live views hold against their bounds (ViewBounds), for metrics and tests. */
export interface ViewStats {
  readonly dashboard: DashboardStats;
  readonly liveUsers: LiveUsersStats;
  readonly persons: PersonsStats;
}

const RATE_WINDOW_SECONDS = 10;

/**
 * What Pulse shows about the stream right now: live users, the dashboard windows and timeline, persons, the event
 * rate, and the `liveDashboard` subscriptions that push them. Built by watching the event stream (it is a
 * `StreamObserver`): every applied or restored event is indexed here, by receive time.
 */
export class LiveViews implements StreamObserver {
  private readonly clock: Clock;
  private readonly liveWindowMs: number;
  private readonly liveUsers: LiveUsers;
  private readonly dashboard: DashboardWindows;
  private readonly persons: Persons;
  private readonly rate = new SlidingCounts(RATE_WINDOW_SECONDS);
  private readonly tickers = new Set<{ end(): void }>();
  private readonly tickGroups = new TickGroups();
  private tickersTotal = 0;
  private lastSweep = 0;
  private closed = false;

  constructor(options: LiveViewsOptions) {
    this.clock = options.clock;
    this.liveWindowMs = options.liveWindowSeconds * 1000;
    const bounds: ViewBounds = { ...DEFAULT_VIEW_BOUNDS, ...options.viewBounds };
    this.liveUsers = new LiveUsers(this.liveWindowMs, { maxEnvironments: bounds.maxEnvironments, maxUsers: options.personsCapacity });
    this.dashboard = new DashboardWindows(options.dashboardWindowSeconds, bounds);
    this.persons = new Persons(options.personsCapacity, bounds);
  }

  appended(event: StoredEvent): void {
    this.index(event);
    this.sweep(event.receivedAt);
  }

  restored(event: StoredEvent): void {
    this.index(event);
  }

  /** Puts back persons from a snapshot (least recently seen first), before its events are restored over them. */
  restorePersons(persons: readonly Person[]): void {
    for (const person of persons) this.persons.restore(person);
  }

  private index(event: StoredEvent): void {
    this.liveUsers.touch(event.environment, {
      distinctId: event.distinctId,
      at: event.receivedAt,
      sessionId: event.sessionId,
      currentUrl: currentUrl(event),
    });
    this.dashboard.record(event);
    this.persons.touch(event.distinctId, event.receivedAt, event.properties);
    this.rate.record("*", event.receivedAt);
  }

  /** Drops users and buckets past their windows, at most once per live window. */
  private sweep(now: number): void {
    if (now - this.lastSweep < this.liveWindowMs) return;
    this.lastSweep = now;
    this.liveUsers.sweep(now);
    this.dashboard.sweep(now);
  }

  liveUserCount(environment: string | null = null): number {
    return this.liveUsers.count(this.clock.now(), environment);
  }

  liveUserList(limit: number, environment: string | null = null): LiveUser[] {
    if (!Number.isInteger(limit) || limit < 0) throw badInput(`limit must be zero or more, got ${limit}`, { field: "limit" });
    return this.liveUsers.list(this.clock.now(), limit, environment);
  }

  /** The first `limit` counts by event name, most first; a negative limit is BAD_USER_INPUT. */
  eventCounts(limit: number, environment: string | null = null): { event: string; count: number }[] {
    if (!Number.isInteger(limit) || limit < 0) throw badInput(`limit must be zero or more, got ${limit}`, { field: "limit" });
    return this.dashboard.eventCounts(this.clock.now(), environment, limit);
  }

  topPages(limit: number, environment: string | null = null): { path: string; count: number }[] {
    if (!Number.isInteger(limit) || limit < 0) throw badInput(`limit must be zero or more, got ${limit}`, { field: "limit" });
    return this.dashboard.topPages(this.clock.now(), limit, environment);
  }

  /** Per-minute events and distinct users over the last `minutes` (1..60, else BAD_USER_INPUT), oldest first. */
  timeline(minutes: number, environment: string | null = null): TimelinePoint[] {
    return this.dashboard.timeline(this.clock.now(), minutes, environment);
  }

  /**
   * The first `limit` rows of a breakdown tracked at capture (TRACKED_PROPERTIES, `$entry_pathname`) over the last
   * `minutes` whole minutes, or undefined when `property` is not tracked. `limit` and `minutes` are checked by the
   * caller (src/domain/live-dashboard.ts).
   */
  breakdown(property: string, limit: number, minutes: number, environment: string | null = null): BreakdownRow[] | undefined {
    return this.dashboard.breakdown(this.clock.now(), property, minutes, limit, environment);
  }

  person(distinctId: string): Person | undefined {
    return this.persons.get(distinctId);
  }

  /** Every person held, least recently seen first (for a full snapshot). */
  allPersons(): Person[] {
    return this.persons.all();
  }

  stats(): ViewStats {
    return { dashboard: this.dashboard.stats(), liveUsers: this.liveUsers.stats(), persons: this.persons.stats() };
  }

  /** Events per second over the last ten seconds, by receive time. */
  eventsPerSecond(): number {
    return this.rate.total(this.clock.now()) / RATE_WINDOW_SECONDS;
  }

  /**
   * A `liveDashboard` subscription: `produce()` now, then every `intervalMs` (raised to at least 250). With
   * `shareKey`, subscriptions with the same key and interval tick together: one `produce()` per tick for all of
   * them (see TickGroups), for what is costly to produce and the same for each (a filtered dashboard).
   */
  tick<T>(intervalMs: number, produce: () => T, shareKey?: string): Ticks<T> {
    const interval = Math.max(250, intervalMs);
    const onClose = () => void this.tickers.delete(ticker);
    const ticker: Ticks<T> =
      shareKey === undefined
        ? new Ticker(interval, produce, onClose)
        : this.tickGroups.join(JSON.stringify([interval, shareKey]), interval, produce, onClose);
    if (this.closed) {
      ticker.end();
      return ticker;
    }
    this.tickers.add(ticker);
    this.tickersTotal++;
    return ticker;
  }

  /** Groups of `liveDashboard` subscriptions ticking together now (see `tick`). */
  get tickGroupCount(): number {
    return this.tickGroups.size;
  }

  get tickerCount(): number {
    return this.tickers.size;
  }

  get tickersStarted(): number {
    return this.tickersTotal;
  }

  /** Ends every `liveDashboard` subscription; later ones end at once. */
  close(): void {
    this.closed = true;
    for (const ticker of [...this.tickers]) ticker.end();
  }
}

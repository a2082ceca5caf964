import { systemClock, type Clock } from "./clock.ts";
import type { StoredEvent } from "./event.ts";
import { EventStream } from "./event-stream.ts";
import { LiveDashboards } from "./live-dashboard.ts";
import { LiveViews } from "./live-views.ts";
import type { ViewBounds } from "./bounds.ts";
import type { FilterLimits } from "./filter.ts";
import type { Person } from "./persons.ts";
import { Replication } from "./replication.ts";

/** The hub's bounds: each is a setting (defaults and limits in the settings table, src/config.ts). */
export interface HubOptions {
  /** Events kept in the ring buffer (PULSE_BUFFER_SIZE). */
  readonly bufferSize: number;
  /** A user is live while their latest event is younger than this (PULSE_LIVE_WINDOW_SECONDS). */
  readonly liveWindowSeconds: number;
  /** The dashboard's sliding window (PULSE_DASHBOARD_WINDOW_SECONDS). */
  readonly dashboardWindowSeconds: number;
  /** Live events held per subscriber before it is ended with LAGGED (PULSE_SUBSCRIBER_QUEUE). */
  readonly subscriberQueue: number;
  /**
   * Persons kept; the least recently seen are dropped past it (PULSE_PERSONS_MAX, default 100000). Also the most
   * users one live-user view (all environments, or one) holds.
   */
  readonly personsCapacity: number;
  /** Bounds on the live views' per-key structures: environments, names, person properties (DEFAULT_VIEW_BOUNDS). */
  readonly viewBounds?: Partial<ViewBounds>;
  /** Size bounds on each filter of a query or subscription (PULSE_MAX_FILTER_*; DEFAULT_FILTER_LIMITS). */
  readonly filterLimits?: FilterLimits;
  readonly clock?: Clock;
}

export interface HubMetrics {
  readonly totalSubscriptions: number;
  readonly activeSubscriptions: number;
  readonly eventsPerSecond: number;
  readonly eventsTotal: number;
}

/**
 * Pulse's in-memory state, as three owners: the event `stream` (positions, buffer, subscribers), the `views` that
 * watch it (live users, dashboard windows, persons, `liveDashboard` ticks), and `replication` (where validated
 * events are stored: this stream, or a fleet's shared log in front of it). `dashboards` reads the first two to
 * make `liveDashboard` views, with or without a filter. Each part is used by its own callers;
 * the hub only builds them in the right order and restores and closes them together. Events enter through the
 * application's ingest (src/app/ingest.ts), which validates them and calls `replication.store`.
 */
export class Hub {
  readonly clock: Clock;
  readonly stream: EventStream;
  readonly views: LiveViews;
  readonly replication: Replication;
  readonly dashboards: LiveDashboards;
  /** Persons kept (PULSE_PERSONS_MAX): how many a snapshot loads back. */
  readonly personsCapacity: number;

  constructor(options: HubOptions) {
    this.clock = options.clock ?? systemClock;
    this.personsCapacity = options.personsCapacity;
    this.stream = new EventStream({
      bufferSize: options.bufferSize,
      subscriberQueue: options.subscriberQueue,
      filterLimits: options.filterLimits,
    });
    this.views = new LiveViews({ ...options, clock: this.clock });
    // The views index an event before anyone else sees it, so a snapshot or a subscriber never gets ahead of them.
    this.stream.observe(this.views);
    this.replication = new Replication(this.stream);
    this.dashboards = new LiveDashboards(this.stream, this.views, { ...options, clock: this.clock });
  }

  /**
   * Brings back a snapshot: `persons` (least recently seen first) are put back before the events are replayed over
   * them, so a person whose early events left the buffer keeps their first-seen time and properties; replaying
   * `$set`/`$set_once` of the buffered events over that state changes nothing, since the snapshot holds their effect.
   * See `EventStream.restore` for `evictedThroughSeq` and `lostPositions`.
   */
  restore(
    events: readonly StoredEvent[],
    evictedThroughSeq = 0,
    persons: readonly Person[] = [],
    options: { readonly lostPositions?: number } = {},
  ): void {
    this.views.restorePersons(persons);
    this.stream.restore(events, evictedThroughSeq, options);
  }

  /** The counts `realtimeMetrics` and /metrics show. */
  metrics(): HubMetrics {
    return {
      totalSubscriptions: this.stream.subscriptionsStarted + this.views.tickersStarted,
      activeSubscriptions: this.stream.subscriberCount + this.views.tickerCount,
      eventsPerSecond: this.views.eventsPerSecond(),
      eventsTotal: this.stream.appliedCount,
    };
  }

  /** Ends every subscription normally; later subscriptions end at once. */
  close(): void {
    this.stream.close();
    this.views.close();
  }
}

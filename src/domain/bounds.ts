import { DEFAULT_BREAKDOWN_MAX_VALUES } from "./breakdown.ts";

/**
 * Bounds on the live views' structures keyed by user input (environment names, event names, paths, person
 * properties). A stream of new keys must cost at most these, whatever rate it comes at. Each is a setting (see
 * docs/security.md, "Limits"); the defaults are here so the domain, the settings table and the tests agree.
 */
export interface ViewBounds {
  /**
   * PULSE_MAX_ENVIRONMENTS, default 1000: environments with their own dashboard windows, timeline and live users.
   * Past it the least recently active environment's views are dropped (see {@link RecentlyActive} for why eviction
   * rather than refusal); the all-environments views are unaffected.
   */
  readonly maxEnvironments: number;
  /**
   * PULSE_MAX_TRACKED_NAMES, default 10000: distinct event names, and distinct page paths, one dashboard window
   * counts at once. Past it, events with a name (or a page view with a path) the window does not count already are
   * left out of it until names expire from the window, and counted as untracked.
   */
  readonly maxTrackedNames: number;
  /**
   * PULSE_MAX_PERSON_PROPERTIES, default 1000: properties one person keeps. Past it, `$set`/`$set_once` of a new
   * key is dropped (and counted); keys the person has already still update.
   */
  readonly maxPersonProperties: number;
  /**
   * PULSE_MAX_PERSON_BYTES, default 65536 (64 KiB): one person's properties as JSON, in UTF-8 bytes. A write that
   * would take them past it (a new key, or a value that grows) is dropped and counted; one that shrinks them applies.
   */
  readonly maxPersonBytes: number;
  /**
   * PULSE_BREAKDOWN_MAX_VALUES, default 200: values one minute of one tracked breakdown (`LiveDashboard.breakdown`
   * of `$pathname`, `$browser`, ...) counts, for all environments and for each. Past it the least counted value's
   * counter is taken over (Space-Saving, see {@link Breakdowns}) and that window's rows are marked approximate.
   */
  readonly maxBreakdownValues: number;
  /**
   * PULSE_BREAKDOWN_MAX_ENVIRONMENTS, default 10: environments with tracked breakdowns of their own (besides the
   * all-environments view's). Past it the least recently active environment's are dropped; an environment without
   * them answers `breakdown` from the buffer. Bounds the breakdowns' memory to (1 + this) views whatever the
   * number of environments (see {@link DashboardWindows}).
   */
  readonly maxBreakdownEnvironments: number;
}

export const DEFAULT_VIEW_BOUNDS: ViewBounds = Object.freeze({
  maxEnvironments: 1000,
  maxTrackedNames: 10_000,
  maxPersonProperties: 1000,
  maxPersonBytes: 64 * 1024,
  maxBreakdownValues: DEFAULT_BREAKDOWN_MAX_VALUES,
  maxBreakdownEnvironments: 10,
});

import { ConfigError, resolveConfig } from "../../src/config.ts";
import type { EventLimits } from "../../src/domain/event-limits.ts";
import { eventLimitsOf } from "../../src/trust.ts";

/** The settings table as tests read it: the default event limits, and the problems a bad configuration reports. */

/** The event limits a server gets by default, from the settings table: for tests that build a Hub or validate alone. */
export const EVENT_LIMITS: EventLimits = eventLimitsOf(resolveConfig().trust);

/** The problems of the ConfigError `run` throws; fails if it throws anything else or nothing. */
export function problems(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

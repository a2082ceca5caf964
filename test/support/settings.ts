import { resolveConfig } from "../../src/config.ts";
import type { EventLimits } from "../../src/domain/event-limits.ts";
import { eventLimitsOf } from "../../src/trust.ts";

/** The event limits a server gets by default, from the settings table: for tests that build a Hub or validate alone. */
export const EVENT_LIMITS: EventLimits = eventLimitsOf(resolveConfig().trust);

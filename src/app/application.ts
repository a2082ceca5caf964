import type { Principal } from "../auth/keys.ts";
import type { EventLimits } from "../domain/event-limits.ts";
import type { Hub } from "../domain/hub.ts";
import type { Enrichment } from "../enrich/enrichment.ts";
import type { CaptureRateLimiter } from "../limits/capture-rate.ts";
import { Ingest } from "./ingest.ts";
import { createReadsFor, type Reads } from "./reads.ts";

/**
 * What the transports call, between them and the domain: the one ingest path and the reads of a principal.
 * GraphQL resolvers, the PostHog endpoints and anything added later go through this and never reach the hub.
 */
export interface Application {
  readonly ingest: Ingest;
  /** What captures are enriched with, and its state (the User-Agent cache, whether GeoIP is loaded). */
  readonly enrichment: Enrichment | undefined;
  /** The reads `principal` may do (see Reads). */
  readsFor(principal: Principal): Reads;
}

export interface ApplicationOptions {
  readonly hub: Hub;
  readonly limits: EventLimits;
  /** PULSE_MAX_BATCH. */
  readonly maxBatch: number;
  readonly rateLimiter: CaptureRateLimiter;
  /** Default: none (events stored as sent). */
  readonly enrichment?: Enrichment;
}

export function createApplication({ hub, limits, maxBatch, rateLimiter, enrichment }: ApplicationOptions): Application {
  return {
    ingest: new Ingest({ replication: hub.replication, clock: hub.clock, limits, maxBatch, rateLimiter, enrichment }),
    enrichment,
    readsFor: createReadsFor(hub),
  };
}

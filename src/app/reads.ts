import type { Principal } from "../auth/keys.ts";
import { PulseError } from "../domain/errors.ts";
import type { StoredEvent } from "../domain/event.ts";
import type { SubscribeOptions } from "../domain/event-stream.ts";
import type { EventFilter } from "../domain/filter.ts";
import type { Hub, HubMetrics } from "../domain/hub.ts";
import type { DashboardView } from "../domain/live-dashboard.ts";
import type { LiveUser } from "../domain/live-users.ts";
import type { Person } from "../domain/persons.ts";
import type { EventSubscriber } from "../domain/subscriber.ts";
import type { Ticks } from "../domain/ticker.ts";
import { forbiddenEnvironment } from "./scope.ts";

/**
 * Everything a caller can read, for one principal. Every method that reads events or users takes the environment
 * explicitly: null (or undefined) means "the principal's environment" (all of them for an unscoped key), and
 * another environment than a scoped key's is FORBIDDEN. A capture-only key gets a `Reads` whose every method is
 * FORBIDDEN. Resolvers see nothing but this (and the ingest path), so what a key can read is decided here, in one
 * place the compiler checks: a read added later must be added to this interface and to both implementations.
 */
export interface Reads {
  /** The server's time, epoch ms (what a live view is computed at). */
  now(): number;
  /** Newest first; a limit above the buffer returns the whole buffer; negative is BAD_USER_INPUT. */
  recentEvents(limit: number, filter: EventFilter | null | undefined): StoredEvent[];
  /** Starts an `events` subscription; in a fleet, a cursor issued elsewhere is waited for briefly. */
  subscribe(options: SubscribeOptions): EventSubscriber | Promise<EventSubscriber>;
  liveUserCount(environment: string | null | undefined): number;
  liveUsers(limit: number, environment: string | null | undefined): LiveUser[];
  /**
   * The `liveDashboard` now, of the events matching `filter` (a filter's environment is scoped like `environment`);
   * a bad filter is BAD_USER_INPUT.
   */
  liveDashboard(environment: string | null | undefined, filter: EventFilter | null | undefined): DashboardView;
  /** A `liveDashboard` subscription: the dashboard now, then every `intervalMs` (at least 250). */
  liveDashboardTicks(
    environment: string | null | undefined,
    filter: EventFilter | null | undefined,
    intervalMs: number,
  ): Ticks<DashboardView>;
  /** Persons are kept per distinctId across environments (see scope.ts). */
  person(distinctId: string): Person | undefined;
  /** Server-wide counts (see scope.ts) and buffer figures. */
  metrics(): HubMetrics & { readonly bufferedEvents: number; readonly bufferCapacity: number };
}

/** The reads of a key that may read: scoped to its environment, or everything for an unscoped key. */
class ScopedReads implements Reads {
  constructor(
    private readonly hub: Hub,
    private readonly principal: Principal,
  ) {}

  /** The environment to read: the key's when none is named; FORBIDDEN when another one is. */
  private environment(requested: string | null | undefined, field = "environment"): string | null {
    const refusal = forbiddenEnvironment(this.principal, requested, field);
    if (refusal) throw refusal;
    return this.principal.environment ?? requested ?? null;
  }

  private filter(filter: EventFilter | null | undefined): EventFilter | null | undefined {
    if (this.principal.environment === null) return filter;
    // The filter's own shape is validated by compileFilter; only the environment matters here.
    const given: EventFilter = filter && typeof filter === "object" ? filter : {};
    return { ...given, environment: this.environment(given.environment, "filter.environment") };
  }

  now(): number {
    return this.hub.clock.now();
  }

  recentEvents(limit: number, filter: EventFilter | null | undefined): StoredEvent[] {
    return this.hub.stream.recent(limit, this.filter(filter));
  }

  subscribe(options: SubscribeOptions): EventSubscriber | Promise<EventSubscriber> {
    const scoped = { ...options, filter: this.filter(options.filter) };
    // Cursors are global across a fleet: one from an instance that is ahead is waited for, not rejected.
    if (options.after != null && this.hub.replication.shared) {
      return this.hub.replication.awaitCursor(options.after).then(() => this.hub.stream.subscribe(scoped));
    }
    return this.hub.stream.subscribe(scoped);
  }

  liveUserCount(environment: string | null | undefined): number {
    return this.hub.views.liveUserCount(this.environment(environment));
  }

  liveUsers(limit: number, environment: string | null | undefined): LiveUser[] {
    return this.hub.views.liveUserList(limit, this.environment(environment));
  }

  liveDashboard(environment: string | null | undefined, filter: EventFilter | null | undefined): DashboardView {
    return this.hub.dashboards.view(this.environment(environment), this.filter(filter));
  }

  liveDashboardTicks(
    environment: string | null | undefined,
    filter: EventFilter | null | undefined,
    intervalMs: number,
  ): Ticks<DashboardView> {
    return this.hub.dashboards.ticks(this.environment(environment), this.filter(filter), intervalMs);
  }

  person(distinctId: string): Person | undefined {
    return this.hub.views.person(distinctId);
  }

  metrics(): HubMetrics & { readonly bufferedEvents: number; readonly bufferCapacity: number } {
    return { ...this.hub.metrics(), bufferedEvents: this.hub.stream.size, bufferCapacity: this.hub.stream.capacity };
  }
}

const captureOnly = (): never => {
  throw new PulseError("FORBIDDEN", "This key may only capture events; reading needs a read key (PULSE_READ_KEYS)");
};

/** A capture-only key's reads: every one FORBIDDEN (a capture's own result carries only what it sent). */
const CAPTURE_ONLY: Reads = {
  now: captureOnly,
  recentEvents: captureOnly,
  subscribe: captureOnly,
  liveUserCount: captureOnly,
  liveUsers: captureOnly,
  liveDashboard: captureOnly,
  liveDashboardTicks: captureOnly,
  person: captureOnly,
  metrics: captureOnly,
};

/**
 * The reads of each principal. Principals are few (one per configured key, or the open principal), so each gets
 * one `Reads` for the server's life: idle subscriptions share it rather than holding one each.
 */
export function createReadsFor(hub: Hub): (principal: Principal) => Reads {
  const byPrincipal = new WeakMap<Principal, Reads>();
  return (principal) => {
    if (principal.role === "capture") return CAPTURE_ONLY;
    let reads = byPrincipal.get(principal);
    if (!reads) byPrincipal.set(principal, (reads = new ScopedReads(hub, principal)));
    return reads;
  };
}

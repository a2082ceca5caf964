import { DEFAULT_VIEW_BOUNDS } from "./bounds.ts";
import { RecentlyActive } from "./recently-active.ts";

/** One user's latest activity, as `LiveUser` shows it. */
export interface LiveUser {
  readonly distinctId: string;
  readonly sessionId: string | null;
  readonly currentUrl: string | null;
  /** Server receive time of their latest event (epoch ms). */
  readonly lastSeen: number;
}

export interface Activity {
  distinctId: string;
  at: number;
  sessionId: string | null;
  currentUrl: string | null;
}

/**
 * Users ordered by recency, in two Maps (insertion order = recency): `live` holds users seen within the window,
 * `recent` those seen within twice the window, who are forgotten after that. Counting moves expired users from the
 * old end, so it costs the number of users that expired since the last call, never the number ever seen.
 * At most `maxUsers` users are held: past it the least recently seen is forgotten early.
 */
class RecencyIndex {
  private readonly live = new Map<string, LiveUser>();
  private readonly recent = new Map<string, LiveUser>();

  constructor(
    private readonly windowMs: number,
    private readonly maxUsers: number,
  ) {}

  touch(activity: Activity): void {
    // Forget first: a user past twice the window must not lend an old session or URL to their next event, whether
    // or not anyone counted in between; it also keeps an index nobody queries (e.g. all environments) bounded.
    this.expire(activity.at);
    const previous = this.live.get(activity.distinctId) ?? this.recent.get(activity.distinctId);
    this.live.delete(activity.distinctId);
    this.recent.delete(activity.distinctId);
    this.live.set(activity.distinctId, {
      distinctId: activity.distinctId,
      // An event without a session or URL leaves the previous value.
      sessionId: activity.sessionId ?? previous?.sessionId ?? null,
      currentUrl: activity.currentUrl ?? previous?.currentUrl ?? null,
      lastSeen: Math.max(activity.at, previous?.lastSeen ?? -Infinity),
    });
    if (this.live.size + this.recent.size > this.maxUsers) {
      const from = this.recent.size > 0 ? this.recent : this.live;
      from.delete(from.keys().next().value as string);
    }
  }

  expire(now: number): void {
    for (const [id, user] of this.live) {
      if (now - user.lastSeen < this.windowMs) break;
      this.live.delete(id);
      this.recent.set(id, user);
    }
    for (const [id, user] of this.recent) {
      if (now - user.lastSeen < 2 * this.windowMs) break;
      this.recent.delete(id);
    }
  }

  count(now: number): number {
    this.expire(now);
    return this.live.size;
  }

  /** Live users, most recently seen first. */
  list(now: number, limit: number): LiveUser[] {
    this.expire(now);
    const users = [...this.live.values()];
    const out: LiveUser[] = [];
    for (let i = users.length - 1; i >= 0 && out.length < limit; i--) out.push(users[i]!);
    return out;
  }

  get isEmpty(): boolean {
    return this.live.size === 0 && this.recent.size === 0;
  }

  /** Users held, live or recently live. */
  get size(): number {
    return this.live.size + this.recent.size;
  }
}

/** What the live-user views hold now; for metrics and tests. */
export interface LiveUsersStats {
  /** Environments with their own live users now: at most PULSE_MAX_ENVIRONMENTS. */
  readonly environments: number;
  /** Environments whose live users were dropped to stay within PULSE_MAX_ENVIRONMENTS, since start. */
  readonly environmentsEvicted: number;
  /** The most users any one view (all environments, or one) holds now: at most PULSE_PERSONS_MAX. */
  readonly maxUsersPerView: number;
}

export interface LiveUsersBounds {
  /**
   * PULSE_MAX_ENVIRONMENTS (default 1000): environments with their own view; past it the least recently active
   * environment's is dropped.
   */
  readonly maxEnvironments: number;
  /**
   * Users each view holds (PULSE_PERSONS_MAX in the server; unbounded by default here): past it the least recently
   * seen is forgotten, so `count` never exceeds it.
   */
  readonly maxUsers: number;
}

/**
 * Who is on the product right now: a user is live while their latest event (by receive time) is less than
 * `windowMs` old. Kept for all environments together and for each of the `maxEnvironments` most recently active
 * environments (an evicted environment's live users restart from its next event; see RecentlyActive for why).
 */
export class LiveUsers {
  private readonly all: RecencyIndex;
  private readonly byEnvironment: RecentlyActive<RecencyIndex>;

  constructor(windowMs: number, bounds: Partial<LiveUsersBounds> = {}) {
    const maxUsers = bounds.maxUsers ?? Infinity;
    this.all = new RecencyIndex(windowMs, maxUsers);
    this.byEnvironment = new RecentlyActive(
      bounds.maxEnvironments ?? DEFAULT_VIEW_BOUNDS.maxEnvironments,
      () => new RecencyIndex(windowMs, maxUsers),
    );
  }

  touch(environment: string, activity: Activity): void {
    this.all.touch(activity);
    this.byEnvironment.active(environment).touch(activity);
  }

  count(now: number, environment?: string | null): number {
    return this.index(environment)?.count(now) ?? 0;
  }

  list(now: number, limit: number, environment?: string | null): LiveUser[] {
    return this.index(environment)?.list(now, limit) ?? [];
  }

  /** Drops environments with no user left, so a stream of one-off environment names does not grow memory. */
  sweep(now: number): void {
    for (const [environment, index] of this.byEnvironment.entries()) {
      index.expire(now);
      if (index.isEmpty) this.byEnvironment.delete(environment);
    }
  }

  stats(): LiveUsersStats {
    let maxUsersPerView = this.all.size;
    for (const [, index] of this.byEnvironment.entries()) maxUsersPerView = Math.max(maxUsersPerView, index.size);
    return { environments: this.byEnvironment.size, environmentsEvicted: this.byEnvironment.evicted, maxUsersPerView };
  }

  private index(environment?: string | null): RecencyIndex | undefined {
    return environment == null ? this.all : this.byEnvironment.get(environment);
  }
}

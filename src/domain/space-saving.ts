import { UserSketch } from "./user-sketch.ts";

/** One value a {@link SpaceSaving} counts: its events (an overestimate once it replaced another) and its users. */
export interface CountedValue {
  readonly value: string;
  events: number;
  readonly users: UserSketch;
}

/**
 * The most frequent values of a stream in at most `capacity` counters (Metwally, Agrawal and El Abbadi's
 * Space-Saving). While no more than `capacity` distinct values were seen, every count is exact. Past it, a new
 * value takes over the counter with the fewest events and starts from that count plus one: counts then overestimate
 * by at most the smallest count, which is at most `total / capacity`, and every value seen more often than that is
 * held. `evictions` says whether that happened.
 *
 * The smallest counter is found in amortized O(1): counts only grow, so the counters that held the minimum at the
 * last scan stay the minimum until each has grown or been taken over, and a new scan happens at most once per
 * `capacity` evictions under a flood of one-off values.
 */
export class SpaceSaving {
  private readonly counters = new Map<string, CountedValue>();
  /** Counters that had `minimum` events at the last scan; some may have grown since (skipped when taken). */
  private lowest: CountedValue[] = [];
  private minimum = 0;
  private evicted = 0;
  /** The last value added and its counter: consecutive events often share a value (a browser, a country). */
  private lastValue: string | undefined;
  private lastCounted: CountedValue | undefined;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
  }

  /** Counts one event of `value` by the user whose hash is `user`. */
  add(value: string, user: number): void {
    let counted = value === this.lastValue ? this.lastCounted! : this.counters.get(value);
    if (counted === undefined) {
      let events = 0;
      if (this.counters.size >= this.capacity) {
        const smallest = this.takeSmallest();
        this.counters.delete(smallest.value);
        events = smallest.events;
        this.evicted++;
      }
      counted = { value, events, users: new UserSketch() };
      this.counters.set(value, counted);
    }
    this.lastValue = value;
    this.lastCounted = counted;
    counted.events++;
    counted.users.add(user);
  }

  get(value: string): CountedValue | undefined {
    return this.counters.get(value);
  }

  values(): IterableIterator<CountedValue> {
    return this.counters.values();
  }

  /** Values held now: at most `capacity`. */
  get size(): number {
    return this.counters.size;
  }

  /** Values that took over another's counter: 0 means every count is exact. */
  get evictions(): number {
    return this.evicted;
  }

  private takeSmallest(): CountedValue {
    for (;;) {
      const candidate = this.lowest.pop();
      if (candidate === undefined) {
        this.scan();
        continue;
      }
      if (candidate.events === this.minimum) return candidate;
    }
  }

  private scan(): void {
    let minimum = Infinity;
    for (const counted of this.counters.values()) if (counted.events < minimum) minimum = counted.events;
    this.minimum = minimum;
    this.lowest = [];
    for (const counted of this.counters.values()) if (counted.events === minimum) this.lowest.push(counted);
  }
}

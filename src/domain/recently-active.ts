/**
 * One value per environment for at most `capacity` environments (PULSE_MAX_ENVIRONMENTS), kept in order of last
 * activity (a Map's insertion order). Activity is an event recorded into the environment; reads are not activity.
 * Past the capacity, the least recently active environment's value is dropped: its per-environment view restarts
 * from zero if it comes back.
 *
 * Eviction rather than refusing captures into a new environment, because what is dropped is only a derived view:
 * the evicted environment's events are still stored, buffered, delivered to subscribers, filterable by environment
 * (`recentEvents`, `events`) and counted in the all-environments views, which stay exact. Refusal would instead
 * turn a flood of made-up environment names into lost events for every environment created after it, for as long
 * as the flood's names stay active; and on a fleet each instance would have to agree on which environment came
 * first, while eviction is a pure function of the stream every instance applies in the same order. The cost: a
 * flood of new names can push a quiet real environment's view out. A key scoped to one environment cannot name
 * another, so scoped capture keys cannot flood.
 */
export class RecentlyActive<V> {
  private readonly values = new Map<string, V>();
  /** The most recently active key: the common case (one busy environment) skips the Map's reordering. */
  private newest: string | undefined;
  private evictedCount = 0;

  constructor(
    readonly capacity: number,
    private readonly create: (key: string) => V,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    }
  }

  /** The value for `key`, created when absent, now the most recently active; may evict the least recently active. */
  active(key: string): V {
    let value = this.values.get(key);
    if (value !== undefined && key === this.newest) return value;
    if (value === undefined) value = this.create(key);
    else this.values.delete(key);
    this.values.set(key, value);
    this.newest = key;
    if (this.values.size > this.capacity) {
      const oldest = this.values.keys().next().value as string;
      this.values.delete(oldest);
      this.evictedCount++;
    }
    return value;
  }

  /** The value for `key` without counting as activity. */
  get(key: string): V | undefined {
    return this.values.get(key);
  }

  /** Forgets `key` (a view that emptied by itself): not counted as an eviction. */
  delete(key: string): void {
    this.values.delete(key);
    if (key === this.newest) this.newest = undefined;
  }

  entries(): IterableIterator<[string, V]> {
    return this.values.entries();
  }

  /** Environments held now, at most `capacity`. */
  get size(): number {
    return this.values.size;
  }

  /** Environments dropped to stay within `capacity`, since start. */
  get evicted(): number {
    return this.evictedCount;
  }
}

/**
 * Counts by key over a sliding window of whole seconds: `windowSeconds` one-second buckets plus running totals,
 * so reading the totals never sums buckets. Time only moves forward: a record older than the window is ignored.
 * At most `maxKeys` keys are counted at once (PULSE_MAX_TRACKED_NAMES for the dashboard): a record of a key not
 * counted already, past it, is left out and added to `untracked` instead. Keys leave as their counts leave the
 * window, so room comes back by itself; memory stays within `maxKeys` totals and `maxKeys × windowSeconds` bucket
 * entries whatever the stream of keys.
 */
export class SlidingCounts {
  /** A bucket is allocated when first written and released when it leaves the window: idle windows cost little. */
  private readonly buckets: (Map<string, number> | undefined)[];
  private readonly totals = new Map<string, number>();
  /** The newest second the buckets cover. */
  private head = -Infinity;
  private untrackedCount = 0;

  constructor(
    readonly windowSeconds: number,
    readonly maxKeys = Infinity,
  ) {
    this.buckets = new Array<Map<string, number> | undefined>(windowSeconds).fill(undefined);
  }

  /** Counts `amount` for `key`; false when it was left out (older than the window, or a new key past `maxKeys`). */
  record(key: string, atMs: number, amount = 1): boolean {
    const second = Math.floor(atMs / 1000);
    this.advance(second);
    if (second <= this.head - this.windowSeconds) return false;
    const total = this.totals.get(key);
    if (total === undefined && this.totals.size >= this.maxKeys) {
      this.untrackedCount += amount;
      return false;
    }
    const index = mod(second, this.windowSeconds);
    let bucket = this.buckets[index];
    if (bucket === undefined) this.buckets[index] = bucket = new Map();
    bucket.set(key, (bucket.get(key) ?? 0) + amount);
    this.totals.set(key, (total ?? 0) + amount);
    return true;
  }

  /**
   * Counts over the window ending at `nowMs`, most first, ties by key ascending; the first `limit` only, found
   * without sorting every key when `limit` is smaller than the number of keys.
   */
  ranked(nowMs: number, limit = Infinity): { key: string; count: number }[] {
    this.advance(Math.floor(nowMs / 1000));
    return topRanked(this.totals, limit).map(([key, count]) => ({ key, count }));
  }

  total(nowMs: number): number {
    this.advance(Math.floor(nowMs / 1000));
    let sum = 0;
    for (const count of this.totals.values()) sum += count;
    return sum;
  }

  get isEmpty(): boolean {
    return this.totals.size === 0;
  }

  /** Keys counted now (at most `maxKeys`), as of the last record or read. */
  get size(): number {
    return this.totals.size;
  }

  /** The amounts left out because `maxKeys` keys were counted already, since start. */
  get untracked(): number {
    return this.untrackedCount;
  }

  private advance(second: number): void {
    if (second <= this.head) return;
    const from = Math.max(this.head + 1, second - this.windowSeconds + 1);
    for (let s = from; s <= second; s++) {
      const index = mod(s, this.windowSeconds);
      const bucket = this.buckets[index];
      if (bucket === undefined) continue;
      for (const [key, count] of bucket) {
        const left = (this.totals.get(key) ?? 0) - count;
        if (left > 0) this.totals.set(key, left);
        else this.totals.delete(key);
      }
      this.buckets[index] = undefined;
    }
    this.head = second;
  }
}

/**
 * The first `limit` entries, most first, ties by key ascending (the order CONTRACT.md gives eventsPerMinute and
 * topPages, and breakdowns keep); without sorting every key when `limit` is small.
 */
export function topRanked(totals: ReadonlyMap<string, number>, limit: number): [string, number][] {
  if (limit <= 0) return [];
  if (limit >= totals.size) return [...totals].sort(compareRanked);
  const top: [string, number][] = [];
  for (const entry of totals) {
    if (top.length === limit && compareRanked(entry, top[limit - 1]!) >= 0) continue;
    let low = 0;
    let high = top.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (compareRanked(top[middle]!, entry) < 0) low = middle + 1;
      else high = middle;
    }
    top.splice(low, 0, entry);
    if (top.length > limit) top.pop();
  }
  return top;
}

function compareRanked(a: readonly [string, number], b: readonly [string, number]): number {
  return b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
}

/** `n` modulo `m`, never negative: a ring's slot for a second or a minute. */
export function mod(n: number, m: number): number {
  return ((n % m) + m) % m;
}

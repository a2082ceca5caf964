/**
 * Counts by key over a sliding window of whole seconds: `windowSeconds` one-second buckets plus running totals,
 * so reading the totals never sums buckets. Time only moves forward: a record older than the window is ignored.
 */
export class SlidingCounts {
  private readonly buckets: Map<string, number>[];
  private readonly totals = new Map<string, number>();
  /** The newest second the buckets cover. */
  private head = -Infinity;

  constructor(readonly windowSeconds: number) {
    this.buckets = Array.from({ length: windowSeconds }, () => new Map());
  }

  record(key: string, atMs: number, amount = 1): void {
    const second = Math.floor(atMs / 1000);
    this.advance(second);
    if (second <= this.head - this.windowSeconds) return;
    const bucket = this.buckets[mod(second, this.windowSeconds)]!;
    bucket.set(key, (bucket.get(key) ?? 0) + amount);
    this.totals.set(key, (this.totals.get(key) ?? 0) + amount);
  }

  /** Counts over the window ending at `nowMs`, most first, ties by key ascending. */
  ranked(nowMs: number, limit = Infinity): { key: string; count: number }[] {
    this.advance(Math.floor(nowMs / 1000));
    return [...this.totals]
      .map(([key, count]) => ({ key, count }))
      .sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .slice(0, limit);
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

  private advance(second: number): void {
    if (second <= this.head) return;
    const from = Math.max(this.head + 1, second - this.windowSeconds + 1);
    for (let s = from; s <= second; s++) {
      const bucket = this.buckets[mod(s, this.windowSeconds)]!;
      for (const [key, count] of bucket) {
        const left = (this.totals.get(key) ?? 0) - count;
        if (left > 0) this.totals.set(key, left);
        else this.totals.delete(key);
      }
      bucket.clear();
    }
    this.head = second;
  }
}

function mod(n: number, m: number): number {
  return ((n % m) + m) % m;
}

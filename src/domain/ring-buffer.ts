/** Slots a ring starts with; it doubles as it fills, up to its capacity. */
const INITIAL_SLOTS = 16;

/**
 * A bounded FIFO ring: `push` is O(1) (amortised while it grows) and returns the item it evicted, if any.
 * Index 0 is the oldest item. Storage grows with use rather than being allocated up front: a subscriber's queue
 * has a capacity of thousands but is empty almost always, and 10,000 idle subscribers must not hold 10,000 full arrays.
 */
export class RingBuffer<T> {
  private slots: (T | undefined)[];
  private start = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    this.slots = new Array<T | undefined>(Math.min(capacity, INITIAL_SLOTS));
  }

  get size(): number {
    return this.count;
  }

  /** Appends `item`; when full, evicts and returns the oldest item. */
  push(item: T): T | undefined {
    if (this.count < this.capacity) {
      if (this.count === this.slots.length) this.grow();
      this.slots[(this.start + this.count) % this.slots.length] = item;
      this.count++;
      return undefined;
    }
    const evicted = this.slots[this.start];
    this.slots[this.start] = item;
    this.start = (this.start + 1) % this.slots.length;
    return evicted;
  }

  /** Doubles the storage (up to the capacity), oldest item first. */
  private grow(): void {
    const slots = new Array<T | undefined>(Math.min(this.capacity, this.slots.length * 2));
    for (let i = 0; i < this.count; i++) slots[i] = this.slots[(this.start + i) % this.slots.length];
    this.slots = slots;
    this.start = 0;
  }

  /** Removes and returns the oldest item (queue use). */
  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.slots[this.start];
    this.slots[this.start] = undefined;
    this.start = (this.start + 1) % this.slots.length;
    this.count--;
    return item;
  }

  clear(): void {
    this.slots = new Array<T | undefined>(Math.min(this.capacity, INITIAL_SLOTS));
    this.start = 0;
    this.count = 0;
  }

  get isFull(): boolean {
    return this.count === this.capacity;
  }

  /** The item at `index` (0 = oldest), or undefined out of range. */
  at(index: number): T | undefined {
    if (index < 0 || index >= this.count) return undefined;
    return this.slots[(this.start + index) % this.slots.length];
  }

  oldest(): T | undefined {
    return this.at(0);
  }

  newest(): T | undefined {
    return this.at(this.count - 1);
  }

  /** The first index whose item satisfies `isAfter`, assuming the items are sorted so that it is monotonic (binary search). */
  firstIndexWhere(isAfter: (item: T) => boolean): number {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (isAfter(this.at(mid) as T)) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  *newestFirst(): IterableIterator<T> {
    for (let i = this.count - 1; i >= 0; i--) yield this.at(i) as T;
  }

  toArray(): T[] {
    const out = new Array<T>(this.count);
    for (let i = 0; i < this.count; i++) out[i] = this.at(i) as T;
    return out;
  }
}

/** A `liveDashboard` subscription's values: an async iterator that `return()` or `end()` ends. */
export interface Ticks<T> extends AsyncIterableIterator<T> {
  return(): Promise<IteratorResult<T>>;
  end(): void;
}

/**
 * An async iterator that yields `produce()` at once, then every `intervalMs`, until `return()` (or `end()`).
 * Written by hand rather than as an async generator so `return()` takes effect while a tick is pending.
 */
export class Ticker<T> implements Ticks<T> {
  private timer: NodeJS.Timeout | null = null;
  private waiting: ((result: IteratorResult<T>) => void) | null = null;
  private first = true;
  private done = false;

  constructor(
    private readonly intervalMs: number,
    private readonly produce: () => T,
    private readonly onClose: () => void = () => {},
  ) {}

  next(): Promise<IteratorResult<T>> {
    if (this.done) return Promise.resolve({ done: true, value: undefined });
    if (this.first) {
      this.first = false;
      return Promise.resolve({ done: false, value: this.produce() });
    }
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.timer = setTimeout(() => {
        this.timer = null;
        this.waiting = null;
        resolve({ done: false, value: this.produce() });
      }, this.intervalMs);
    });
  }

  return(): Promise<IteratorResult<T>> {
    this.end();
    return Promise.resolve({ done: true, value: undefined });
  }

  end(): void {
    if (this.done) return;
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const waiting = this.waiting;
    this.waiting = null;
    waiting?.({ done: true, value: undefined });
    this.onClose();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

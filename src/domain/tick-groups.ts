import type { Ticks } from "./ticker.ts";

/**
 * One member of a tick group: an async iterator that yields its own `produce()` at once, then the group's value of
 * every tick. A member that reads slower than the group ticks gets the newest value when it reads again, never a
 * backlog (a dashboard only needs its latest state).
 */
export class GroupTicker<T> implements Ticks<T> {
  private first = true;
  private latest: { readonly value: T } | null = null;
  private waiting: ((result: IteratorResult<T>) => void) | null = null;
  private done = false;

  constructor(
    private readonly produce: () => T,
    private readonly onClose: () => void,
  ) {}

  next(): Promise<IteratorResult<T>> {
    if (this.done) return Promise.resolve({ done: true, value: undefined });
    if (this.first) {
      this.first = false;
      return Promise.resolve({ done: false, value: this.produce() });
    }
    const latest = this.latest;
    if (latest !== null) {
      this.latest = null;
      return Promise.resolve({ done: false, value: latest.value });
    }
    return new Promise((resolve) => (this.waiting = resolve));
  }

  /** The group's value of this tick. */
  offer(value: T): void {
    if (this.done) return;
    const waiting = this.waiting;
    if (waiting === null) {
      this.latest = { value };
      return;
    }
    this.waiting = null;
    waiting({ done: false, value });
  }

  return(): Promise<IteratorResult<T>> {
    this.end();
    return Promise.resolve({ done: true, value: undefined });
  }

  end(): void {
    if (this.done) return;
    this.done = true;
    this.latest = null;
    const waiting = this.waiting;
    this.waiting = null;
    waiting?.({ done: true, value: undefined });
    this.onClose();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

interface Group {
  readonly members: Set<GroupTicker<unknown>>;
  readonly timer: NodeJS.Timeout;
}

/**
 * Subscriptions that would compute the same thing on the same schedule, ticking together: every `intervalMs`, one
 * `produce()` for the whole group, whose value every member gets. A group lives while it has members (its timer is
 * cleared with the last one). Members' first values are their own (computed when each starts); then they follow
 * the group's ticks, so a member's second value comes within `intervalMs` of its first, not exactly after it.
 */
export class TickGroups {
  private readonly groups = new Map<string, Group>();

  /** A member of the group `key` (created with `intervalMs` and `produce` when absent); `onClose` runs at its end. */
  join<T>(key: string, intervalMs: number, produce: () => T, onClose: () => void): GroupTicker<T> {
    let group = this.groups.get(key);
    if (group === undefined) {
      const members = new Set<GroupTicker<unknown>>();
      const timer = setInterval(() => {
        const value = produce();
        for (const member of members) member.offer(value);
      }, intervalMs);
      this.groups.set(key, (group = { members, timer }));
    }
    const { members, timer } = group;
    const member: GroupTicker<T> = new GroupTicker(produce, () => {
      members.delete(member as GroupTicker<unknown>);
      if (members.size === 0 && this.groups.get(key) === group) {
        clearInterval(timer);
        this.groups.delete(key);
      }
      onClose();
    });
    members.add(member as GroupTicker<unknown>);
    return member;
  }

  /** Groups ticking now. */
  get size(): number {
    return this.groups.size;
  }
}

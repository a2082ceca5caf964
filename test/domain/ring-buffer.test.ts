import { describe, expect, it } from "vitest";
import { RingBuffer } from "../../src/domain/ring-buffer.ts";

/** A ring of `capacity` after pushing 1..`pushes`. */
function filled(capacity: number, pushes: number): RingBuffer<number> {
  const ring = new RingBuffer<number>(capacity);
  for (let n = 1; n <= pushes; n++) ring.push(n);
  return ring;
}

describe("RingBuffer: construction", () => {
  it("refuses a capacity that is not a positive integer", () => {
    for (const capacity of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => new RingBuffer(capacity)).toThrow(RangeError);
    }
  });

  it("starts empty", () => {
    const ring = new RingBuffer<string>(3);
    expect([ring.capacity, ring.size, ring.isFull]).toEqual([3, 0, false]);
    expect([ring.oldest(), ring.newest(), ring.at(0), ring.shift()]).toEqual([undefined, undefined, undefined, undefined]);
    expect(ring.toArray()).toEqual([]);
    expect([...ring.newestFirst()]).toEqual([]);
  });
});

describe("RingBuffer: push and evict", () => {
  it("keeps items in push order below capacity and evicts nothing", () => {
    const ring = new RingBuffer<string>(3);
    expect(ring.push("a")).toBeUndefined();
    expect(ring.push("b")).toBeUndefined();
    expect([ring.size, ring.isFull]).toEqual([2, false]);
    expect(ring.push("c")).toBeUndefined();
    expect([ring.size, ring.isFull]).toEqual([3, true]);
    expect(ring.toArray()).toEqual(["a", "b", "c"]);
  });

  it("when full, each push evicts and returns exactly the oldest item, and the size stays at capacity", () => {
    const ring = filled(3, 3);
    const evicted: (number | undefined)[] = [];
    for (let n = 4; n <= 10; n++) {
      evicted.push(ring.push(n));
      expect(ring.size).toBe(3);
    }
    expect(evicted).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(ring.toArray()).toEqual([8, 9, 10]);
    expect([ring.oldest(), ring.newest()]).toEqual([8, 10]);
  });

  it("keeps order across many wrap-arounds", () => {
    const ring = filled(7, 1000);
    expect(ring.toArray()).toEqual([994, 995, 996, 997, 998, 999, 1000]);
  });

  it("works with capacity 1", () => {
    const ring = new RingBuffer<number>(1);
    expect(ring.push(1)).toBeUndefined();
    expect(ring.push(2)).toBe(1);
    expect([ring.size, ring.oldest(), ring.newest()]).toEqual([1, 2, 2]);
  });

  it("evicts and keeps falsy items like any other", () => {
    const ring = new RingBuffer<number>(2);
    ring.push(0);
    ring.push(0);
    expect(ring.push(5)).toBe(0);
    expect(ring.toArray()).toEqual([0, 5]);
  });
});

describe("RingBuffer: at", () => {
  it("indexes from the oldest (0) to the newest (size - 1), after wrapping too", () => {
    const ring = filled(4, 6); // holds 3, 4, 5, 6 with the start mid-array
    expect([0, 1, 2, 3].map((i) => ring.at(i))).toEqual([3, 4, 5, 6]);
  });

  it("is undefined out of range", () => {
    const ring = filled(4, 2);
    expect([ring.at(-1), ring.at(2), ring.at(3), ring.at(4)]).toEqual([undefined, undefined, undefined, undefined]);
  });
});

describe("RingBuffer: shift (queue use)", () => {
  it("removes the oldest first and shrinks", () => {
    const ring = filled(3, 3);
    expect(ring.shift()).toBe(1);
    expect([ring.size, ring.isFull]).toEqual([2, false]);
    expect(ring.toArray()).toEqual([2, 3]);
    expect(ring.shift()).toBe(2);
    expect(ring.shift()).toBe(3);
    expect(ring.shift()).toBeUndefined();
    expect(ring.size).toBe(0);
  });

  it("interleaved with push, behaves as a FIFO across wrap-arounds", () => {
    const ring = new RingBuffer<number>(3);
    const out: (number | undefined)[] = [];
    let n = 0;
    for (let round = 0; round < 10; round++) {
      ring.push(++n);
      ring.push(++n);
      out.push(ring.shift());
      out.push(ring.shift());
    }
    expect(out).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(ring.size).toBe(0);
  });

  it("frees a slot: a push after a shift evicts nothing", () => {
    const ring = filled(2, 2);
    ring.shift();
    expect(ring.push(3)).toBeUndefined();
    expect(ring.toArray()).toEqual([2, 3]);
  });
});

describe("RingBuffer: clear", () => {
  it("empties the ring, which then fills again from scratch", () => {
    const ring = filled(3, 5);
    ring.clear();
    expect([ring.size, ring.isFull, ring.oldest()]).toEqual([0, false, undefined]);
    ring.push(9);
    expect(ring.toArray()).toEqual([9]);
  });
});

describe("RingBuffer: firstIndexWhere (binary search over sorted items)", () => {
  const ring = filled(10, 25); // holds 16..25, wrapped

  it("returns the first index whose item satisfies the predicate", () => {
    expect(ring.firstIndexWhere((n) => n > 18)).toBe(3);
    expect(ring.at(3)).toBe(19);
    expect(ring.firstIndexWhere((n) => n > 15)).toBe(0);
    expect(ring.firstIndexWhere((n) => n > 24)).toBe(9);
  });

  it("returns size when no item satisfies it, 0 on an empty ring", () => {
    expect(ring.firstIndexWhere((n) => n > 25)).toBe(10);
    expect(new RingBuffer<number>(4).firstIndexWhere(() => true)).toBe(0);
  });

  it("looks at O(log n) items", () => {
    const big = filled(1024, 1500);
    let calls = 0;
    const index = big.firstIndexWhere((n) => {
      calls++;
      return n > 1000;
    });
    expect(index).toBe(1000 - 476);
    expect(calls).toBeLessThanOrEqual(11);
  });
});

describe("RingBuffer: newestFirst", () => {
  it("iterates from the newest to the oldest, after wrapping too", () => {
    expect([...filled(4, 6).newestFirst()]).toEqual([6, 5, 4, 3]);
    expect([...filled(4, 2).newestFirst()]).toEqual([2, 1]);
  });

  it("is lazy: stopping early reads only what it needs", () => {
    const ring = filled(5, 5);
    const seen: number[] = [];
    for (const n of ring.newestFirst()) {
      seen.push(n);
      if (seen.length === 2) break;
    }
    expect(seen).toEqual([5, 4]);
  });
});

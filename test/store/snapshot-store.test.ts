import { join } from "node:path";
import { setImmediate as nextTurn } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import type { JsonObject, StoredEvent } from "../../src/domain/event.ts";
import type { Person } from "../../src/domain/persons.ts";
import type { SnapshotDelta, SnapshotStore } from "../../src/store/snapshot-store.ts";
import { openPostgresStore } from "../../src/store/postgres.ts";
import { openSqliteStore } from "../../src/store/sqlite.ts";
import { onCleanup } from "../support/cleanup.ts";
import { recordingLogger } from "../support/logs.ts";
import { tempDir } from "../support/process.ts";
import { POSTGRES_URL, tempPostgresUrl } from "../support/services.ts";

/**
 * The contract every snapshot store passes: each engine is a function that opens a fresh, empty, migrated store.
 * PostgreSQL runs when PULSE_TEST_POSTGRES_URL names a server (.ci/run sets it); each test gets its own schema.
 */
const engines: [name: string, open: () => Promise<SnapshotStore>][] = [
  ["SQLite", () => openSqliteStore(`file:${join(tempDir(), "pulse.db")}`, { log: recordingLogger() })],
  ...(POSTGRES_URL
    ? [["PostgreSQL", () => openPostgresStore(tempPostgresUrl(), { log: recordingLogger() })] as [string, () => Promise<SnapshotStore>]]
    : []),
];

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0, 123);

function event(seq: number, overrides: Partial<StoredEvent> = {}): StoredEvent {
  return {
    id: `0190a000-0000-7000-8000-${seq.toString(16).padStart(12, "0")}`,
    event: "$pageview",
    distinctId: `user-${seq % 3}`,
    timestamp: T0 + seq,
    receivedAt: T0 + seq * 10,
    properties: { n: seq },
    sessionId: `s-${seq % 2}`,
    environment: "production",
    seq,
    ...overrides,
  };
}

function delta(appended: StoredEvent[], overrides: Partial<SnapshotDelta> = {}): SnapshotDelta {
  return { appended, evictedThroughSeq: 0, persons: [], personsMax: 100_000, takenAt: T0, cleanStop: false, ...overrides };
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const ALL = { events: 1_000_000, persons: 1_000_000 };

describe.each(engines)("%s snapshot store", (_name, openStore) => {
  async function open(): Promise<SnapshotStore> {
    const store = await openStore();
    onCleanup(() => store.close());
    return store;
  }

  it("loads an empty snapshot from a new store", async () => {
    const store = await open();
    expect(await store.load(ALL)).toEqual({ events: [], evictedThroughSeq: 0, persons: [], takenAt: null, cleanStop: null });
  });

  it("records whether the last snapshot was the final one of a clean stop", async () => {
    const store = await open();
    await store.write(delta([event(1)]));
    expect((await store.load(ALL)).cleanStop).toBe(false);
    await store.write(delta([], { cleanStop: true }));
    expect((await store.load(ALL)).cleanStop).toBe(true);
    await store.write(delta([event(2)]));
    expect((await store.load(ALL)).cleanStop).toBe(false);
  });

  it("makes the only instance on it the writer", async () => {
    const store = await open();
    expect(await store.claimWriter()).toEqual({ writer: true });
    expect(await store.claimWriter()).toEqual({ writer: true });
  });

  it("round-trips every field of an event exactly", async () => {
    const store = await open();
    const properties: JsonObject = {
      zeta: 1,
      alpha: { nested: { deeper: [1, "two", { three: [null, true, false] }] }, empty: {}, list: [] },
      unicode: "héllo wörld – 日本語 – עברית – emoji 🎉👩‍💻 – combining é",
      escapes: 'quote " backslash \\ newline \n tab \t nul \u0000 lone surrogate \ud800',
      "key with spaces and ünïcode 🔑": "value",
      maxSafe: Number.MAX_SAFE_INTEGER,
      minSafe: Number.MIN_SAFE_INTEGER,
      huge: 1.7976931348623157e308,
      tiny: 5e-324,
      fraction: 0.1 + 0.2,
      negative: -42.5,
      nothing: null,
      $set: { plan: "pro" },
    };
    const rich = event(1, {
      id: "f47ac10b-58cc-4372-a567-0e02b2c3d479",
      event: "événement ✨",
      distinctId: "usér-🦄-42",
      timestamp: Date.UTC(1999, 11, 31, 23, 59, 59, 999),
      receivedAt: T0 + 1,
      properties,
      sessionId: null,
      environment: "staging-ü",
      seq: 2 ** 52 + 1,
    });
    const plain = event(2 ** 52 + 2, { properties: {}, sessionId: "s", timestamp: T0, receivedAt: T0 + 2 });
    await store.write(delta([rich, plain]));

    const loaded = await store.load(ALL);
    expect(loaded.events).toEqual([rich, plain]);
    // Key order is part of what clients see in `properties`.
    expect(Object.keys(loaded.events[0]!.properties)).toEqual(Object.keys(properties));
    expect(JSON.stringify(loaded.events[0]!.properties)).toBe(JSON.stringify(properties));
    expect(loaded.events[0]!.sessionId).toBeNull();
    expect(loaded.takenAt).toBe(T0);
  });

  it("applies deltas: new events in, everything at or below the evicted position out", async () => {
    const store = await open();
    await store.write(delta(range(1, 10).map((n) => event(n))));
    await store.write(
      delta(
        range(11, 15).map((n) => event(n)),
        { evictedThroughSeq: 5, takenAt: T0 + 1000 },
      ),
    );

    const loaded = await store.load(ALL);
    expect(loaded.events.map((e) => e.seq)).toEqual(range(6, 15));
    expect(loaded.evictedThroughSeq).toBe(5);
    expect(loaded.takenAt).toBe(T0 + 1000);
  });

  it("evicts any number of events in one delta", async () => {
    const store = await open();
    await store.write(delta(range(1, 1234).map((n) => event(n))));
    await store.write(delta([event(1235)], { evictedThroughSeq: 1230 }));
    expect((await store.load(ALL)).events.map((e) => e.seq)).toEqual(range(1231, 1235));
  });

  it("loads the newest events up to the limit, and counts the older ones as evicted", async () => {
    const store = await open();
    await store.write(
      delta(
        range(1, 20).map((n) => event(n)),
        { evictedThroughSeq: 0 },
      ),
    );
    const loaded = await store.load({ events: 5, persons: 10 });
    expect(loaded.events.map((e) => e.seq)).toEqual(range(16, 20));
    expect(loaded.evictedThroughSeq).toBe(15);
  });

  it("stores a repeated delta once (a retry after a failure may resend events)", async () => {
    const store = await open();
    const events = range(1, 150).map((n) => event(n));
    await store.write(delta(events));
    await store.write(delta(events));
    expect((await store.load(ALL)).events).toEqual(events);
  });

  it("leaves the previous snapshot intact when a write fails half-way", async () => {
    const store = await open();
    await store.write(
      delta(
        range(1, 10).map((n) => event(n)),
        { takenAt: T0 },
      ),
    );
    const before = await store.load(ALL);

    // The 150th event breaks a NOT NULL constraint: 149 rows are in when the database refuses it.
    const broken = range(11, 260).map((n) => (n === 160 ? event(n, { event: null as unknown as string }) : event(n)));
    await expect(store.write(delta(broken, { evictedThroughSeq: 5, takenAt: T0 + 1 }))).rejects.toThrow();
    expect(await store.load(ALL)).toEqual(before);

    // And the store is still usable.
    await store.write(delta([event(11)], { evictedThroughSeq: 5, takenAt: T0 + 2 }));
    expect((await store.load(ALL)).events.map((e) => e.seq)).toEqual(range(6, 11));
  });

  it("fails a delta that cannot be serialized without storing any of it", async () => {
    const store = await open();
    await store.write(delta([event(1)]));
    const unserializable = event(3, { properties: { bad: 10n } as unknown as JsonObject });
    await expect(store.write(delta([event(2), unserializable], { evictedThroughSeq: 1 }))).rejects.toThrow(/BigInt/);
    expect((await store.load(ALL)).events).toEqual([event(1)]);
  });

  it("writes without holding the event loop, letting other work run meanwhile", async () => {
    const store = await open();
    let turns = 0;
    let writing = true;
    const count = (async () => {
      while (writing) {
        await nextTurn();
        turns++;
      }
    })();
    await store.write(delta(range(1, 1000).map((n) => event(n))));
    writing = false;
    await count;
    expect(turns).toBeGreaterThanOrEqual(2);
  });

  it("round-trips persons, updates them in place, and loads the most recently seen first-in-last-out", async () => {
    const store = await open();
    const ada: Person = {
      distinctId: "ada",
      properties: { plan: "pro", nested: { a: [1, 2] }, név: "Ada 🧮" },
      firstSeen: T0,
      lastSeen: T0 + 50,
    };
    const bob: Person = { distinctId: "bob", properties: {}, firstSeen: T0 + 10, lastSeen: T0 + 20 };
    await store.write(delta([], { persons: [ada, bob] }));
    const adaLater = { ...ada, properties: { ...ada.properties, plan: "team" }, lastSeen: T0 + 90 };
    await store.write(delta([], { persons: [adaLater] }));

    const loaded = await store.load(ALL);
    // Least recently seen first: the order the hub's recency list is rebuilt in.
    expect(loaded.persons).toEqual([bob, adaLater]);
    expect((await store.load({ events: 10, persons: 1 })).persons).toEqual([adaLater]);
  });

  it("trims persons to the most recently seen personsMax", async () => {
    const store = await open();
    const persons = range(1, 1500).map((n) => ({ distinctId: `p${n}`, properties: { n }, firstSeen: T0, lastSeen: T0 + n }));
    await store.write(delta([], { persons, personsMax: 1000 }));
    const loaded = await store.load(ALL);
    expect(loaded.persons.map((p) => p.distinctId)).toEqual(range(501, 1500).map((n) => `p${n}`));
  });
});

import type { JsonObject, StoredEvent } from "../domain/event.ts";
import type { Person } from "../domain/persons.ts";
import type { Snapshot } from "./snapshot-store.ts";

/**
 * The rows every engine's Prisma client returns for the snapshot's three tables (the SQLite and PostgreSQL schemas
 * have the same models; only their column types differ), and how they become a `Snapshot`.
 */
export interface EventRecord {
  readonly seq: bigint;
  readonly id: string;
  readonly event: string;
  readonly distinctId: string;
  readonly timestamp: Date;
  readonly receivedAt: Date;
  readonly properties: string;
  readonly sessionId: string | null;
  readonly environment: string;
}

export interface PersonRecord {
  readonly distinctId: string;
  readonly properties: string;
  readonly firstSeen: Date;
  readonly lastSeen: Date;
}

export interface StateRecord {
  readonly evictedThroughSeq: bigint;
  readonly takenAt: Date;
  readonly cleanStop: boolean;
}

/**
 * Builds the snapshot from the state row, the newest `limits.events + 1` events (newest first: one more than the
 * limit, whose position tells how far a smaller buffer has evicted) and the most recently seen persons (newest first).
 */
export function snapshotFromRecords(
  state: StateRecord | null,
  newestEvents: readonly EventRecord[],
  newestPersons: readonly PersonRecord[],
  limits: { readonly events: number },
): Snapshot {
  const left = newestEvents.length > limits.events ? Number(newestEvents[limits.events]!.seq) : 0;
  const events: StoredEvent[] = [];
  for (let i = Math.min(newestEvents.length, limits.events) - 1; i >= 0; i--) {
    const row = newestEvents[i]!;
    events.push({
      id: row.id,
      event: row.event,
      distinctId: row.distinctId,
      timestamp: row.timestamp.getTime(),
      receivedAt: row.receivedAt.getTime(),
      properties: JSON.parse(row.properties) as JsonObject,
      sessionId: row.sessionId,
      environment: row.environment,
      seq: Number(row.seq),
    });
  }
  const persons: Person[] = [];
  for (let i = newestPersons.length - 1; i >= 0; i--) {
    const row = newestPersons[i]!;
    persons.push({
      distinctId: row.distinctId,
      properties: JSON.parse(row.properties) as JsonObject,
      firstSeen: row.firstSeen.getTime(),
      lastSeen: row.lastSeen.getTime(),
    });
  }
  return {
    events,
    evictedThroughSeq: Math.max(Number(state?.evictedThroughSeq ?? 0), left),
    persons,
    takenAt: state ? state.takenAt.getTime() : null,
    cleanStop: state ? state.cleanStop : null,
  };
}

/** An `events` row as SQLite returns it raw: seq, id, event, distinctId, timestamp, receivedAt, properties, sessionId, environment. */
export type EventColumns = readonly [number, string, string, string, string | number, string | number, string, string | null, string];
/** A `persons` row: distinctId, properties, firstSeen, lastSeen. */
export type PersonColumns = readonly [string, string, string | number, string | number];

/** SQLite's `CURRENT_TIMESTAMP` text, which is UTC without saying so (Date.parse would take it as local time). */
const SQLITE_UTC_TEXT = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?$/;

/** Strings a decoder shares at most; past it the table starts over (high-cardinality ids then cost one lookup each). */
const MAX_SHARED_STRINGS = 16_384;

/**
 * Turns raw rows into the hub's events and persons. The text columns that repeat from row to row (event names,
 * environments, distinct and session ids) are shared rather than kept once per event (each row read is a new
 * string: for a million `$pageview`s, a million copies), and consecutive equal times are parsed once (a batch has one
 * receive time).
 */
export class RowDecoder {
  private readonly shared = new Map<string, string>();
  private lastTimeText = "";
  private lastTime = 0;

  event(row: EventColumns): StoredEvent {
    return {
      id: row[1],
      event: this.share(row[2]),
      distinctId: this.share(row[3]),
      timestamp: this.time(row[4]),
      receivedAt: this.time(row[5]),
      properties: JSON.parse(row[6]) as JsonObject,
      sessionId: row[7] === null ? null : this.share(row[7]),
      environment: this.share(row[8]),
      seq: row[0],
    };
  }

  person(row: PersonColumns): Person {
    return { distinctId: row[0], properties: JSON.parse(row[1]) as JsonObject, firstSeen: this.time(row[2]), lastSeen: this.time(row[3]) };
  }

  /**
   * A DATETIME column as epoch ms: the text Prisma writes (`2026-01-01T12:00:00.000+00:00`), SQLite's own
   * `2026-01-01 12:00:00` (UTC), or a number of ms.
   */
  time(value: string | number): number {
    if (typeof value === "number") return value;
    if (value === this.lastTimeText) return this.lastTime;
    const ms = Date.parse(SQLITE_UTC_TEXT.test(value) ? `${value.replace(" ", "T")}Z` : value);
    if (Number.isNaN(ms)) throw new Error(`unreadable time in the database: ${JSON.stringify(value)}`);
    this.lastTimeText = value;
    this.lastTime = ms;
    return ms;
  }

  private share(text: string): string {
    const known = this.shared.get(text);
    if (known !== undefined) return known;
    if (this.shared.size >= MAX_SHARED_STRINGS) this.shared.clear();
    this.shared.set(text, text);
    return text;
  }
}

/**
 * The hub drops the least recently seen persons past PULSE_PERSONS_MAX without telling; a store trims its table to
 * match now and then rather than at every snapshot (walking 100,000 index entries is not free).
 */
export class PersonsTrim {
  private touchedSinceTrim = 0;

  /** Whether the write of a delta touching `persons` persons, with this `personsMax`, should trim too. */
  due(persons: number, personsMax: number): boolean {
    return this.touchedSinceTrim + persons >= Math.max(1000, personsMax / 10);
  }

  /** After a successful write. */
  written(persons: number, trimmed: boolean): void {
    this.touchedSinceTrim = trimmed ? 0 : this.touchedSinceTrim + persons;
  }
}

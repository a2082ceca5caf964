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

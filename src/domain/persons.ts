import type { JsonObject, JsonValue } from "./event.ts";

export interface Person {
  readonly distinctId: string;
  readonly properties: JsonObject;
  readonly firstSeen: number;
  readonly lastSeen: number;
}

/**
 * Persons by distinctId, with properties merged from events' `$set` (overwrite) and `$set_once` (first write wins).
 * Bounded: past `capacity`, the least recently seen person is dropped (Map insertion order = recency).
 */
export class Persons {
  private readonly people = new Map<string, Person>();

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.people.size;
  }

  get(distinctId: string): Person | undefined {
    return this.people.get(distinctId);
  }

  touch(distinctId: string, at: number, properties: JsonObject): Person {
    const previous = this.people.get(distinctId);
    const set = asObject(properties["$set"]);
    const setOnce = asObject(properties["$set_once"]);
    let merged = previous?.properties ?? {};
    if (set || setOnce) {
      merged = { ...merged };
      if (setOnce) for (const [key, value] of Object.entries(setOnce)) if (!Object.hasOwn(merged, key)) merged[key] = value;
      if (set) Object.assign(merged, set);
    }
    const person: Person = {
      distinctId,
      properties: merged,
      firstSeen: Math.min(previous?.firstSeen ?? at, at),
      lastSeen: Math.max(previous?.lastSeen ?? at, at),
    };
    this.remember(person);
    return person;
  }

  /** Every person, least recently seen first (a full snapshot). */
  all(): Person[] {
    return [...this.people.values()];
  }

  /** Puts back a person from a snapshot as it was (no merge). Restore the least recently seen first. */
  restore(person: Person): void {
    this.remember(person);
  }

  private remember(person: Person): void {
    this.people.delete(person.distinctId);
    this.people.set(person.distinctId, person);
    if (this.people.size > this.capacity) {
      const oldest = this.people.keys().next().value as string;
      this.people.delete(oldest);
    }
  }
}

function asObject(value: JsonValue | undefined): JsonObject | null {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? value : null;
}

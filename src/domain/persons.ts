import { DEFAULT_VIEW_BOUNDS, type ViewBounds } from "./bounds.ts";
import type { JsonObject, JsonValue } from "./event.ts";

export interface Person {
  readonly distinctId: string;
  /**
   * A null-prototype object: every key, `__proto__`, `constructor` and `toString` included, is an own property
   * like any other. Never changed once handed out: a later event makes a new object.
   */
  readonly properties: JsonObject;
  readonly firstSeen: number;
  readonly lastSeen: number;
}

export type PersonBounds = Pick<ViewBounds, "maxPersonProperties" | "maxPersonBytes">;

/** What the persons hold and what their bounds turned away; for metrics and tests. */
export interface PersonsStats {
  readonly persons: number;
  /** `$set`/`$set_once` writes of one key dropped past PULSE_MAX_PERSON_PROPERTIES or PULSE_MAX_PERSON_BYTES. */
  readonly droppedPropertyWrites: number;
  /** Persons that had a write dropped, each counted once (again if they are dropped and come back). */
  readonly personsAtPropertyLimit: number;
}

interface Entry {
  readonly person: Person;
  /** Own keys of `person.properties`. */
  readonly keys: number;
  /** `person.properties` as JSON, in UTF-8 bytes. */
  readonly bytes: number;
  /** Whether a write to this person was dropped already (counted in `personsAtPropertyLimit`). */
  readonly limited: boolean;
}

const NO_PROPERTIES: JsonObject = Object.freeze(Object.create(null) as JsonObject);
/** `{}` as JSON. */
const EMPTY_OBJECT_BYTES = 2;

/**
 * Persons by distinctId, with properties merged from events' `$set` (overwrite) and `$set_once` (first write wins).
 * Bounded: past `capacity` (PULSE_PERSONS_MAX), the least recently seen person is dropped (Map insertion order =
 * recency); each person keeps at most `maxPersonProperties` properties and `maxPersonBytes` of them as JSON. Past
 * either, a write of a new key, or one that grows a value, is dropped and counted (`stats()`); keys already there
 * still update within the size bound. Dropping the write rather than refusing the event keeps the event itself
 * (buffer, subscribers, dashboards) whole: only the person's accumulated state is capped. Each write costs the size
 * of the value written and the one it replaces, never the size of the whole person.
 */
export class Persons {
  private readonly people = new Map<string, Entry>();
  private readonly bounds: PersonBounds;
  private droppedPropertyWrites = 0;
  private personsAtPropertyLimit = 0;

  constructor(
    readonly capacity: number,
    bounds: Partial<PersonBounds> = {},
  ) {
    this.bounds = {
      maxPersonProperties: bounds.maxPersonProperties ?? DEFAULT_VIEW_BOUNDS.maxPersonProperties,
      maxPersonBytes: bounds.maxPersonBytes ?? DEFAULT_VIEW_BOUNDS.maxPersonBytes,
    };
  }

  get size(): number {
    return this.people.size;
  }

  get(distinctId: string): Person | undefined {
    return this.people.get(distinctId)?.person;
  }

  /** How many properties the person keeps and their size as JSON (UTF-8 bytes); undefined for someone not held. */
  footprint(distinctId: string): { readonly properties: number; readonly bytes: number } | undefined {
    const entry = this.people.get(distinctId);
    return entry && { properties: entry.keys, bytes: entry.bytes };
  }

  touch(distinctId: string, at: number, properties: JsonObject): Person {
    const previous = this.people.get(distinctId);
    const set = asObject(properties["$set"]);
    const setOnce = asObject(properties["$set_once"]);
    let merged = previous?.person.properties ?? NO_PROPERTIES;
    let keys = previous?.keys ?? 0;
    let bytes = previous?.bytes ?? EMPTY_OBJECT_BYTES;
    let limited = previous?.limited ?? false;
    if (set || setOnce) {
      const next = copyProperties(merged);
      const write = (key: string, value: JsonValue, once: boolean): void => {
        const had = Object.hasOwn(next, key);
        if (once && had) return;
        const grown = had
          ? bytes - entryBytes(key, next[key]!) + entryBytes(key, value)
          : bytes + (keys > 0 ? 1 : 0) + entryBytes(key, value);
        const tooMany = !had && keys >= this.bounds.maxPersonProperties;
        if (tooMany || (grown > this.bounds.maxPersonBytes && grown > bytes)) {
          this.droppedPropertyWrites++;
          if (!limited) this.personsAtPropertyLimit++;
          limited = true;
          return;
        }
        next[key] = value;
        bytes = grown;
        if (!had) keys++;
      };
      if (setOnce) for (const key of Object.keys(setOnce)) write(key, setOnce[key]!, true);
      if (set) for (const key of Object.keys(set)) write(key, set[key]!, false);
      merged = next;
    }
    const person: Person = {
      distinctId,
      properties: merged,
      firstSeen: Math.min(previous?.person.firstSeen ?? at, at),
      lastSeen: Math.max(previous?.person.lastSeen ?? at, at),
    };
    this.remember({ person, keys, bytes, limited });
    return person;
  }

  /** Every person, least recently seen first (a full snapshot). */
  all(): Person[] {
    return Array.from(this.people.values(), (entry) => entry.person);
  }

  /**
   * Puts back a person from a snapshot as it was (no merge; a person over the property bounds, from a run with
   * higher ones, is kept whole but gets no new keys). Restore the least recently seen first.
   */
  restore(person: Person): void {
    const properties = copyProperties(person.properties);
    this.remember({
      person: { ...person, properties },
      keys: Object.keys(properties).length,
      bytes: utf8Bytes(JSON.stringify(properties)),
      limited: false,
    });
  }

  stats(): PersonsStats {
    return {
      persons: this.people.size,
      droppedPropertyWrites: this.droppedPropertyWrites,
      personsAtPropertyLimit: this.personsAtPropertyLimit,
    };
  }

  private remember(entry: Entry): void {
    this.people.delete(entry.person.distinctId);
    this.people.set(entry.person.distinctId, entry);
    if (this.people.size > this.capacity) {
      const oldest = this.people.keys().next().value as string;
      this.people.delete(oldest);
    }
  }
}

/**
 * A null-prototype copy: a plain object's `obj[key] = value` with key `__proto__` would set its prototype (or, for a
 * non-object value, do nothing) instead of storing the property.
 */
function copyProperties(properties: JsonObject): JsonObject {
  const copy = Object.create(null) as JsonObject;
  for (const key of Object.keys(properties)) copy[key] = properties[key]!;
  return copy;
}

/** What `"key":value` adds to the object's JSON, in UTF-8 bytes (the comma before it is counted by the caller). */
function entryBytes(key: string, value: JsonValue): number {
  return utf8Bytes(JSON.stringify(key)) + 1 + utf8Bytes(JSON.stringify(value));
}

function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, "utf8");
}

function asObject(value: JsonValue | undefined): JsonObject | null {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? value : null;
}

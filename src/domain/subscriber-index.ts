import type { StoredEvent } from "./event.ts";
import type { EventFilter } from "./filter.ts";
import type { EventSubscriber } from "./subscriber.ts";

/** A property value the index can key on: JSON primitives (objects and arrays are compared deeply, not by key). */
type Primitive = string | number | boolean | null;

/** Where one subscriber is filed: every event, the events of some names, or the events with one property value. */
type IndexKey =
  | { readonly kind: "all" }
  | { readonly kind: "events"; readonly names: readonly string[] }
  | { readonly kind: "property"; readonly property: string; readonly value: Primitive };

/**
 * The hub's subscribers filed by what an event must have to match them, so an event is offered only to the
 * subscribers that can match it: those filtering on its name, those with an `EQUALS` condition on a property value
 * it carries, and those the index cannot narrow. The index only narrows: each subscriber still applies its whole
 * compiled filter, so the index may offer an event to a subscriber that rejects it, never the reverse.
 * Each subscriber is filed under one key, so it is offered each event at most once.
 */
export class SubscriberIndex {
  private readonly unindexed = new Set<EventSubscriber>();
  private readonly byEvent = new Map<string, Set<EventSubscriber>>();
  private readonly byProperty = new Map<string, Map<Primitive, Set<EventSubscriber>>>();
  private readonly keys = new Map<EventSubscriber, IndexKey>();

  get size(): number {
    return this.keys.size;
  }

  add(subscriber: EventSubscriber, filter: EventFilter | null | undefined): void {
    const key = indexKey(filter);
    this.keys.set(subscriber, key);
    if (key.kind === "all") this.unindexed.add(subscriber);
    else if (key.kind === "events") for (const name of key.names) bucket(this.byEvent, name).add(subscriber);
    else
      bucket(
        bucket(this.byProperty, key.property, () => new Map<Primitive, Set<EventSubscriber>>()),
        key.value,
      ).add(subscriber);
  }

  remove(subscriber: EventSubscriber): void {
    const key = this.keys.get(subscriber);
    if (!key) return;
    this.keys.delete(subscriber);
    if (key.kind === "all") {
      this.unindexed.delete(subscriber);
    } else if (key.kind === "events") {
      for (const name of key.names) drop(this.byEvent, name, subscriber);
    } else {
      const byValue = this.byProperty.get(key.property)!;
      drop(byValue, key.value, subscriber);
      if (byValue.size === 0) this.byProperty.delete(key.property);
    }
  }

  /** Offers `event` to every subscriber that can match it. Allocates nothing. */
  offer(event: StoredEvent): void {
    for (const subscriber of this.unindexed) subscriber.offer(event);
    const named = this.byEvent.get(event.event);
    if (named) for (const subscriber of named) subscriber.offer(event);
    if (this.byProperty.size === 0) return;
    const properties = event.properties;
    for (const [property, byValue] of this.byProperty) {
      if (!Object.hasOwn(properties, property)) continue;
      const value = properties[property];
      if (!isPrimitive(value)) continue;
      const matching = byValue.get(value);
      if (matching) for (const subscriber of matching) subscriber.offer(event);
    }
  }

  /** Every subscriber, for shutdown. */
  all(): EventSubscriber[] {
    return [...this.keys.keys()];
  }
}

/**
 * The narrowest key a filter allows: its event names, else its first `EQUALS` on a primitive value (a map lookup
 * finds exactly the values `isDeepStrictEqual` accepts, except 0 and -0, which the filter itself tells apart).
 */
function indexKey(filter: EventFilter | null | undefined): IndexKey {
  if (filter?.events && filter.events.length > 0) return { kind: "events", names: [...new Set(filter.events)] };
  for (const condition of filter?.properties ?? []) {
    if (condition.operator === "EQUALS" && isPrimitive(condition.value)) {
      return { kind: "property", property: condition.property, value: condition.value };
    }
  }
  return { kind: "all" };
}

function isPrimitive(value: unknown): value is Primitive {
  return value === null || typeof value === "string" || typeof value === "number" || typeof value === "boolean";
}

function bucket<K, V>(map: Map<K, V>, key: K, create: () => V = () => new Set() as V): V {
  let value = map.get(key);
  if (value === undefined) map.set(key, (value = create()));
  return value;
}

function drop<K>(map: Map<K, Set<EventSubscriber>>, key: K, subscriber: EventSubscriber): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(subscriber);
  if (set.size === 0) map.delete(key);
}

import { describe, expect, it } from "vitest";
import { Persons } from "../../src/domain/persons.ts";
import { T0 } from "./helpers.ts";

describe("Persons: properties", () => {
  it("a first event creates the person from its $set and $set_once", () => {
    const persons = new Persons(10);
    const person = persons.touch("alice", T0, { plan: "ignored", $set: { plan: "free" }, $set_once: { referrer: "ad" } });
    expect(person).toEqual({ distinctId: "alice", properties: { plan: "free", referrer: "ad" }, firstSeen: T0, lastSeen: T0 });
    expect(persons.get("alice")).toEqual(person);
    expect(persons.size).toBe(1);
  });

  it("an event without $set or $set_once creates a person with no properties", () => {
    const persons = new Persons(10);
    expect(persons.touch("bob", T0, { plan: "pro" }).properties).toEqual({});
  });

  it("$set overwrites", () => {
    const persons = new Persons(10);
    persons.touch("alice", T0, { $set: { plan: "free", name: "Alice" } });
    persons.touch("alice", T0 + 1, { $set: { plan: "pro" } });
    expect(persons.get("alice")?.properties).toEqual({ plan: "pro", name: "Alice" });
  });

  it("$set_once keeps the first value written", () => {
    const persons = new Persons(10);
    persons.touch("alice", T0, { $set_once: { referrer: "ad" } });
    persons.touch("alice", T0 + 1, { $set_once: { referrer: "newsletter", campaign: "spring" } });
    expect(persons.get("alice")?.properties).toEqual({ referrer: "ad", campaign: "spring" });
  });

  it("$set_once does not overwrite a value written by $set, null included", () => {
    const persons = new Persons(10);
    persons.touch("alice", T0, { $set: { plan: "pro", nickname: null } });
    persons.touch("alice", T0 + 1, { $set_once: { plan: "free", nickname: "Al" } });
    expect(persons.get("alice")?.properties).toEqual({ plan: "pro", nickname: null });
  });

  it("$set wins over $set_once for the same key in one event", () => {
    const persons = new Persons(10);
    persons.touch("alice", T0, { $set_once: { plan: "once" }, $set: { plan: "set" } });
    expect(persons.get("alice")?.properties).toEqual({ plan: "set" });
  });

  it("$set replaces a nested value as a whole", () => {
    const persons = new Persons(10);
    persons.touch("alice", T0, { $set: { address: { city: "Paris", zip: "75001" } } });
    persons.touch("alice", T0 + 1, { $set: { address: { city: "Lyon" } } });
    expect(persons.get("alice")?.properties).toEqual({ address: { city: "Lyon" } });
  });

  it("ignores $set and $set_once that are not objects", () => {
    const persons = new Persons(10);
    persons.touch("alice", T0, { $set: { plan: "pro" } });
    for (const value of ["plan", 1, null, true, ["plan", "free"]]) {
      persons.touch("alice", T0 + 1, { $set: value, $set_once: value });
    }
    expect(persons.get("alice")?.properties).toEqual({ plan: "pro" });
  });

  it("never changes a person it returned earlier", () => {
    const persons = new Persons(10);
    const before = persons.touch("alice", T0, { $set: { plan: "free" } });
    persons.touch("alice", T0 + 1, { $set: { plan: "pro" } });
    expect(before.properties).toEqual({ plan: "free" });
    expect(before.lastSeen).toBe(T0);
  });
});

describe("Persons: firstSeen and lastSeen", () => {
  it("firstSeen is the earliest time seen, lastSeen the latest, whatever order they arrive in", () => {
    const persons = new Persons(10);
    persons.touch("alice", T0 + 5000, {});
    persons.touch("alice", T0 + 9000, {});
    persons.touch("alice", T0 + 1000, {});
    expect(persons.get("alice")).toEqual({ distinctId: "alice", properties: {}, firstSeen: T0 + 1000, lastSeen: T0 + 9000 });
  });

  it("is undefined for someone never seen", () => {
    expect(new Persons(10).get("nobody")).toBeUndefined();
  });
});

describe("Persons: capacity", () => {
  it("drops the least recently seen person past capacity", () => {
    const persons = new Persons(3);
    persons.touch("a", T0, { $set: { n: 1 } });
    persons.touch("b", T0 + 1, {});
    persons.touch("c", T0 + 2, {});
    persons.touch("a", T0 + 3, {}); // a is now the most recently seen; b the least
    persons.touch("d", T0 + 4, {});
    expect(persons.size).toBe(3);
    expect(["a", "b", "c", "d"].map((id) => persons.get(id) !== undefined)).toEqual([true, false, true, true]);
    expect(persons.get("a")?.properties).toEqual({ n: 1 });
    persons.touch("e", T0 + 5, {});
    expect(["a", "c", "d", "e"].map((id) => persons.get(id) !== undefined)).toEqual([true, false, true, true]);
  });

  it("a dropped person who comes back starts afresh", () => {
    const persons = new Persons(1);
    persons.touch("a", T0, { $set_once: { first: "yes" } });
    persons.touch("b", T0 + 1, {});
    const back = persons.touch("a", T0 + 2, {});
    expect(back).toEqual({ distinctId: "a", properties: {}, firstSeen: T0 + 2, lastSeen: T0 + 2 });
    expect(persons.size).toBe(1);
  });
});

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkEventSize } from "../../src/domain/event-limits.ts";
import type { JsonObject } from "../../src/domain/event.ts";
import { PropertiesText } from "../../src/domain/properties-text.ts";
import { EVENT_LIMITS } from "../support/settings.ts";

/** Keys as captures send them, with the awkward ones: array indexes, `__proto__`, enrichment's own names. */
const key = fc.oneof(fc.string({ maxLength: 4 }), fc.constantFrom("0", "7", "10", "01", "__proto__", "$browser", "$os", "$pathname"));
const json = fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<JsonObject[string]>;
/** An object as JSON.parse builds it (own `__proto__` keys included). */
const object = fc.dictionary(key, json, { maxKeys: 6 }).map((o) => JSON.parse(JSON.stringify(o)) as JsonObject);

describe("PropertiesText", () => {
  it("gives back the text remembered for an object once, then serializes it", () => {
    const texts = new PropertiesText();
    texts.taken();
    const properties = { a: 1 };
    texts.remember(properties, "remembered");
    expect(texts.take(properties)).toBe("remembered");
    expect(texts.take(properties)).toBe('{"a":1}');
  });

  it("keeps nothing until a snapshot writer takes the texts", () => {
    const texts = new PropertiesText();
    const properties = { a: 1 };
    texts.remember(properties, "remembered");
    expect(texts.take(properties)).toBe('{"a":1}');
  });

  it("extends a remembered text by what enrichment adds", () => {
    const texts = new PropertiesText();
    texts.taken();
    const base = { $current_url: "https://x.example/" };
    texts.remember(base, "BASE-TEXT}");
    const added = { $browser: "Chrome" };
    const extended = Object.assign(Object.assign({}, base), added);
    texts.extend(base, added, extended);
    expect(texts.take(extended)).toBe('BASE-TEXT,"$browser":"Chrome"}');
  });

  it("always yields JSON.stringify of the extended object", () => {
    fc.assert(
      fc.property(object, object, (base, added) => {
        const texts = new PropertiesText();
        texts.taken();
        texts.remember(base, JSON.stringify(base));
        const extended = Object.assign(Object.assign({}, base), added);
        texts.extend(base, added, extended);
        expect(texts.take(extended)).toBe(JSON.stringify(extended));
      }),
      { numRuns: 2000 },
    );
  });
});

describe("checkEventSize with the properties' text", () => {
  it("measures the same bytes as the whole event's JSON", () => {
    const event = fc.record(
      { event: fc.string(), distinctId: fc.string(), environment: fc.option(fc.string(), { nil: undefined }), properties: object },
      { requiredKeys: ["properties"] },
    );
    fc.assert(
      fc.property(event, (e) => {
        const bytes = Buffer.byteLength(JSON.stringify(e), "utf8");
        const text = JSON.stringify(e.properties);
        const limits = (maxEventBytes: number) => ({ ...EVENT_LIMITS, maxEventBytes });
        expect(() => checkEventSize(e, limits(bytes), "input", text)).not.toThrow();
        expect(() => checkEventSize(e, limits(bytes - 1), "input", text)).toThrow(/PULSE_MAX_EVENT_BYTES/);
      }),
      { numRuns: 1000 },
    );
  });
});

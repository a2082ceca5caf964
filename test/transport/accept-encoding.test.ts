import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { acceptableCodings, acceptedWeight, accepts, negotiateEncoding } from "../../src/transport/accept-encoding.ts";

const OFFERED = ["br", "gzip"] as const;
const CODINGS = ["br", "gzip", "deflate", "zstd", "identity", "*"];

/** A weight as clients write it (`1`, `0.5`, `0.001`, `1.000`) and the number it stands for. */
const weight = fc.integer({ min: 0, max: 1000 }).map((thousandths) => {
  const text = thousandths === 1000 ? "1.000" : `0.${String(thousandths).padStart(3, "0")}`.replace(/0+$/, "").replace(/\.$/, "");
  return { text, value: thousandths / 1000 };
});
/** Optional whitespace, as RFC 9110 allows around `,` and `;`. */
const ows = fc.constantFrom("", " ", "  ", "\t");
/** A coding's name in any case. */
const codingName = fc.constantFrom(...CODINGS).chain((name) => fc.constantFrom(name, name.toUpperCase()));
/** One element of a well-formed header: `name`, or `name;q=weight`. */
const element = fc
  .record({ name: codingName, weight: fc.option(weight, { nil: undefined }), before: ows, after: ows })
  .map(({ name, weight, before, after }) => `${before}${name}${weight ? `${after};${before}q=${weight.text}` : ""}${after}`);
const header = fc.array(element, { maxLength: 6 }).map((elements) => elements.join(","));

describe("Accept-Encoding", () => {
  it.each<[string | undefined, string, boolean]>([
    [undefined, "br", false],
    ["", "br", false],
    ["gzip, br", "br", true],
    ["GZIP", "gzip", true],
    ["br;q=0", "br", false],
    ["br;Q=0", "br", false],
    ["br;q=0.000", "br", false],
    ["br;q=0.5", "br", true],
    ["br;q=1.0", "br", true],
    [" gzip ; q=0.5 ", "gzip", true],
    ["*", "gzip", true],
    ["*;q=0", "gzip", false],
    ["gzip;q=0, *", "gzip", false],
    ["*, gzip;q=0", "gzip", false],
    ["gzip, gzip;q=0", "gzip", false],
    ["identity", "gzip", false],
    // Weights that are not RFC 9110 qvalues refuse: the header cannot be trusted to mean yes.
    ["gzip;q=abc", "gzip", false],
    ["gzip;q=1.5", "gzip", false],
    ["gzip;q=-1", "gzip", false],
    ["gzip;q=0.0001", "gzip", false],
  ])("%j accepts %s: %s", (value, coding, expected) => {
    expect(accepts(value, coding)).toBe(expected);
  });

  it.each<[string | undefined, string | undefined]>([
    [undefined, undefined],
    ["gzip, deflate", "gzip"], // Node's fetch
    ["gzip, deflate, br, zstd", "br"], // browsers: equal weights, Pulse's preference
    ["gzip;q=1, br;q=0.8", "gzip"], // the client's preference first
    ["br;q=0, gzip;q=0.1", "gzip"],
    ["identity, gzip;q=0.5", undefined], // rather as it is
    ["identity;q=0.5, gzip", "gzip"],
    ["*;q=0", undefined],
    ["deflate", undefined],
  ])("%j negotiates %s", (value, expected) => {
    expect(negotiateEncoding(value, OFFERED)).toBe(expected);
  });

  it("reads any string without throwing, and answers only with what is offered, each once", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: "binary", maxLength: 200 }), header), (value) => {
        for (const coding of CODINGS) {
          const w = acceptedWeight(value, coding);
          expect(w >= 0 && w <= 1).toBe(true);
        }
        const acceptable = acceptableCodings(value, OFFERED);
        expect(new Set(acceptable).size).toBe(acceptable.length);
        for (const coding of acceptable) expect(OFFERED).toContain(coding);
      }),
    );
  });

  it("refuses a coding weighed q=0, wherever it stands and whatever else the header says (`*` included)", () => {
    fc.assert(
      fc.property(
        header,
        header,
        fc.constantFrom("br", "gzip"),
        fc.constantFrom("q=0", "Q=0", "q=0.", "q=0.0", "q=0.00", "q=0.000"),
        (before, after, coding, zero) => {
          const value = [before, `${coding};${zero}`, after].filter(Boolean).join(", ");
          expect(accepts(value, coding)).toBe(false);
          expect(acceptableCodings(value, OFFERED)).not.toContain(coding);
        },
      ),
    );
  });

  it("gives each named coding its weight, and orders what it accepts by weight, then by Pulse's preference", () => {
    const entries = fc.uniqueArray(fc.record({ name: fc.constantFrom("br", "gzip", "deflate"), weight }), {
      selector: (entry) => entry.name,
      maxLength: 3,
    });
    fc.assert(
      fc.property(entries, (named) => {
        const value = named.map(({ name, weight }) => `${name};q=${weight.text}`).join(", ");
        for (const { name, weight } of named) {
          expect(acceptedWeight(value, name)).toBe(weight.value);
          expect(accepts(value, name)).toBe(weight.value > 0);
        }
        const expected = named
          .filter((entry) => entry.weight.value > 0 && (OFFERED as readonly string[]).includes(entry.name))
          .sort((a, b) => b.weight.value - a.weight.value || OFFERED.indexOf(a.name as never) - OFFERED.indexOf(b.name as never))
          .map((entry) => entry.name);
        expect(acceptableCodings(value, OFFERED)).toEqual(expected);
      }),
    );
  });
});

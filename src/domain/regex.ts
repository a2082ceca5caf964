import { RE2JS } from "re2js";

/**
 * REGEX filters run inside every capture (a subscriber's filter is applied as the event is stored), so a pattern
 * must never cost more than its size says. RE2 (re2js, a JavaScript port of it) matches in time linear in the input
 * for every pattern it accepts: there is no backtracking to blow up. What is left is the size of the program a
 * pattern compiles to (a counted repetition `x{100}` is a hundred copies of `x`): matching costs about
 * input length × program size, and compiling costs about the program size. Both are bounded here, the program
 * before it is built.
 */

/** Characters in one REGEX pattern. */
export const MAX_REGEX_LENGTH = 256;

/**
 * RE2 instructions all the REGEX / NOT_REGEX patterns of one filter may compile to together (`^/docs/[a-z-]+$` is
 * about 15; `a{400}` is 400). With PULSE_MAX_REGEX_INPUT_LENGTH at 1024, a hostile filter within this costs about
 * 10 ms per event and 10 ms to compile on a 2-core machine; ordinary patterns take microseconds.
 */
export const MAX_FILTER_REGEX_SIZE = 500;

/** A compiled pattern: `test` reads at most the first `maxInputLength` characters of `value`. */
export interface LinearRegex {
  /** RE2 instructions; what the filter's budget counts. */
  readonly size: number;
  test(value: string, maxInputLength: number): boolean;
}

export type RegexCompilation = { readonly ok: true; readonly regex: LinearRegex } | { readonly ok: false; readonly reason: string };

/**
 * Compiles `pattern` (RE2 syntax) unless its estimated program exceeds `maxSize` instructions. Never throws.
 * Identical patterns share one compiled program and remember their last answer, so many subscribers with the same
 * pattern cost one match per event, not one each.
 */
export function compileLinearRegex(pattern: string, maxSize: number): RegexCompilation {
  const cached = compiled.get(pattern);
  if (cached) {
    compiled.delete(pattern);
    compiled.set(pattern, cached);
    return cached.size <= maxSize ? { ok: true, regex: cached } : tooLarge(cached.size, maxSize);
  }
  const estimate = estimateProgramSize(pattern);
  if (estimate > maxSize) return tooLarge(estimate, maxSize);
  let re2: RE2JS;
  try {
    re2 = RE2JS.compile(pattern);
  } catch (error) {
    return { ok: false, reason: syntaxProblem(error) };
  }
  const regex = new SharedRegex(re2);
  if (regex.size > maxSize) return tooLarge(regex.size, maxSize);
  compiled.set(pattern, regex);
  if (compiled.size > COMPILED_CACHE_SIZE) compiled.delete(compiled.keys().next().value!);
  return { ok: true, regex };
}

/** Distinct patterns kept compiled for sharing (least recently compiled dropped first; a filter keeps its own). */
const COMPILED_CACHE_SIZE = 1000;
const compiled = new Map<string, SharedRegex>();

class SharedRegex implements LinearRegex {
  readonly size: number;
  private lastValue: string | null = null;
  private lastMaxInputLength = 0;
  private lastResult = false;

  constructor(private readonly re2: RE2JS) {
    this.size = re2.programSize();
  }

  test(value: string, maxInputLength: number): boolean {
    // One event is offered to every subscriber in turn: the same string, usually the same object, comes back.
    if (value === this.lastValue && maxInputLength === this.lastMaxInputLength) return this.lastResult;
    const input = value.length > maxInputLength ? value.slice(0, maxInputLength) : value;
    // A matcher's find() runs RE2's backtracker or NFA, both linear and holding no state between calls. `test()`
    // would use the lazy DFA, whose state cache may grow to 8 MiB per pattern and which a hostile pattern makes
    // rebuild for nearly every character (slower than the NFA).
    const result = this.re2.matcher(input).find();
    this.lastValue = value;
    this.lastMaxInputLength = maxInputLength;
    this.lastResult = result;
    return result;
  }
}

function tooLarge(size: number, maxSize: number): RegexCompilation {
  return {
    ok: false,
    reason: `compiles to about ${size} RE2 instructions, more than the ${maxSize} left for this filter's patterns (a counted repetition such as {100} counts its expression 100 times)`,
  };
}

function syntaxProblem(error: unknown): string {
  const description =
    typeof (error as { getDescription?: unknown }).getDescription === "function"
      ? String((error as { getDescription: () => unknown }).getDescription())
      : error instanceof Error
        ? error.message
        : String(error);
  return `is not valid RE2 syntax (${description}); RE2 syntax is required: no lookaround (?=, (?!, (?<=, (?<!) and no backreferences (\\1), see https://github.com/google/re2/wiki/Syntax`;
}

/**
 * An upper estimate of the instructions RE2 compiles `pattern` to, read from the text without building anything:
 * one per literal, class or assertion, three per group, two per alternative, and a repetition multiplies what it
 * repeats. It reads classes, escapes, quoted `\Q...\E` text and flag groups as RE2 does (a property test checks
 * the estimate against RE2 on random patterns); were it ever short, the size is checked again once compiled.
 * Linear in the pattern's length.
 */
export function estimateProgramSize(pattern: string): number {
  // One frame per open group: the size so far and the size of its last item (what a repetition applies to).
  const frames: { total: number; last: number }[] = [{ total: 3, last: 0 }];
  const add = (size: number) => {
    const frame = frames[frames.length - 1]!;
    frame.total += size;
    frame.last = size;
  };
  /** The last item repeated at least `min` and at most `max` times (`max` Infinity for no upper bound). */
  const repeat = (min: number, max: number) => {
    const frame = frames[frames.length - 1]!;
    // RE2 writes out `min` copies, then one loop (unbounded) or max - min optional copies, each behind a branch.
    const optional = max === Infinity ? frame.last + 2 : (max - min) * (frame.last + 1);
    const repeated = Math.max(1, min * frame.last + optional);
    frame.total += repeated - frame.last;
    frame.last = repeated;
  };
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === "\\") {
      const next = pattern[i + 1];
      if (next === "Q") {
        const end = pattern.indexOf("\\E", i + 2);
        const stop = end === -1 ? pattern.length : end;
        // Literal characters; a repetition after \E applies to the last one only (or, when none, to what came before).
        const literals = stop - (i + 2);
        if (literals > 0) {
          frames[frames.length - 1]!.total += literals - 1;
          add(1);
        }
        i = end === -1 ? pattern.length : end + 2;
        continue;
      }
      i = skipEscape(pattern, i);
      add(1);
      continue;
    }
    if (c === "[") {
      i = skipClass(pattern, i);
      add(1);
      continue;
    }
    if (c === "(") {
      // A flags-only group such as (?i) is no item: a repetition after it applies to what came before.
      const flags = /^\(\?[A-Za-z-]*\)/.exec(pattern.slice(i, i + 16));
      if (flags) {
        i += flags[0].length;
        continue;
      }
      // Two capture instructions, and one more where the group is empty.
      frames.push({ total: 3, last: 0 });
      i++;
      continue;
    }
    if (c === ")") {
      if (frames.length > 1) {
        const group = frames.pop()!;
        add(group.total);
      }
      i++;
      continue;
    }
    if (c === "|") {
      const frame = frames[frames.length - 1]!;
      frame.total += 2;
      frame.last = 0;
      i++;
      continue;
    }
    if (c === "*" || c === "+" || c === "?") {
      repeat(c === "+" ? 1 : 0, c === "?" ? 1 : Infinity);
      i++;
      continue;
    }
    if (c === "{") {
      // RE2 refuses counts above 1000; larger ones are clamped here only to keep the arithmetic finite.
      const counted = /^\{(\d{1,7})(?:(,)(\d{0,7}))?\}/.exec(pattern.slice(i, i + 18));
      if (counted) {
        const min = Number(counted[1]);
        const max = counted[2] === undefined ? min : counted[3] ? Number(counted[3]) : Infinity;
        repeat(min, Math.max(min, max));
        i += counted[0].length;
        continue;
      }
    }
    add(1);
    i++;
  }
  while (frames.length > 1) {
    const group = frames.pop()!;
    add(group.total);
  }
  return frames[0]!.total;
}

/** Index after the escape starting at `start` (`\x{...}`, `\p{...}` and `\P{...}` run to their brace). */
function skipEscape(pattern: string, start: number): number {
  const kind = pattern[start + 1];
  if ((kind === "p" || kind === "P" || kind === "x") && pattern[start + 2] === "{") {
    const close = pattern.indexOf("}", start + 3);
    return close === -1 ? pattern.length : close + 1;
  }
  return Math.min(start + 2, pattern.length);
}

/**
 * Index after the character class starting at `start`, read as RE2 reads one: a `]` first is a literal, `[:name:]`
 * is a named class, `lo-hi` a range whose ends may be escapes or any character (`[` included).
 */
function skipClass(pattern: string, start: number): number {
  let i = start + 1;
  if (pattern[i] === "^") i++;
  let first = true;
  while (i < pattern.length) {
    if (pattern[i] === "]" && !first) return i + 1;
    first = false;
    if (pattern[i] === "[" && pattern[i + 1] === ":") {
      const close = pattern.indexOf(":]", i + 2);
      if (close !== -1) {
        i = close + 2;
        continue;
      }
    }
    i = pattern[i] === "\\" ? skipEscape(pattern, i) : i + 1;
    if (pattern[i] === "-" && i + 1 < pattern.length && pattern[i + 1] !== "]") {
      i = pattern[i + 1] === "\\" ? skipEscape(pattern, i + 1) : i + 2;
    }
  }
  return pattern.length;
}

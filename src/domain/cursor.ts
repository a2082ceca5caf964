import { badInput } from "./errors.ts";

/**
 * Cursors are opaque to clients. Inside, a cursor is the event's sequence number in the stream
 * (strictly increasing), written in base 36 behind a version prefix so a stray string is recognisable.
 * Sequence numbers stay below 2^53, so a JavaScript number holds them exactly.
 */
const PREFIX = "c1_";
const PATTERN = /^c1_[0-9a-z]{1,11}$/;

export function encodeCursor(seq: number): string {
  return PREFIX + seq.toString(36);
}

/** Decodes a cursor; a string this server could not have issued is `BAD_USER_INPUT`. */
export function decodeCursor(cursor: string, lastIssuedSeq: number): number {
  if (!PATTERN.test(cursor)) throw badInput(`after: "${cursor}" is not a Pulse cursor`, { field: "after" });
  const seq = parseInt(cursor.slice(PREFIX.length), 36);
  if (!Number.isSafeInteger(seq) || seq < 1 || seq > lastIssuedSeq) {
    throw badInput(`after: "${cursor}" is not a cursor this server issued`, { field: "after" });
  }
  return seq;
}

/** The position inside a well-formed cursor, or null; nothing is checked against what was issued. */
export function peekCursor(cursor: string): number | null {
  if (!PATTERN.test(cursor)) return null;
  const seq = parseInt(cursor.slice(PREFIX.length), 36);
  return Number.isSafeInteger(seq) && seq >= 1 ? seq : null;
}

/**
 * The error codes users see in `extensions.code`. Stable: clients branch on them.
 * - BAD_USER_INPUT: the request itself is wrong (a field, a filter, a cursor); retrying it unchanged fails again.
 * - UNAUTHENTICATED / FORBIDDEN: no or unknown key / a key without the right.
 * - RATE_LIMITED: over a limit; retry later.
 * - LAGGED: a subscriber fell behind; resume with `after: extensions.cursor`.
 * - UNAVAILABLE: a dependency is down; nothing was stored; retry.
 */
export type ErrorCode = "BAD_USER_INPUT" | "UNAUTHENTICATED" | "FORBIDDEN" | "RATE_LIMITED" | "LAGGED" | "UNAVAILABLE";

/** An error meant for the user: its message and extensions reach the client unmasked. */
export class PulseError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly extensions: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "PulseError";
  }
}

export function badInput(message: string, extensions: Record<string, unknown> = {}): PulseError {
  return new PulseError("BAD_USER_INPUT", message, extensions);
}

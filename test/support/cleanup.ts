/**
 * The one cleanup registry. Everything a test opens (servers, clients, sockets, child processes, temporary folders)
 * registers its closing with `onCleanup`; test/support/setup.ts runs `cleanup()` after every test, so a failing test
 * still leaves nothing behind and the suite cannot hang on it. No test file registers its own `afterEach` for this.
 */
const pending: (() => unknown)[] = [];

/** Runs `close` after the current test (newest first, so clients close before the server they talk to). */
export function onCleanup(close: () => unknown): void {
  pending.push(close);
}

/**
 * Closes everything registered, newest first. Every closer runs even if one throws; the failures are then thrown
 * together, so a leak that fails to close is reported rather than hidden.
 */
export async function cleanup(): Promise<void> {
  const errors: unknown[] = [];
  while (pending.length > 0) {
    const close = pending.pop()!;
    try {
      await close();
    } catch (error) {
      errors.push(error);
    }
  }
  if (errors.length > 0) throw new AggregateError(errors, "cleanup failed");
}

/**
 * Everything a test opens (servers, clients, sockets, child processes) registers its closing here; each test file
 * runs `afterEach(cleanup)`, so a failing test still leaves nothing behind and the suite cannot hang on it.
 */
const pending: (() => unknown)[] = [];

export function onCleanup(close: () => unknown): void {
  pending.push(close);
}

/** Closes everything registered, newest first (clients before the server they talk to). */
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

/**
 * Waiting, bounded: `waitFor` polls a condition, `within` bounds a promise, `deferred` exposes a promise's settle
 * functions, `sleep` pauses. Every wait in the tests goes through here, with a bound that fails the test naming
 * what it waited for (never a timing assertion).
 */

/** A promise with its settle functions exposed, for events a test waits on. */
export interface Deferred<T> {
  readonly promise: Promise<T>;
  readonly settled: boolean;
  resolve(value: T): void;
  reject(reason: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  let settled = false;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A deferred nobody awaits must not become an unhandled rejection.
  promise.catch(() => {});
  return {
    promise,
    get settled() {
      return settled;
    },
    resolve(value) {
      settled = true;
      resolve(value);
    },
    reject(reason) {
      settled = true;
      reject(reason);
    },
  };
}

/** Default bound of `waitFor`: generous, because the test machine is a shared, noisy 2-core box. */
export const DEFAULT_WAIT_MS = 10_000;

/**
 * Polls `condition` (sync or async) until it returns a truthy value, and returns that value. A throw from
 * `condition` fails at once (it means "this will never come"). Fails after `timeoutMs` (default 10 s) naming
 * `what` and the last value seen.
 */
export async function waitFor<T>(
  condition: () => T | Promise<T>,
  options: { timeoutMs?: number; intervalMs?: number; what?: string | (() => string) } = {},
): Promise<NonNullable<T>> {
  const { timeoutMs = DEFAULT_WAIT_MS, intervalMs = 10, what = "condition" } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const last = await condition();
    if (last) return last;
    if (Date.now() > deadline) {
      const described = typeof what === "function" ? what() : what;
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${described} (last value: ${JSON.stringify(last)})`);
    }
    await sleep(intervalMs);
  }
}

/** Rejects if `promise` does not settle within `timeoutMs` (default 10 s), naming `what`. */
export async function within<T>(promise: Promise<T>, what: string, timeoutMs = DEFAULT_WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

import { expect } from "vitest";
import { Ingest, type CaptureReceipt } from "../../src/app/ingest.ts";
import { OPEN_PRINCIPAL } from "../../src/auth/keys.ts";
import { EVENT_LIMITS } from "../support/settings.ts";
import { ManualClock } from "../../src/domain/clock.ts";
import { Hub, type HubOptions } from "../../src/domain/hub.ts";
import { CaptureRateLimiter } from "../../src/limits/capture-rate.ts";
import { PulseError } from "../../src/domain/errors.ts";
import type { JsonObject, StoredEvent } from "../../src/domain/event.ts";

/** The clock every domain test starts from (ManualClock's default as well). */
export const T0 = Date.UTC(2026, 0, 1);

let nextSeq = 1;

/** A positioned event with sensible defaults; `seq` counts up across calls unless given. */
export function storedEvent(overrides: Partial<StoredEvent> = {}): StoredEvent {
  const seq = overrides.seq ?? nextSeq++;
  return {
    id: `00000000-0000-4000-8000-${seq.toString(16).padStart(12, "0")}`,
    event: "$pageview",
    distinctId: "user-1",
    timestamp: T0,
    receivedAt: T0,
    properties: {},
    sessionId: null,
    environment: "production",
    ...overrides,
    seq,
  };
}

/** An event carrying only `properties`, for filter tests. */
export function withProperties(properties: JsonObject): StoredEvent {
  return storedEvent({ properties });
}

/**
 * Runs `run` and asserts it throws a PulseError with code BAD_USER_INPUT whose message names `field`
 * (and whose `extensions.field` is `extensionField`, `field` by default). Returns the error for further checks.
 */
export function expectBadInput(run: () => unknown, field: string, extensionField: string = field): PulseError {
  let thrown: unknown;
  try {
    run();
  } catch (error) {
    thrown = error;
  }
  return checkBadInput(thrown, field, extensionField);
}

/** As `expectBadInput`, for a promise that must reject. */
export async function expectBadInputAsync(run: () => Promise<unknown>, field: string, extensionField: string = field): Promise<PulseError> {
  let thrown: unknown;
  try {
    await run();
  } catch (error) {
    thrown = error;
  }
  return checkBadInput(thrown, field, extensionField);
}

function checkBadInput(thrown: unknown, field: string, extensionField: string): PulseError {
  expect(thrown, "expected a PulseError to be thrown").toBeInstanceOf(PulseError);
  const error = thrown as PulseError;
  expect(error.code).toBe("BAD_USER_INPUT");
  expect(error.message).toContain(field);
  expect(error.extensions["field"]).toBe(extensionField);
  return error;
}

/** Whether `promise` has settled after the microtask and macrotask queues drained once. */
export async function isSettled(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return settled;
}

const unlimited = new CaptureRateLimiter({ ratePerSecond: Number.MAX_SAFE_INTEGER, burst: 0 });

/**
 * Captures into `hub` through the application's one ingest path, as an open server's caller (default event limits,
 * no rate limit): what a domain test needs to put validated events into the stream.
 */
export function captureInto(
  hub: Hub,
  inputs: readonly unknown[],
  options: { readonly batch?: boolean; readonly maxBatch?: number } = {},
): Promise<CaptureReceipt> {
  const ingest = new Ingest({
    replication: hub.replication,
    clock: hub.clock,
    limits: EVENT_LIMITS,
    maxBatch: options.maxBatch ?? Number.MAX_SAFE_INTEGER,
    rateLimiter: unlimited,
  });
  return ingest.capture(OPEN_PRINCIPAL, inputs, { batch: options.batch ?? true, address: "127.0.0.1" });
}

/** A hub on a manual clock at T0, small by default (`overrides` for what a test needs), and that clock. */
export function createHub(overrides: Partial<HubOptions> = {}): { hub: Hub; clock: ManualClock } {
  const clock = new ManualClock(T0);
  const hub = new Hub({
    bufferSize: 5,
    liveWindowSeconds: 60,
    dashboardWindowSeconds: 60,
    subscriberQueue: 10,
    personsCapacity: 100,
    clock,
    ...overrides,
  });
  return { hub, clock };
}

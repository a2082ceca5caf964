/**
 * Events as the tests capture and read them over GraphQL: the `Event` selection, capture inputs (`pageview`,
 * `anEvent`), the capture and subscription operations, `recentEvents`, `realtimeMetrics`, `waitForActive` (the way
 * to know a subscription has started), `captureLoop` (captures in flight while a test subscribes),
 * `captureUntilLagged` (captures until a reader that stopped reading has overflowed) and `captureSequence` (a
 * numbered sequence captured one by one, each retried until stored, across restarts).
 */
import { randomUUID } from "node:crypto";
import { gql, gqlData, type StreamTransport } from "./clients.ts";
import { scrape } from "./metrics.ts";
import { onCleanup } from "./cleanup.ts";
import { sleep, waitFor } from "./wait.ts";

/** Every field of `Event`, person included: what the tests select. */
export const EVENT_FIELDS = `
  id event distinctId timestamp properties sessionId environment cursor
  person { distinctId properties firstSeen lastSeen }
`;

export interface EventPayload {
  id: string;
  event: string;
  distinctId: string;
  timestamp: string;
  properties: Record<string, unknown>;
  sessionId: string | null;
  environment: string;
  cursor: string;
  person: { distinctId: string; properties: Record<string, unknown>; firstSeen: string; lastSeen: string } | null;
}

export interface CaptureInput {
  id?: string;
  event: string;
  distinctId: string;
  timestamp?: string;
  properties?: Record<string, unknown>;
  sessionId?: string | null;
  environment?: string;
}

export interface CaptureResult {
  accepted: number;
  duplicates: number;
  ids: string[];
}

/** A `$pageview` input with a fresh id; `n` goes into its properties so tests can tell events apart. */
export function pageview(n: number, overrides: Partial<CaptureInput> = {}): CaptureInput {
  return {
    id: randomUUID(),
    event: "$pageview",
    distinctId: `user-${n % 7}`,
    properties: { n, $current_url: `https://shop.example/p/${n}` },
    ...overrides,
  };
}

/** A valid capture input with only what is required: a `$pageview` of user-1, no id. */
export const anEvent = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  event: "$pageview",
  distinctId: "user-1",
  ...overrides,
});

/** `captureEvent` selecting every field of the event (EVENT_FIELDS). */
export const CAPTURE_EVENT = `mutation ($input: CaptureEventInput!) { captureEvent(input: $input) { ${EVENT_FIELDS} } }`;
export const CAPTURE_EVENTS = `mutation ($inputs: [CaptureEventInput!]!) { captureEvents(inputs: $inputs) { accepted duplicates ids } }`;
/** `captureEvent` selecting only `id environment`: what the limit and key tests need to see. */
export const CAPTURE = `mutation($input: CaptureEventInput!) { captureEvent(input: $input) { id environment } }`;
const CAPTURE_ID = `mutation($input: CaptureEventInput!) { captureEvent(input: $input) { id } }`;
/** `events` with an optional filter, selecting `id event environment`. */
export const SUBSCRIBE = `subscription($filter: EventFilter) { events(filter: $filter) { id event environment } }`;

export async function captureEvent(baseUrl: string, input: CaptureInput): Promise<EventPayload> {
  const data = await gqlData<{ captureEvent: EventPayload }>(baseUrl, CAPTURE_EVENT, { input });
  return data.captureEvent;
}

export async function captureEvents(baseUrl: string, inputs: CaptureInput[]): Promise<CaptureResult> {
  const data = await gqlData<{ captureEvents: CaptureResult }>(baseUrl, CAPTURE_EVENTS, { inputs });
  return data.captureEvents;
}

/** `recentEvents` (newest first) with the given selection. */
export async function recentEvents(
  baseUrl: string,
  limit = 100,
  filter?: unknown,
  fields = "id cursor properties",
): Promise<EventPayload[]> {
  const data = await gqlData<{ recentEvents: EventPayload[] }>(
    baseUrl,
    `query ($limit: Int, $filter: EventFilter) { recentEvents(limit: $limit, filter: $filter) { ${fields} } }`,
    { limit, filter },
  );
  return data.recentEvents;
}

export interface RealtimeMetrics {
  totalConnections: number;
  activeConnections: number;
  eventsPerSecond: number;
  eventsTotal: number;
}

export async function realtimeMetrics(baseUrl: string): Promise<RealtimeMetrics> {
  const data = await gqlData<{ realtimeMetrics: RealtimeMetrics }>(
    baseUrl,
    "{ realtimeMetrics { totalConnections activeConnections eventsPerSecond eventsTotal } }",
  );
  return data.realtimeMetrics;
}

/** Waits (bounded) until the server counts exactly `count` open subscriptions: the way to know a subscription has started. */
export async function waitForActive(baseUrl: string, count: number): Promise<RealtimeMetrics> {
  let last: RealtimeMetrics | undefined;
  return waitFor(
    async () => {
      last = await realtimeMetrics(baseUrl);
      return last.activeConnections === count ? last : null;
    },
    { what: () => `activeConnections === ${count} (last: ${JSON.stringify(last)})` },
  );
}

/**
 * Captures batches back to back from `workers` concurrent senders until `stop()` (or `maxEvents`), so a test can
 * start a subscription while captures are in flight. `stop()` waits for the batches in flight and returns how many
 * events were captured.
 */
export function captureLoop(
  baseUrl: string,
  options: { batchSize?: number; workers?: number; maxEvents?: number } = {},
): { readonly captured: number; stop(): Promise<number> } {
  const { batchSize = 20, workers = 2, maxEvents = 5000 } = options;
  let stopped = false;
  let captured = 0;
  let next = 0;
  const worker = async () => {
    while (!stopped && next < maxEvents) {
      const inputs = Array.from({ length: batchSize }, () => pageview(next++));
      const result = await captureEvents(baseUrl, inputs);
      captured += result.accepted;
    }
  };
  const running = Promise.all(Array.from({ length: workers }, worker));
  // Surfaced by stop(); never an unhandled rejection meanwhile, and never left running after a failed test.
  running.catch(() => {});
  onCleanup(() => {
    stopped = true;
    return running.catch(() => {});
  });
  return {
    get captured() {
      return captured;
    },
    async stop() {
      stopped = true;
      await running;
      return captured;
    },
  };
}

/**
 * Captures batches (`capture(from, count)`, events numbered from 1, `count` of them) until the one subscription on
 * `transport`, whose reader has stopped reading, has overflowed its queue, and returns how many it captured. How
 * much a socket holds before it backs up is the kernel's business; once a whole batch goes by with nothing
 * delivered, more events than the queue holds (PULSE_SUBSCRIBER_QUEUE, under `count`) were offered to it, so it
 * will be ended with LAGGED as soon as it reads again.
 */
export async function captureUntilLagged(
  baseUrl: string,
  transport: StreamTransport,
  capture: (from: number, count: number) => Promise<unknown>,
  count = 25,
): Promise<number> {
  const delivered = async () => (await scrape(baseUrl)).value("pulse_events_delivered_total", { transport });
  for (let captured = 0; captured < 20_000;) {
    const before = await delivered();
    await capture(captured + 1, count);
    captured += count;
    if ((await delivered()) === before) return captured;
  }
  throw new Error(`the ${transport} subscription still takes events after 20,000 of them`);
}

/** The id of event `n` of a `captureSequence`: the same on every retry, so a retry of a stored event is a duplicate. */
export const sequenceId = (n: number): string => `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;

/** The number a `captureSequence` event carries in `properties.n`. */
export const sequenceNumber = (event: { properties: Record<string, unknown> }): number => event.properties["n"] as number;

export interface CaptureSequence {
  /** Events 1 to `acknowledged` are stored: the server answered each with its id. */
  readonly acknowledged: number;
  /** Resolves with `acknowledged` once `total` are acknowledged or `stop()` was called. */
  readonly done: Promise<number>;
  /** Captures nothing new once the event in flight is acknowledged; resolves with `acknowledged`. */
  stop(): Promise<number>;
}

/**
 * Captures `event` 1, 2, 3, ... (`properties.n`, id `sequenceId(n)`) one at a time, as a producer that must lose
 * nothing across a restart does: each one is sent again, with the same id, until the server acknowledges it (a
 * refused connection, a 503 while Pulse starts or stops, an answer lost with a closing connection, 5 s without an
 * answer), then the next. At most one capture is in flight at any moment, so an event acknowledged after a moment
 * T was captured no earlier than the one in flight at T. Runs until `total` (default: until stopped); stopped by
 * `cleanup()`.
 */
export function captureSequence(baseUrl: string, options: { event?: string; total?: number } = {}): CaptureSequence {
  const { event = "tick", total = Infinity } = options;
  let stopping = false;
  let acknowledged = 0;
  const capture = async (n: number): Promise<boolean> => {
    try {
      const input: CaptureInput = { id: sequenceId(n), event, distinctId: "producer", properties: { n } };
      const result = await gql<{ captureEvent: { id: string } | null }>(
        baseUrl,
        CAPTURE_ID,
        { input },
        { signal: AbortSignal.timeout(5_000) },
      );
      return result.data?.captureEvent?.id === sequenceId(n);
    } catch {
      return false;
    }
  };
  let abandoned = false;
  const done = (async () => {
    while (!stopping && acknowledged < total) {
      const n = acknowledged + 1;
      while (!abandoned && !(await capture(n))) await sleep(10);
      if (abandoned) break;
      acknowledged = n;
      // A steady pace rather than as fast as the server answers.
      await sleep(10);
    }
    return acknowledged;
  })();
  // After a failed test: stop retrying too, the server may never answer again.
  onCleanup(() => {
    stopping = abandoned = true;
    return done;
  });
  return {
    get acknowledged() {
      return acknowledged;
    },
    done,
    stop: () => {
      stopping = true;
      return done;
    },
  };
}

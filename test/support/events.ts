/**
 * Events as the tests capture and read them over GraphQL: the `Event` selection, capture inputs (`pageview`,
 * `anEvent`), the capture and subscription operations, `recentEvents`, `realtimeMetrics`, `waitForActive` (the way
 * to know a subscription has started) and `captureLoop` (captures in flight while a test subscribes).
 */
import { randomUUID } from "node:crypto";
import { gqlData } from "./clients.ts";
import { onCleanup } from "./cleanup.ts";
import { waitFor } from "./wait.ts";

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

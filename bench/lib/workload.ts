import { randomUUID } from "node:crypto";

/**
 * The workload every server sees: the same capture bodies, the same subscription, the same frames.
 * Pulse and the naive server answer the GraphQL bodies; raw-ws and raw-http only parse them.
 */

/** The selection every fan-out subscriber asks for (what a live event feed shows). */
export const EVENT_SELECTION = "id event distinctId timestamp properties cursor";

export const SUBSCRIPTION = `subscription ($filter: EventFilter) { events(filter: $filter) { ${EVENT_SELECTION} } }`;

export const CAPTURE_EVENTS = "mutation ($inputs: [CaptureEventInput!]!) { captureEvents(inputs: $inputs) { accepted } }";
export const CAPTURE_EVENT = "mutation ($input: CaptureEventInput!) { captureEvent(input: $input) { id cursor } }";

/** Subscribers of `filtered_10k` are spread over this many buckets: an event matches 1 % of them. */
export const BUCKETS = 100;

export interface CaptureInput {
  event: string;
  distinctId: string;
  properties: Record<string, unknown>;
}

/** The User-Agent the ingest load sends: a current desktop Chrome, what most page views carry. */
export const BROWSER_USER_AGENT =
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";

/** Referrers of the page views, in turn: a search engine, a site by name, one by domain, none. */
const REFERRERS = ["https://www.google.com/", "https://news.ycombinator.com/item?id=1", "https://blog.example.org/post", "$direct"];

/**
 * A `$pageview` of ordinary size (~250 bytes of properties), as a page tracker sends it: the URL, path and referrer,
 * no browser or OS (Pulse derives them from the User-Agent). `bucket` routes it in `filtered_10k`; `t` carries the
 * load generator's send time in `latency_1k` (a number, so it is found in a frame without parsing it).
 */
export function pageview(n: number, bucket = n % BUCKETS, t = 0): CaptureInput {
  return {
    event: "$pageview",
    distinctId: `user-${n % 997}`,
    properties: {
      t,
      bucket,
      tag: `e${n}`,
      $current_url: `https://shop.example/products/${n % 50}?ref=bench`,
      $pathname: `/products/${n % 50}`,
      $referrer: REFERRERS[n % REFERRERS.length]!,
      $screen_width: 1920,
      plan: "pro",
    },
  };
}

/**
 * The `events` result a baseline server sends for a captured input: what Pulse's frame carries for the bench's
 * selection (EVENT_SELECTION), with a fresh id and the baseline's own position as cursor.
 */
export function eventResult(input: CaptureInput, position: number): { data: { events: Record<string, unknown> } } {
  return {
    data: {
      events: {
        id: randomUUID(),
        event: input.event,
        distinctId: input.distinctId,
        timestamp: new Date().toISOString(),
        properties: input.properties,
        cursor: `c1_${position.toString(36)}`,
      },
    },
  };
}

export function captureEventsBody(inputs: readonly CaptureInput[]): string {
  return JSON.stringify({ query: CAPTURE_EVENTS, variables: { inputs } });
}

export function captureEventBody(input: CaptureInput): string {
  return JSON.stringify({ query: CAPTURE_EVENT, variables: { input } });
}

/**
 * Subscriber `i`'s filter in `filtered_10k`: its bucket, and a condition on `tag` that every event passes but that
 * makes each of the 10,000 filters distinct (no two subscribers can share a compiled predicate or a result).
 */
export function distinctFilter(i: number): Record<string, unknown> {
  return {
    properties: [
      { property: "bucket", operator: "EQUALS", value: i % BUCKETS },
      { property: "tag", operator: "NOT_EQUALS", value: `s${i}` },
    ],
  };
}

/** The bucket every event of a `matching` fan-out carries; non-matching subscribers filter on the next one. */
export const MATCHING_BUCKET = 0;

/** Whether subscriber `i` of a `matching` fan-out matches its events: `share` of them (in hundredths), spread evenly. */
function matches(i: number, share: number): boolean {
  return i % 100 < Math.round(share * 100);
}

/**
 * Subscriber `i`'s filter in a fan-out where `share` (0–1) of the subscribers match every event: the matching
 * bucket or the next one, and a condition on `tag` every event passes that makes each filter distinct.
 */
export function matchingFilter(i: number, share: number): Record<string, unknown> {
  return {
    properties: [
      { property: "bucket", operator: "EQUALS", value: matches(i, share) ? MATCHING_BUCKET : MATCHING_BUCKET + 1 },
      { property: "tag", operator: "NOT_EQUALS", value: `s${i}` },
    ],
  };
}

/** How many of `count` subscribers match in a fan-out of `share`. */
export function matchingCount(count: number, share: number): number {
  const perHundred = Math.round(share * 100);
  return Math.floor(count / 100) * perHundred + Math.min(count % 100, perHundred);
}

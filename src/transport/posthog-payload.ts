import { z } from "zod";
import { badInput, PulseError } from "../domain/errors.ts";
import type { JsonObject } from "../domain/event.ts";

/**
 * PostHog's capture payloads, read into Pulse's captures. Pure: the HTTP side (paths, bodies, compression, keys)
 * is in posthog.ts. Shapes accepted, as PostHog's own capture service accepts them:
 * - `{ api_key | token, batch: [event, ...], sent_at? }` (posthog-node, `/batch/`),
 * - an array of events (posthog-js),
 * - a single event object (`/capture/`, `/e/`).
 */

/** A type error that says "is required" when the field is missing. */
const must = (what: string) => ({ error: (issue: { input?: unknown }) => (issue.input === undefined ? "is required" : `must be ${what}`) });
const object = () => z.record(z.string(), z.unknown(), must("a JSON object"));

/** One PostHog event as the SDKs send it; unknown fields (`type`, `library`, ...) are ignored. */
const postHogEvent = z.looseObject(
  {
    event: z.string(must("a string")),
    distinct_id: z.union([z.string(), z.number()], must("a string")).nullish(),
    uuid: z.string(must("a string")).nullish(),
    properties: object().nullish(),
    timestamp: z.string(must("an ISO-8601 date-time string")).nullish(),
    offset: z.number(must("a number of milliseconds")).nullish(),
    $set: object().nullish(),
    $set_once: object().nullish(),
    api_key: z.string(must("a string")).nullish(),
    token: z.string(must("a string")).nullish(),
    sent_at: z.string().nullish().catch(null),
  },
  must("a JSON object (a PostHog event)"),
);
type PostHogEvent = z.infer<typeof postHogEvent>;

const batchEnvelope = z.looseObject({
  batch: z.array(z.unknown(), must("an array of events")),
  api_key: z.string(must("a string")).nullish(),
  token: z.string(must("a string")).nullish(),
  sent_at: z.string().nullish().catch(null),
});

/** A request's events with what applies to all of them. */
export interface PostHogPayload {
  /** The events, unvalidated, in order; `location(i)` names event i in error messages (`batch[3]`, `event`). */
  readonly events: readonly unknown[];
  readonly location: (index: number) => string;
  /** The envelope's `api_key`/`token` (a batch), if any. */
  readonly apiKey: string | undefined;
  /** The envelope's `sent_at` (a batch), if any; epoch ms. */
  readonly sentAt: number | undefined;
}

/** Reads the decoded JSON body into its events; a body of another shape is BAD_USER_INPUT. */
export function readPayload(body: unknown): PostHogPayload {
  if (Array.isArray(body)) {
    return { events: body, location: (i) => `[${i}]`, apiKey: undefined, sentAt: undefined };
  }
  if (body !== null && typeof body === "object" && "batch" in body) {
    const parsed = batchEnvelope.safeParse(body);
    if (!parsed.success) throw fieldError(parsed.error.issues[0]!, "");
    return {
      events: parsed.data.batch,
      location: (i) => `batch[${i}]`,
      apiKey: parsed.data.api_key ?? parsed.data.token ?? undefined,
      sentAt: parseSentAt(parsed.data.sent_at),
    };
  }
  if (body !== null && typeof body === "object" && "event" in body) {
    return { events: [body], location: () => "event", apiKey: undefined, sentAt: undefined };
  }
  throw badInput('The body must be a PostHog event, an array of events, or { "api_key", "batch": [...] }', { field: "body" });
}

/** What `toCaptureInputs` needs besides the payload. */
export interface CaptureContext {
  /** Server receive time, epoch ms. */
  readonly now: number;
  /** The key's environment scope, which wins over `properties.$environment`. */
  readonly environment: string | null;
  /** `sent_at` from outside the body (posthog-js puts it in the `_` query parameter), epoch ms. */
  readonly sentAt: number | undefined;
}

/**
 * Maps every event onto Pulse's capture input, checking PostHog's own fields (all or nothing, like `captureEvents`):
 * `uuid` → `id`, `distinct_id` (or `properties.distinct_id`) → `distinctId`, `properties.$session_id` → `sessionId`
 * (by the ingest's defaults), environment = the key's scope, else `properties.$environment`, else the default.
 * Top-level `$set`/`$set_once` join the properties. The timestamp is corrected for client clock skew as PostHog does
 * (see `eventTime`). The inputs are then validated by the one ingest path with the configured limits;
 * `describeError` names its errors in PostHog's terms (`batch[2].distinct_id must not be empty`).
 */
export function toCaptureInputs(
  payload: PostHogPayload,
  context: CaptureContext,
): { readonly inputs: Record<string, unknown>[]; readonly describeError: (error: unknown, index: number) => unknown } {
  const inputs = payload.events.map((raw, index): Record<string, unknown> => {
    const where = payload.location(index);
    const parsed = postHogEvent.safeParse(raw);
    if (!parsed.success) throw fieldError(parsed.error.issues[0]!, where);
    const event = parsed.data;
    const properties = { ...(event.properties ?? {}) } as JsonObject;
    if (event.$set && properties["$set"] === undefined) properties["$set"] = event.$set as JsonObject;
    if (event.$set_once && properties["$set_once"] === undefined) properties["$set_once"] = event.$set_once as JsonObject;
    const propertyEnvironment = properties["$environment"];
    const distinctId = event.distinct_id ?? properties["distinct_id"];
    if (distinctId == null) throw badInput(`${where}.distinct_id is required`, { field: "distinct_id" });
    return {
      id: event.uuid,
      event: event.event,
      distinctId: typeof distinctId === "number" ? String(distinctId) : distinctId,
      timestamp: eventTime(event, properties, where, context),
      properties,
      environment: context.environment ?? (typeof propertyEnvironment === "string" ? propertyEnvironment : undefined),
    };
  });
  return { inputs, describeError: (error, index) => renamed(error, payload.location(index)) };
}

/** The one key a request carries: the envelope's, else the events' (`api_key`, `token`, `properties.token`). */
export function requestKey(payload: PostHogPayload): string | undefined {
  const keys = new Set<string>();
  if (payload.apiKey) keys.add(payload.apiKey);
  for (const raw of payload.events) {
    if (raw === null || typeof raw !== "object") continue;
    const event = raw as { api_key?: unknown; token?: unknown; properties?: { token?: unknown } | null };
    const key = event.api_key ?? event.token ?? event.properties?.token;
    if (typeof key === "string" && key !== "") keys.add(key);
  }
  // PostHog refuses this too: one request is authorized once, so its events must share the key.
  if (keys.size > 1) throw badInput("The events of one request carry different api keys", { field: "api_key" });
  return keys.values().next().value;
}

/**
 * The event's time, corrected as PostHog corrects it (its `parseEventTimestamp`):
 * - `timestamp` and `sent_at` (and no `properties.$ignore_sent_at: true`): the client's clock may be off, but the gap
 *   between creating and sending the event is not, so the event happened at `now + (timestamp - sent_at)`;
 * - `timestamp` alone: as given;
 * - `offset` alone: `now - offset` milliseconds;
 * - neither: undefined, i.e. the receive time.
 * A `timestamp` that is not a date is BAD_USER_INPUT (PostHog would silently use the receive time).
 * The result still goes through the ingest's validation, which clamps a time more than 23 h ahead to now.
 */
export function eventTime(
  event: Pick<PostHogEvent, "timestamp" | "offset" | "sent_at">,
  properties: JsonObject,
  where: string,
  context: Pick<CaptureContext, "now" | "sentAt">,
): string | undefined {
  if (event.timestamp != null) {
    const timestamp = Date.parse(event.timestamp);
    if (Number.isNaN(timestamp)) {
      throw badInput(`${where}.timestamp "${event.timestamp}" is not a date-time`, { field: "timestamp" });
    }
    const sentAt = properties["$ignore_sent_at"] === true ? undefined : (context.sentAt ?? parseSentAt(event.sent_at));
    return new Date(sentAt === undefined ? timestamp : context.now + (timestamp - sentAt)).toISOString();
  }
  if (event.offset != null) return new Date(context.now - event.offset).toISOString();
  return undefined;
}

/** An ISO `sent_at`; an unreadable one is ignored, as PostHog ignores it. */
export function parseSentAt(value: string | null | undefined): number | undefined {
  if (!value) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

/** posthog-js sends `sent_at` as `_=<epoch ms>` in the query string; like PostHog, values before 2021 are ignored (seconds from old SDKs). */
export function parseQuerySentAt(value: string | null): number | undefined {
  if (!value || !/^\d+$/.test(value)) return undefined;
  const ms = Number(value);
  return ms > Date.UTC(2021, 0, 1) ? ms : undefined;
}

// Pulse's validator names its own fields; users of the PostHog endpoints know PostHog's.
const POSTHOG_FIELD: Record<string, string> = {
  id: "uuid",
  distinctId: "distinct_id",
  sessionId: "properties.$session_id",
  environment: "properties.$environment",
};

function renamed(error: unknown, where: string): unknown {
  if (!(error instanceof PulseError) || error.code !== "BAD_USER_INPUT") return error;
  const field = typeof error.extensions["field"] === "string" ? error.extensions["field"] : "";
  const postHogField = POSTHOG_FIELD[field] ?? field;
  const detail = error.message.startsWith(`${field} `) ? error.message.slice(field.length + 1) : error.message;
  return badInput(`${where}.${postHogField} ${detail}`, { field: postHogField });
}

function fieldError(issue: z.core.$ZodIssue, where: string): PulseError {
  const field = issue.path.map(String).join(".");
  const location = [where, field].filter(Boolean).join(".") || "body";
  return badInput(`${location} ${issue.message}`, { field: field || where || "body" });
}

import { z } from "zod";
import { badInput } from "./errors.ts";
import { checkEventSize, checkProperties, type EventLimits } from "./event-limits.ts";

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** An event as the hub keeps it. Times are epoch milliseconds. */
export interface StoredEvent {
  readonly id: string;
  readonly event: string;
  readonly distinctId: string;
  /** The event's own time (client-supplied, clamped), what `Event.timestamp` shows. */
  readonly timestamp: number;
  /** When this server received it: liveness, persons and dashboard windows count by it. */
  readonly receivedAt: number;
  readonly properties: JsonObject;
  readonly sessionId: string | null;
  readonly environment: string;
  /** Position in the stream: strictly increasing, the cursor's content. */
  readonly seq: number;
}

/** A validated capture, before the hub gives it a position. */
export type CapturedEvent = Omit<StoredEvent, "seq" | "id"> & { readonly id: string | null };

export const DEFAULT_ENVIRONMENT = "production";

/** Events dated further ahead than this are clamped to the server's time (client clocks lie). */
export const MAX_FUTURE_SKEW_MS = 23 * 60 * 60 * 1000;

/** UUIDs of any version, case-insensitive: what PostHog SDKs and `crypto.randomUUID()` produce. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * U+0000 is refused in the fields stored as text columns: PostgreSQL's text cannot hold it, and an event the
 * snapshot store cannot write would fail every snapshot after it. (Inside `properties` it is fine: they are stored
 * as JSON text, where it is escaped.)
 */
const NO_NUL = { message: "must not contain the NUL character (U+0000)" };
const hasNoNul = (s: string) => !s.includes("\u0000");

const nonEmpty = (max: number) =>
  z
    .string({ error: "must be a string" })
    .refine((s) => s.trim().length > 0, { message: "must not be empty" })
    .refine((s) => s.length <= max, { message: `must be at most ${max} characters` })
    .refine(hasNoNul, NO_NUL);

const captureInput = z.object({
  id: z.string({ error: "must be a string" }).regex(UUID, { message: "must be a UUID" }).nullish(),
  event: nonEmpty(200),
  distinctId: nonEmpty(200),
  timestamp: z.iso.datetime({ offset: true, error: "must be an ISO-8601 date-time with a time zone, e.g. 2026-01-01T12:00:00Z" }).nullish(),
  properties: z
    .custom<JsonObject>((v) => v !== null && typeof v === "object" && !Array.isArray(v), { message: "must be a JSON object" })
    .nullish(),
  sessionId: z
    .string({ error: "must be a string" })
    .max(200, { message: "must be at most 200 characters" })
    .refine(hasNoNul, NO_NUL)
    .nullish(),
  environment: nonEmpty(100).nullish(),
});

export type CaptureInput = z.input<typeof captureInput>;

/**
 * Validates and normalises one capture input received at `receivedAt`.
 * Throws `BAD_USER_INPUT` naming the field (and `index`, for an item of a batch).
 * Defaults: `timestamp` = receive time, `environment` = "production", `properties` = {} (null too),
 * `sessionId` = `properties.$session_id` when that is a string. A timestamp more than 23 h ahead is clamped to now;
 * one older than `limits.maxEventAgeMs` is refused, and so are properties or an event past the other `limits`.
 */
export function validateCapture(input: unknown, receivedAt: number, index: number | undefined, limits: EventLimits): CapturedEvent {
  const parsed = captureInput.safeParse(input);
  const where = (field: string) => (index === undefined ? field : `inputs[${index}].${field}`);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.map(String).join(".") || "input";
    throw badInput(`${where(field)} ${issue.message}`, { field, ...(index === undefined ? {} : { index }) });
  }
  const value = parsed.data;
  const properties = value.properties ?? {};
  checkProperties(properties, limits, where("properties"));
  checkEventSize(value, limits, index === undefined ? "input" : `inputs[${index}]`);
  const propertySession = properties["$session_id"];
  let timestamp = value.timestamp ? Date.parse(value.timestamp) : receivedAt;
  if (timestamp - receivedAt > MAX_FUTURE_SKEW_MS) timestamp = receivedAt;
  if (receivedAt - timestamp > limits.maxEventAgeMs) {
    throw badInput(
      `${where("timestamp")} ${value.timestamp} is older than ${limits.maxEventAgeMs / 1000} seconds (PULSE_MAX_EVENT_AGE_SECONDS)`,
      {
        field: "timestamp",
        ...(index === undefined ? {} : { index }),
        limit: limits.maxEventAgeMs / 1000,
      },
    );
  }
  return {
    id: value.id ? value.id.toLowerCase() : null,
    event: value.event,
    distinctId: value.distinctId,
    timestamp,
    receivedAt,
    properties,
    sessionId: value.sessionId ?? (typeof propertySession === "string" && hasNoNul(propertySession) ? propertySession : null),
    environment: value.environment ?? DEFAULT_ENVIRONMENT,
  };
}

/** `properties.$pathname`, else the path of `properties.$current_url`, else null. */
export function pagePath(event: Pick<StoredEvent, "properties">): string | null {
  const pathname = event.properties["$pathname"];
  if (typeof pathname === "string" && pathname.length > 0) return pathname;
  const url = event.properties["$current_url"];
  if (typeof url !== "string" || url.length === 0) return null;
  try {
    return new URL(url, "http://pulse.invalid").pathname;
  } catch {
    return null;
  }
}

export function currentUrl(event: Pick<StoredEvent, "properties">): string | null {
  const url = event.properties["$current_url"];
  return typeof url === "string" ? url : null;
}

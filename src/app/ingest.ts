import { captureRateKey, type Principal } from "../auth/keys.ts";
import type { Clock } from "../domain/clock.ts";
import { badInput } from "../domain/errors.ts";
import { validateCapture, type CapturedEvent, type StoredEvent } from "../domain/event.ts";
import type { EventLimits } from "../domain/event-limits.ts";
import type { Enrichment } from "../enrich/enrichment.ts";
import type { Replication } from "../domain/replication.ts";
import type { CaptureRateLimiter } from "../limits/capture-rate.ts";
import { forbiddenEnvironment } from "./scope.ts";

export interface IngestOptions {
  readonly replication: Replication;
  readonly clock: Clock;
  /** The configured event limits (PULSE_MAX_EVENT_BYTES, PULSE_MAX_PROPERTY_*, PULSE_MAX_EVENT_AGE_SECONDS). */
  readonly limits: EventLimits;
  /** The most inputs one capture request may carry (PULSE_MAX_BATCH). */
  readonly maxBatch: number;
  readonly rateLimiter: CaptureRateLimiter;
  /** Properties derived from the request and the event (src/enrich/enrichment.ts); default: none, events as sent. */
  readonly enrichment?: Enrichment;
}

/** How one capture request arrived. */
export interface CaptureRequest {
  /** A batch names its inputs by index in errors (`inputs[2].event`); a single capture does not. */
  readonly batch: boolean;
  /**
   * The client's IP address: the socket's peer, or behind a trusted proxy the address it forwarded
   * (PULSE_TRUSTED_PROXIES; see TrustedProxies in src/enrich/client-address.ts). Whom an open server charges the
   * capture rate to, and whose country the events get.
   */
  readonly address: string;
  /** The request's User-Agent header: the browser, OS and device type the events get. */
  readonly userAgent?: string | undefined;
  /** The request's name for its list of inputs, in the PULSE_MAX_BATCH error; default "inputs". */
  readonly listField?: string;
  /**
   * Rewrites a BAD_USER_INPUT about input `index` in the request's own terms (PostHog's field names and places).
   * Without it, errors name GraphQL's input fields.
   */
  readonly describeError?: (error: unknown, index: number) => unknown;
}

/**
 * What a capture returns: for every input, in order, the event as the caller sent it (normalized) with the id and
 * position it is stored under. A duplicate's entry is the caller's own input with the earlier event's id and
 * cursor, never the earlier event itself: a capture reveals nothing its caller did not send (a capture-only key
 * cannot read another environment's event by re-sending its id).
 */
export interface CaptureReceipt {
  readonly events: readonly StoredEvent[];
  readonly accepted: number;
  readonly duplicates: number;
}

/**
 * The one way events enter Pulse, whatever the transport (GraphQL mutations, PostHog's endpoints): checks the
 * batch size, validates every input with the configured limits (one invalid input stores nothing of the batch),
 * keeps a scoped key's events in its environment (FORBIDDEN for another one), charges the capture rate limit
 * (only for a request that would be stored: an invalid one costs nothing), enriches the events (the client's values
 * win; the limits apply to what the client sent), then stores through replication.
 */
export class Ingest {
  constructor(private readonly options: IngestOptions) {}

  async capture(principal: Principal, inputs: readonly unknown[], request: CaptureRequest): Promise<CaptureReceipt> {
    const { clock, enrichment, limits, maxBatch, rateLimiter, replication } = this.options;
    if (inputs.length > maxBatch) {
      const field = request.listField ?? "inputs";
      throw badInput(`${field} has ${inputs.length} events, the limit is ${maxBatch} (PULSE_MAX_BATCH)`, { field, limit: maxBatch });
    }
    const receivedAt = clock.now();
    const validated = inputs.map((input, index): CapturedEvent => {
      const scoped = inScope(principal, input, request.batch ? `inputs[${index}].environment` : "input.environment");
      if (!request.describeError) return validateCapture(scoped, receivedAt, request.batch ? index : undefined, limits);
      try {
        return validateCapture(scoped, receivedAt, undefined, limits);
      } catch (error) {
        throw request.describeError(error, index);
      }
    });
    await rateLimiter.consume(captureRateKey(principal, request.address), validated.length);
    const captured = enrichment ? validated.map(enrichment.forSender(request)) : validated;
    const outcome = await replication.store(captured);
    if (outcome.duplicates === 0) return outcome;
    const events = [...outcome.events];
    for (const index of outcome.duplicateIndexes) {
      const earlier = events[index]!;
      events[index] = { ...captured[index]!, id: earlier.id, seq: earlier.seq };
    }
    return { events, accepted: outcome.accepted, duplicates: outcome.duplicates };
  }
}

/** The input with a scoped key's environment filled in; FORBIDDEN when it names another one. */
function inScope(principal: Principal, input: unknown, field: string): unknown {
  if (principal.environment === null || input === null || typeof input !== "object") return input;
  const requested = (input as { environment?: unknown }).environment;
  const refusal = forbiddenEnvironment(principal, requested, field);
  if (refusal) throw refusal;
  return { ...input, environment: principal.environment };
}

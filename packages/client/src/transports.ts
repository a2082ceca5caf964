import type { PulseEventsSubscription, PulseEventsSubscriptionVariables } from "./generated/types.ts";

/** One result of the `events` subscription as the wire carries it. */
export interface EventsResult {
  readonly data?: PulseEventsSubscription | null;
  readonly errors?: readonly { readonly message: string; readonly extensions?: Record<string, unknown> }[];
  readonly extensions?: Record<string, unknown>;
}

/** Why a stream failed, as far as reconnecting goes. */
export interface DropReason {
  /** An error code: a Pulse code (UNAUTHENTICATED, ...), or TRANSPORT for a network failure. */
  readonly code: string;
  readonly message: string;
  /** Retrying cannot help (bad key, malformed operation): the client stops. */
  readonly fatal: boolean;
}

export interface EventsSink {
  next(result: EventsResult): void;
  /** The stream failed (socket closed, request failed, operation refused): why, and what the transport reported. */
  error(reason: DropReason, cause: unknown): void;
  /** The server ended the stream (it is shutting down, or after a LAGGED result). */
  complete(): void;
  /** The connection is up (the WebSocket acknowledged, or the SSE response arrived). */
  connected(): void;
}

/** A transport opens one `events` stream at a time; `subscribe` returns its stop function. */
export interface EventsTransport {
  subscribe(variables: PulseEventsSubscriptionVariables, sink: EventsSink): () => void;
  dispose(): Promise<void>;
}

/** What every transport is given: Pulse's base URL (no trailing slash) and the read key, if any. */
export interface TransportOptions {
  readonly baseUrl: string;
  readonly apiKey?: string | undefined;
}

/** A failure no transport recognised: worth another attempt. */
export function transportFailure(error: unknown): DropReason {
  return { code: "TRANSPORT", message: error instanceof Error ? error.message : String(error), fatal: false };
}

import { createClient as createSseClient, NetworkError } from "graphql-sse";
import { createClient as createWsClient } from "graphql-ws/client";
import { PulseEventsDocument, type PulseEventsSubscription, type PulseEventsSubscriptionVariables } from "./generated.ts";

/** One result of the `events` subscription as the wire carries it. */
export interface EventsResult {
  readonly data?: PulseEventsSubscription | null;
  readonly errors?: readonly { readonly message: string; readonly extensions?: Record<string, unknown> }[];
  readonly extensions?: Record<string, unknown>;
}

export interface EventsSink {
  next(result: EventsResult): void;
  /** The stream failed (socket closed, request failed, operation refused). */
  error(error: unknown): void;
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

/** Constructor of a WebSocket (the browser's, or `WebSocket` from the `ws` package on Node 20). */
export type WebSocketConstructor = unknown;

export interface TransportOptions {
  readonly baseUrl: string;
  readonly apiKey?: string;
  readonly webSocketImpl?: WebSocketConstructor;
  readonly fetchFn?: typeof fetch;
}

const query = String(PulseEventsDocument);

/**
 * graphql-ws on `/graphql`. Its own retries are off: they would resend the first subscription's variables, and Pulse
 * must resume with the newest cursor, so the client reconnects itself. The key goes in `connectionParams`.
 */
export function webSocketTransport(options: TransportOptions): EventsTransport {
  const webSocketImpl = options.webSocketImpl ?? (globalThis as { WebSocket?: unknown }).WebSocket;
  if (!webSocketImpl) {
    throw new TypeError('No WebSocket implementation: on Node 20 pass webSocketImpl (import WebSocket from "ws")');
  }
  let onConnected: (() => void) | null = null;
  let socketOpen = false;
  const client = createWsClient({
    url: `${options.baseUrl.replace(/^http/, "ws")}/graphql`,
    webSocketImpl,
    lazy: true,
    retryAttempts: 0,
    keepAlive: 15_000,
    connectionParams: options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : undefined,
    on: {
      connected: () => {
        socketOpen = true;
        onConnected?.();
      },
      closed: () => {
        socketOpen = false;
      },
    },
  });
  return {
    subscribe(variables, sink) {
      onConnected = () => sink.connected();
      // A new operation on a socket that is already up (after LAGGED, say) gets no second "connected".
      if (socketOpen) queueMicrotask(() => onConnected?.());
      const stop = client.subscribe<PulseEventsSubscription>(
        { query, variables },
        {
          next: (result) => sink.next(result as EventsResult),
          error: (error) => sink.error(error),
          complete: () => sink.complete(),
        },
      );
      return () => {
        onConnected = null;
        stop();
      };
    },
    dispose: async () => {
      try {
        await client.dispose();
      } catch {
        // graphql-ws waits for a connection still being made, to close it, and rejects when that attempt fails (a
        // refused key): no socket is left to close then, and the sink has had the failure.
      }
    },
  };
}

/** graphql-sse ("distinct connections" mode) on `/graphql/stream`; the key goes in `Authorization: Bearer`. */
export function sseTransport(options: TransportOptions): EventsTransport {
  const fetchFn = options.fetchFn ?? globalThis.fetch.bind(globalThis);
  let onResponse: ((ok: boolean) => void) | null = null;
  const client = createSseClient({
    url: `${options.baseUrl}/graphql/stream`,
    retryAttempts: 0,
    headers: (): Record<string, string> => (options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}),
    // Watching the response is the only way to learn that the stream is up before its first event.
    fetchFn: async (input: RequestInfo | URL, init?: RequestInit) => {
      const response = await fetchFn(input, init);
      onResponse?.(response.ok);
      return response;
    },
  });
  return {
    subscribe(variables, sink) {
      onResponse = (ok) => {
        if (ok) sink.connected();
      };
      const stop = client.subscribe<PulseEventsSubscription>(
        { query, variables },
        {
          next: (result) => sink.next(result as EventsResult),
          error: (error) => sink.error(error),
          complete: () => sink.complete(),
        },
      );
      return () => {
        onResponse = null;
        stop();
      };
    },
    dispose: () => {
      client.dispose();
      return Promise.resolve();
    },
  };
}

/** Why a stream failed, as far as reconnecting goes. */
export interface DropReason {
  /** An error code: a Pulse code (UNAUTHENTICATED, ...), or TRANSPORT for a network failure. */
  readonly code: string;
  readonly message: string;
  /** Retrying cannot help (bad key, malformed operation): the client stops. */
  readonly fatal: boolean;
}

/** Classifies what a transport reported, WebSocket close codes and HTTP statuses alike. */
export function dropReason(error: unknown): DropReason {
  // graphql-ws: an `error` message for the operation (it was refused: validation, a bad filter).
  if (Array.isArray(error)) {
    const first = error[0] as { message?: string; extensions?: { code?: string } } | undefined;
    return { code: first?.extensions?.code ?? "BAD_USER_INPUT", message: first?.message ?? "The operation was refused", fatal: true };
  }
  // graphql-ws: the socket closed (a CloseEvent-like object).
  const close = error as { code?: unknown; reason?: unknown } | null;
  if (close && typeof close.code === "number") {
    const reason = typeof close.reason === "string" && close.reason ? close.reason : `WebSocket closed with ${close.code}`;
    if (close.code === 4401) return { code: "UNAUTHENTICATED", message: reason, fatal: true };
    if (close.code === 4403) return { code: "FORBIDDEN", message: reason, fatal: true };
    if (close.code === 4400 || close.code === 4406) return { code: "BAD_REQUEST", message: reason, fatal: true };
    return { code: "TRANSPORT", message: reason, fatal: false };
  }
  // graphql-sse: the request failed or was refused. (`instanceof` types its response `any`; it is a ResponseLike.)
  const refused = error instanceof NetworkError ? (error as NetworkError) : undefined;
  if (refused?.response) {
    const status = refused.response.status;
    if (status === 401) return { code: "UNAUTHENTICATED", message: refused.message, fatal: true };
    if (status === 403) return { code: "FORBIDDEN", message: refused.message, fatal: true };
    if (status === 400 || status === 404 || status === 405) return { code: "BAD_REQUEST", message: refused.message, fatal: true };
  }
  return { code: "TRANSPORT", message: error instanceof Error ? error.message : String(error), fatal: false };
}

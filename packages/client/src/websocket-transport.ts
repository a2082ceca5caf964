import { createClient } from "graphql-ws/client";
import { PulseEventsDocument } from "./generated/documents.ts";
import type { PulseEventsSubscription } from "./generated/types.ts";
import { transportFailure, type DropReason, type EventsResult, type EventsTransport, type TransportOptions } from "./transports.ts";

/** Constructor of a WebSocket (the browser's, or `WebSocket` from the `ws` package on Node 20). */
export type WebSocketConstructor = unknown;

export interface WebSocketTransportOptions extends TransportOptions {
  readonly webSocketImpl?: WebSocketConstructor;
}

const query = String(PulseEventsDocument);

/**
 * graphql-ws on `/graphql`. Its own retries are off: they would resend the first subscription's variables, and Pulse
 * must resume with the newest cursor, so the client reconnects itself. The key goes in `connectionParams`.
 */
export function webSocketTransport(options: WebSocketTransportOptions): EventsTransport {
  const webSocketImpl = options.webSocketImpl ?? (globalThis as { WebSocket?: unknown }).WebSocket;
  if (!webSocketImpl) {
    throw new TypeError('No WebSocket implementation: on Node 20 pass webSocketImpl (import WebSocket from "ws")');
  }
  let onConnected: (() => void) | null = null;
  let socketOpen = false;
  const client = createClient({
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
          error: (error) => sink.error(webSocketDropReason(error), error),
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

/** Classifies what graphql-ws reported: an operation refused, or the socket closed with a code. */
function webSocketDropReason(error: unknown): DropReason {
  // An `error` message for the operation (it was refused: validation, a bad filter).
  if (Array.isArray(error)) {
    const first = error[0] as { message?: string; extensions?: { code?: string } } | undefined;
    return { code: first?.extensions?.code ?? "BAD_USER_INPUT", message: first?.message ?? "The operation was refused", fatal: true };
  }
  // The socket closed (a CloseEvent-like object).
  const close = error as { code?: unknown; reason?: unknown } | null;
  if (close && typeof close.code === "number") {
    const reason = typeof close.reason === "string" && close.reason ? close.reason : `WebSocket closed with ${close.code}`;
    if (close.code === 4401) return { code: "UNAUTHENTICATED", message: reason, fatal: true };
    if (close.code === 4403) return { code: "FORBIDDEN", message: reason, fatal: true };
    if (close.code === 4400 || close.code === 4406) return { code: "BAD_REQUEST", message: reason, fatal: true };
    return { code: "TRANSPORT", message: reason, fatal: false };
  }
  return transportFailure(error);
}

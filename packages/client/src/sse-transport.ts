import { createClient, NetworkError } from "graphql-sse";
import { PulseEventsDocument } from "./generated/documents.ts";
import type { PulseEventsSubscription } from "./generated/types.ts";
import { transportFailure, type DropReason, type EventsResult, type EventsTransport, type TransportOptions } from "./transports.ts";

export interface SseTransportOptions extends TransportOptions {
  readonly fetchFn?: typeof fetch | undefined;
}

const query = String(PulseEventsDocument);

/** graphql-sse ("distinct connections" mode) on `/graphql/stream`; the key goes in `Authorization: Bearer`. */
export function sseTransport(options: SseTransportOptions): EventsTransport {
  const fetchFn = options.fetchFn ?? globalThis.fetch.bind(globalThis);
  let onResponse: ((ok: boolean) => void) | null = null;
  const client = createClient({
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
          error: (error) => sink.error(sseDropReason(error), error),
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

/** Classifies what graphql-sse reported: a request the server refused, by its status, or a network failure. */
function sseDropReason(error: unknown): DropReason {
  // (`instanceof` types its response `any`; it is a ResponseLike.)
  const refused = error instanceof NetworkError ? (error as NetworkError) : undefined;
  if (refused?.response) {
    const status = refused.response.status;
    if (status === 401) return { code: "UNAUTHENTICATED", message: refused.message, fatal: true };
    if (status === 403) return { code: "FORBIDDEN", message: refused.message, fatal: true };
    if (status === 400 || status === 404 || status === 405) return { code: "BAD_REQUEST", message: refused.message, fatal: true };
  }
  return transportFailure(error);
}

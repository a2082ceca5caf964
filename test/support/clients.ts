import type { FormattedExecutionResult } from "graphql";
import { createClient as createSseClient, type Client as SseClient } from "graphql-sse";
import { createClient as createWsClient, type Client as WsClient } from "graphql-ws";
import WebSocket from "ws";
import { onCleanup } from "./cleanup.ts";
import { deferred, waitFor } from "./wait.ts";

/** The two streaming transports users subscribe over. */
export type StreamTransport = "ws" | "sse";
export const STREAM_TRANSPORTS: readonly StreamTransport[] = ["ws", "sse"];

export type Variables = Record<string, unknown>;
export type Result = FormattedExecutionResult<Record<string, unknown>, Record<string, unknown>>;

export function wsUrl(baseUrl: string): string {
  return `${baseUrl.replace(/^http/, "ws")}/graphql`;
}

/** A graphql-ws client on `${baseUrl}/graphql`, as a Node user builds it; no retries; disposed by `cleanup()`. */
export function wsClient(baseUrl: string): WsClient {
  const client = createWsClient({ url: wsUrl(baseUrl), webSocketImpl: WebSocket, retryAttempts: 0, lazy: true });
  onCleanup(() => client.dispose());
  return client;
}

/** A graphql-sse client (distinct connections mode) on `${baseUrl}/graphql/stream`; no retries; disposed by `cleanup()`. */
export function sseClient(baseUrl: string): SseClient {
  const client = createSseClient({ url: `${baseUrl}/graphql/stream`, retryAttempts: 0 });
  onCleanup(() => client.dispose());
  return client;
}

/** How an operation ended: `complete`, or the sink's `error` (GraphQL errors, a close event, a network error). */
export type End = { readonly kind: "complete" } | { readonly kind: "error"; readonly error: unknown };

/** Everything one subscription received, for assertions. */
export interface Recording {
  /** Every `next` payload, in arrival order. */
  readonly results: Result[];
  /** Set once the operation completes or errors. */
  readonly end: End | null;
  readonly ended: Promise<End>;
  /** `data[field]` of every result that has it. */
  values<T = Record<string, unknown>>(field: string): T[];
  /** Waits (bounded) until at least `count` results arrived; fails early if the operation ended before. */
  waitForResults(count: number, timeoutMs?: number): Promise<Result[]>;
  /** Stops the operation from the client side. */
  unsubscribe(): void;
}

/** A client of either transport behind one interface, so a test runs unchanged over both. */
export interface StreamClient {
  readonly transport: StreamTransport;
  subscribe(query: string, variables?: Variables): Recording;
  /** Closes the client and its connections. */
  dispose(): Promise<void>;
}

export function streamClient(transport: StreamTransport, baseUrl: string): StreamClient {
  if (transport === "ws") {
    const client = wsClient(baseUrl);
    return {
      transport,
      subscribe: (query, variables) => record((sink) => client.subscribe({ query, variables }, sink)),
      dispose: async () => {
        await client.dispose();
      },
    };
  }
  const client = sseClient(baseUrl);
  return {
    transport,
    subscribe: (query, variables) => record((sink) => client.subscribe({ query, variables }, sink)),
    dispose: async () => client.dispose(),
  };
}

interface Sink {
  next(value: Result): void;
  error(error: unknown): void;
  complete(): void;
}

function record(start: (sink: Sink) => () => void): Recording {
  const results: Result[] = [];
  const ended = deferred<End>();
  let end: End | null = null;
  const finish = (value: End) => {
    if (end) return;
    end = value;
    ended.resolve(value);
  };
  const unsubscribe = start({
    next: (value) => results.push(value),
    error: (error) => finish({ kind: "error", error }),
    complete: () => finish({ kind: "complete" }),
  });
  onCleanup(unsubscribe);
  return {
    results,
    get end() {
      return end;
    },
    ended: ended.promise,
    values: <T>(field: string) =>
      results.flatMap((result) => (result.data && field in result.data ? [result.data[field] as T] : [])),
    waitForResults: (count, timeoutMs) =>
      waitFor(
        () => {
          if (results.length >= count) return results;
          if (end) throw new EndedEarly(count, results.length, end);
          return null;
        },
        { timeoutMs, what: () => `${count} results (got ${results.length})` },
      ),
    unsubscribe,
  };
}

class EndedEarly extends Error {
  constructor(expected: number, got: number, end: End) {
    super(`Expected ${expected} results, but the operation ended after ${got} with ${describeEnd(end)}`);
  }
}

export function describeEnd(end: End | null): string {
  if (!end) return "nothing yet";
  if (end.kind === "complete") return "complete";
  const error = end.error as { code?: unknown; reason?: unknown; message?: unknown } | null;
  if (Array.isArray(error)) return `error ${JSON.stringify(error)}`;
  if (error instanceof Error) return `error ${error.name}: ${error.message}`;
  if (error && typeof error.code === "number") return `close ${error.code} ${String(error.reason)}`;
  return `error ${String(error)}`;
}

/** The GraphQL errors an operation ended with, from either a result (HTTP, SSE, WS) or a WS `error` message. */
export function graphqlErrors(recording: Recording): readonly { message: string; extensions?: Record<string, unknown> }[] {
  const fromResults = recording.results.flatMap((result) => result.errors ?? []);
  if (fromResults.length > 0) return fromResults;
  const end = recording.end;
  if (end?.kind === "error" && Array.isArray(end.error))
    return end.error as { message: string; extensions?: Record<string, unknown> }[];
  return [];
}

/** A plain GraphQL-over-HTTP request (POST `${baseUrl}/graphql`); returns the JSON body whatever the status. */
export async function gql<TData = Record<string, unknown>>(
  baseUrl: string,
  query: string,
  variables?: Variables,
): Promise<FormattedExecutionResult<TData, Record<string, unknown>>> {
  const response = await fetch(`${baseUrl}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/graphql-response+json, application/json" },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as FormattedExecutionResult<TData, Record<string, unknown>>;
}

/** Like `gql`, but fails the test on any GraphQL error and returns `data`. */
export async function gqlData<TData = Record<string, unknown>>(
  baseUrl: string,
  query: string,
  variables?: Variables,
): Promise<TData> {
  const result = await gql<TData>(baseUrl, query, variables);
  if (result.errors?.length || !result.data) throw new Error(`GraphQL errors: ${JSON.stringify(result.errors)}`);
  return result.data;
}

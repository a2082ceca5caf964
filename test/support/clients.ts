import type { FormattedExecutionResult } from "graphql";
import { createClient as createSseClient, type Client as SseClient } from "graphql-sse";
import { createClient as createWsClient, type Client as WsClient } from "graphql-ws";
import WebSocket from "ws";
import { onCleanup } from "./cleanup.ts";
import { deferred, waitFor } from "./wait.ts";

/**
 * GraphQL as users send it: over HTTP with `fetch` (`gql`, `gqlData`, `gqlResponse`, `post`), and over the two
 * streaming transports with the stock graphql-ws and graphql-sse clients (`wsClient`, `sseClient`, or
 * `streamClient` to run one test over both), never retrying, so failures surface. Every helper takes the server's
 * base URL and, where Pulse checks keys, a `key` sent as `Authorization: Bearer` (HTTP, SSE) or in
 * connectionParams (WebSocket). Clients and operations are closed by `cleanup()` after the test.
 *
 * For what a client library would never send, see ./raw-ws.ts, ./raw-sse.ts and ./raw-http.ts.
 */

/** The two streaming transports users subscribe over. */
export type StreamTransport = "ws" | "sse";
export const STREAM_TRANSPORTS: readonly StreamTransport[] = ["ws", "sse"];

export type Variables = Record<string, unknown>;
export type Result<TData = Record<string, unknown>> = FormattedExecutionResult<TData, Record<string, unknown>>;
export type ErrorList = readonly { message: string; extensions?: Record<string, unknown> }[];

/** `Authorization: Bearer <key>`, or no header without a key. */
export const bearer = (key: string | undefined): Record<string, string> => (key ? { authorization: `Bearer ${key}` } : {});

type Coded = readonly { extensions?: Record<string, unknown> }[];

/** The first error's `extensions.code`, of a result (or body) with `errors`, or of an error list; else undefined. */
export function codeOf(from: { errors?: Coded | undefined } | Coded): unknown {
  const errors: Coded | undefined = isList(from) ? from : from.errors;
  return errors?.[0]?.extensions?.["code"];
}

const isList = (from: { errors?: Coded | undefined } | Coded): from is Coded => Array.isArray(from);

// --- GraphQL over HTTP ---------------------------------------------------------------------------------------------

/** One HTTP answer: its status, headers and JSON body (a body that is not JSON becomes `{ errors: [{ message: text }] }`). */
export interface HttpAnswer<TData = Record<string, unknown>> {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Result<TData>;
}

export interface RequestOptions {
  /** Sent as `Authorization: Bearer <key>`. */
  readonly key?: string;
  readonly signal?: AbortSignal;
}

/** POSTs a raw `body` to `${baseUrl}${path}` (default /graphql, JSON) and parses the answer, whatever its status. */
export async function post<TData = Record<string, unknown>>(
  baseUrl: string,
  body: BodyInit,
  headers: Record<string, string> = { "content-type": "application/json" },
  path = "/graphql",
  signal?: AbortSignal,
): Promise<HttpAnswer<TData>> {
  const response = await fetch(`${baseUrl}${path}`, { method: "POST", headers, body, signal: signal ?? null });
  const text = await response.text();
  let parsed: Result<TData>;
  try {
    parsed = JSON.parse(text) as Result<TData>;
  } catch {
    parsed = { errors: [{ message: text }] };
  }
  return { status: response.status, headers: response.headers, body: parsed };
}

/** One operation over plain HTTP (POST /graphql, JSON): status, headers and body, for tests of the HTTP answer itself. */
export function gqlResponse<TData = Record<string, unknown>>(
  baseUrl: string,
  query: string,
  variables?: Variables,
  options: RequestOptions = {},
): Promise<HttpAnswer<TData>> {
  const headers = {
    "content-type": "application/json",
    accept: "application/graphql-response+json, application/json",
    ...bearer(options.key),
  };
  return post<TData>(baseUrl, JSON.stringify({ query, variables }), headers, "/graphql", options.signal);
}

/** One operation over plain HTTP; resolves with the GraphQL result (data and errors) whatever the status. */
export async function gql<TData = Record<string, unknown>>(
  baseUrl: string,
  query: string,
  variables?: Variables,
  options: RequestOptions = {},
): Promise<Result<TData>> {
  return (await gqlResponse<TData>(baseUrl, query, variables, options)).body;
}

/** Like `gql`, but fails the test on any GraphQL error and returns `data`. */
export async function gqlData<TData = Record<string, unknown>>(
  baseUrl: string,
  query: string,
  variables?: Variables,
  options: RequestOptions = {},
): Promise<TData> {
  const result = await gql<TData>(baseUrl, query, variables, options);
  if (result.errors?.length || !result.data) throw new Error(`GraphQL errors: ${JSON.stringify(result.errors)}`);
  return result.data;
}

// --- The stock streaming clients -----------------------------------------------------------------------------------

export function wsUrl(baseUrl: string): string {
  return `${baseUrl.replace(/^http/, "ws")}/graphql`;
}

export interface WsClientOptions {
  /** Sent in connectionParams as `{ authorization: "Bearer <key>" }`. */
  readonly key?: string;
  /** connectionParams as given (instead of `key`'s). */
  readonly connectionParams?: Record<string, unknown>;
  /** Headers of the upgrade request. */
  readonly headers?: Record<string, string>;
  /** Called with the close code each time the socket closes. */
  readonly onClose?: (code: number) => void;
}

/** A graphql-ws client on `${baseUrl}/graphql`, as a Node user builds it (lazy, no retries); disposed by `cleanup()`. */
export function wsClient(baseUrl: string, options: WsClientOptions = {}): WsClient {
  const { key, headers, onClose } = options;
  const connectionParams = options.connectionParams ?? (key ? bearer(key) : undefined);
  const webSocketImpl = headers
    ? class extends WebSocket {
        constructor(url: string, protocols?: string | string[]) {
          super(url, protocols, { headers });
        }
      }
    : WebSocket;
  const client = createWsClient({
    url: wsUrl(baseUrl),
    webSocketImpl,
    connectionParams,
    retryAttempts: 0,
    lazy: true,
    on: onClose ? { closed: (event) => onClose((event as { code: number }).code) } : {},
  });
  onCleanup(() => client.dispose());
  return client;
}

export interface SseClientOptions {
  /** Sent as `Authorization: Bearer <key>` on every request. */
  readonly key?: string;
  /** graphql-sse's single connection mode (one stream reserved with PUT); default: distinct connections. */
  readonly singleConnection?: boolean;
  readonly headers?: Record<string, string>;
}

/** A graphql-sse client on `${baseUrl}/graphql/stream` (no retries); disposed by `cleanup()`. */
export function sseClient(baseUrl: string, options: SseClientOptions = {}): SseClient {
  const client = createSseClient({
    url: `${baseUrl}/graphql/stream`,
    singleConnection: options.singleConnection ?? false,
    headers: { ...bearer(options.key), ...options.headers },
    retryAttempts: 0,
  });
  onCleanup(() => client.dispose());
  return client;
}

// --- Recording operations ------------------------------------------------------------------------------------------

/** How an operation ended: `complete`, or the sink's `error` (GraphQL errors, a close event, a network error). */
export type End = { readonly kind: "complete" } | { readonly kind: "error"; readonly error: unknown };

/** Everything one operation received, for assertions. */
export interface Recording<TData = Record<string, unknown>> {
  /** Every `next` payload, in arrival order (the array fills as results arrive). */
  readonly results: Result<TData>[];
  /** Set once the operation completes or errors. */
  readonly end: End | null;
  readonly ended: Promise<End>;
  /** Resolves with the error the operation ended with; never settles if it completes. */
  readonly failure: Promise<unknown>;
  /** `data[field]` of every result that has it. */
  values<T = Record<string, unknown>>(field: string): T[];
  /** Waits (bounded) until at least `count` results arrived; fails early if the operation ended before. */
  waitForResults(count: number, timeoutMs?: number): Promise<Result<TData>[]>;
  /** Stops the operation from the client side. */
  readonly unsubscribe: () => void;
}

interface Sink {
  next(value: Result): void;
  error(error: unknown): void;
  complete(): void;
}

/** A graphql-ws or graphql-sse client (anything with their `subscribe`). */
export interface Subscribable {
  subscribe(payload: { query: string; variables?: Variables }, sink: Sink): () => void;
}

/** Starts `query` on a graphql-ws or graphql-sse client and records what arrives; stopped by `cleanup()`. */
export function subscribe<TData = Record<string, unknown>>(client: Subscribable, query: string, variables?: Variables): Recording<TData> {
  const results: Result<TData>[] = [];
  const ended = deferred<End>();
  const failure = deferred<unknown>();
  let end: End | null = null;
  const finish = (value: End) => {
    if (end) return;
    end = value;
    if (value.kind === "error") failure.resolve(value.error);
    ended.resolve(value);
  };
  const unsubscribe = client.subscribe(
    { query, variables },
    {
      next: (value) => results.push(value as Result<TData>),
      error: (error) => finish({ kind: "error", error }),
      complete: () => finish({ kind: "complete" }),
    },
  );
  onCleanup(unsubscribe);
  return {
    results,
    get end() {
      return end;
    },
    ended: ended.promise,
    failure: failure.promise,
    values: <T>(field: string) =>
      results.flatMap((result) => {
        const data = result.data as Record<string, unknown> | null | undefined;
        return data && field in data ? [data[field] as T] : [];
      }),
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

/** Runs one query or mutation on a streaming client; resolves with its single result, or its errors if it failed. */
export async function once(client: Subscribable, query: string, variables?: Variables): Promise<Result> {
  const run = subscribe(client, query, variables);
  const end = await run.ended;
  if (end.kind === "error") return { errors: toErrors(end.error) };
  return run.results[0] ?? {};
}

/** graphql-ws reports an `error` message as an array of GraphQL errors, a close as `closed <code>`; anything else as itself. */
function toErrors(error: unknown): ErrorList {
  if (Array.isArray(error)) return error as ErrorList;
  if (error && typeof error === "object" && "code" in error) return [{ message: `closed ${(error as { code: number }).code}` }];
  return [{ message: String(error) }];
}

/** A client of either transport behind one interface, so a test runs unchanged over both. */
export interface StreamClient {
  readonly transport: StreamTransport;
  subscribe<TData = Record<string, unknown>>(query: string, variables?: Variables): Recording<TData>;
  /** Closes the client and its connections. */
  dispose(): Promise<void>;
}

export function streamClient(transport: StreamTransport, baseUrl: string, options: { key?: string } = {}): StreamClient {
  const client: WsClient | SseClient = transport === "ws" ? wsClient(baseUrl, options) : sseClient(baseUrl, options);
  return {
    transport,
    subscribe: (query, variables) => subscribe(client, query, variables),
    dispose: async () => {
      await client.dispose();
    },
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
  return `error ${JSON.stringify(error)}`;
}

/** The GraphQL errors an operation ended with, from either a result (HTTP, SSE, WS) or a WS `error` message. */
export function graphqlErrors(recording: Recording<unknown>): ErrorList {
  const fromResults = recording.results.flatMap((result) => result.errors ?? []);
  if (fromResults.length > 0) return fromResults;
  const end = recording.end;
  if (end?.kind === "error" && Array.isArray(end.error)) return end.error as ErrorList;
  return [];
}

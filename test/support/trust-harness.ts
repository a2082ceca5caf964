import { afterEach } from "vitest";
import { createClient as createSseClient, type Client as SseClient } from "graphql-sse";
import { createClient as createWsClient, type Client as WsClient } from "graphql-ws";
import WebSocket from "ws";
import { createPulseServer, type PulseServer, type PulseServerOptions } from "../../src/server.ts";

/** Keys used across the trust tests (16+ characters, as PULSE_*_KEYS require). */
export const KEYS = {
  read: "read-key-0123456789abcdef",
  capture: "capture-key-0123456789abcdef",
  stagingRead: "staging-read-0123456789abcdef",
  stagingCapture: "staging-capture-0123456789abcdef",
} as const;

export const KEYED: PulseServerOptions["trust"] = {
  readKeys: [KEYS.read, `${KEYS.stagingRead}:staging`],
  captureKeys: [KEYS.capture, `${KEYS.stagingCapture}:staging`],
};

const disposers: (() => unknown)[] = [];

/** Runs `dispose` after the current test, newest first. */
export function onCleanup(dispose: () => unknown): void {
  disposers.push(dispose);
}

afterEach(async () => {
  while (disposers.length > 0) {
    try {
      await disposers.pop()!();
    } catch {
      // a test that already closed something must not hide the next cleanup
    }
  }
});

/** A real Pulse on a free loopback port, closed after the test. */
export async function startPulse(options: PulseServerOptions = {}): Promise<PulseServer> {
  const server = await createPulseServer({ port: 0, host: "127.0.0.1", ...options });
  onCleanup(() => server.close());
  return server;
}

export const bearer = (key: string | undefined): Record<string, string> => (key ? { authorization: `Bearer ${key}` } : {});

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: GraphQLBody;
}

export interface GraphQLBody {
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

/** POSTs a raw body to `/graphql` (or `path`) and parses the JSON answer. */
export async function post(
  server: PulseServer,
  body: BodyInit,
  headers: Record<string, string> = { "content-type": "application/json" },
  path = "/graphql",
): Promise<HttpAnswer> {
  const response = await fetch(`${server.url}${path}`, { method: "POST", headers, body });
  const text = await response.text();
  let parsed: GraphQLBody;
  try {
    parsed = JSON.parse(text) as GraphQLBody;
  } catch {
    parsed = { errors: [{ message: text }] };
  }
  return { status: response.status, headers: response.headers, body: parsed };
}

/** One GraphQL operation over plain HTTP with an optional key. */
export function gql(server: PulseServer, query: string, variables: Record<string, unknown> = {}, key?: string): Promise<HttpAnswer> {
  return post(server, JSON.stringify({ query, variables }), { "content-type": "application/json", ...bearer(key) });
}

/** The first error's code, or undefined. */
type ErrorList = readonly { extensions?: Record<string, unknown> }[];
export const codeOf = (body: { errors?: ErrorList | undefined } | ErrorList): unknown =>
  (Array.isArray(body) ? (body as ErrorList)[0] : (body as { errors?: ErrorList }).errors?.[0])?.extensions?.["code"];

/** A graphql-ws client (the library users run), closed after the test; never retries, so failures surface. */
export function wsClient(server: PulseServer, key?: string, options: { onClose?: (code: number) => void } = {}): WsClient {
  const client = createWsClient({
    url: `${server.url.replace("http", "ws")}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: key ? { authorization: `Bearer ${key}` } : {},
    retryAttempts: 0,
    lazy: true,
    on: { closed: (event) => options.onClose?.((event as { code: number }).code) },
  });
  onCleanup(() => client.dispose());
  return client;
}

/** A graphql-sse client (distinct connections mode, as by default), closed after the test. */
export function sseClient(server: PulseServer, key?: string): SseClient {
  const client = createSseClient({ url: `${server.url}/graphql/stream`, headers: bearer(key), retryAttempts: 0 });
  onCleanup(() => client.dispose());
  return client;
}

export interface ExecutionResult {
  data?: Record<string, unknown> | null;
  errors?: readonly { message: string; extensions?: Record<string, unknown> }[];
}

interface Sink {
  next(value: ExecutionResult): void;
  error(error: unknown): void;
  complete(): void;
}
interface Subscribable {
  subscribe(payload: { query: string; variables?: Record<string, unknown> }, sink: Sink): () => void;
}

/** A running operation on a client: what it received, and whether it ended with an error or completed. */
export interface Collected {
  readonly results: ExecutionResult[];
  /** Errors of the `error` message (WebSocket), or of the transport. */
  readonly failure: Promise<unknown>;
  readonly done: Promise<void>;
  stop(): void;
}

/** Starts `query` on a graphql-ws or graphql-sse client and collects what arrives. */
export function collect(client: Subscribable, query: string, variables: Record<string, unknown> = {}): Collected {
  const results: ExecutionResult[] = [];
  let fail!: (error: unknown) => void;
  let finish!: () => void;
  const failure = new Promise<unknown>((resolve) => (fail = resolve));
  const done = new Promise<void>((resolve) => (finish = resolve));
  const stop = client.subscribe(
    { query, variables },
    {
      next: (value) => results.push(value),
      error: (error) => {
        fail(error);
        finish();
      },
      complete: () => finish(),
    },
  );
  onCleanup(stop);
  return { results, failure, done, stop };
}

/** Runs one query or mutation on a streaming client and resolves with its single result (or error payload). */
export async function once(client: Subscribable, query: string, variables: Record<string, unknown> = {}): Promise<ExecutionResult> {
  const run = collect(client, query, variables);
  const ended = await Promise.race([run.done.then(() => "done" as const), run.failure.then((e) => ({ e }))]);
  if (typeof ended === "object") return { errors: toErrors(ended.e) };
  return run.results[0] ?? {};
}

/** graphql-ws reports an `error` message as an array of GraphQL errors; anything else as itself. */
export function toErrors(error: unknown): ExecutionResult["errors"] {
  if (Array.isArray(error)) return error as ExecutionResult["errors"];
  if (error && typeof error === "object" && "code" in error) return [{ message: `closed ${(error as { code: number }).code}` }];
  return [{ message: String(error) }];
}

/** Polls `condition` until it holds, or fails after `timeoutMs` (a bound, never a timing assertion). */
export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A raw `graphql-transport-ws` socket for protocol abuse: what a library client would never send. */
export interface RawSocket {
  readonly socket: WebSocket;
  readonly messages: Record<string, unknown>[];
  /** Resolves with the close code. */
  readonly closed: Promise<number>;
  send(message: unknown): void;
  /** Waits for a message matching `predicate`. */
  next(predicate: (message: Record<string, unknown>) => boolean, what?: string): Promise<Record<string, unknown>>;
}

export async function rawSocket(server: PulseServer, options: { open?: boolean } = {}): Promise<RawSocket> {
  const socket = new WebSocket(`${server.url.replace("http", "ws")}/graphql`, "graphql-transport-ws");
  onCleanup(() => socket.terminate());
  socket.on("error", () => {}); // the close code is what tests assert
  const messages: Record<string, unknown>[] = [];
  socket.on("message", (data) => messages.push(JSON.parse(String(data)) as Record<string, unknown>));
  const closed = new Promise<number>((resolve) => socket.once("close", (code) => resolve(code)));
  if (options.open !== false) {
    await new Promise<void>((resolve, reject) => {
      socket.once("open", () => resolve());
      socket.once("unexpected-response", (_req, res) => reject(new Error(`upgrade refused with ${res.statusCode}`)));
    });
  }
  return {
    socket,
    messages,
    closed,
    send: (message) => socket.send(typeof message === "string" ? message : JSON.stringify(message)),
    async next(predicate, what = "message") {
      await waitFor(() => messages.some(predicate), 10_000, what);
      return messages.find(predicate)!;
    },
  };
}

/** Opens a raw socket and completes `connection_init` with `key`. */
export async function initializedSocket(server: PulseServer, key?: string): Promise<RawSocket> {
  const raw = await rawSocket(server);
  raw.send({ type: "connection_init", payload: key ? { authorization: `Bearer ${key}` } : {} });
  await raw.next((m) => m["type"] === "connection_ack", "connection_ack");
  return raw;
}

export const CAPTURE = `mutation($input: CaptureEventInput!) { captureEvent(input: $input) { id environment } }`;
export const CAPTURE_MANY = `mutation($inputs: [CaptureEventInput!]!) { captureEvents(inputs: $inputs) { accepted duplicates ids } }`;
export const SUBSCRIBE = `subscription($filter: EventFilter) { events(filter: $filter) { id event environment } }`;

/** A valid capture input. */
export const anEvent = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  event: "$pageview",
  distinctId: "user-1",
  ...overrides,
});

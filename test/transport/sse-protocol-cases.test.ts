import { TOKEN_HEADER_KEY } from "graphql-sse";
import { describe, expect, it } from "vitest";
import type { PulseServer, PulseServerOptions } from "../../src/index.ts";
import { bearer } from "../support/clients.ts";
import { anEvent, captureEvent } from "../support/events.ts";
import { KEYED, KEYS } from "../support/keys.ts";
import { RawEventStream, type SseFrame } from "../support/raw-sse.ts";
import { startServer } from "../support/server.ts";
import { sleep, waitFor } from "../support/wait.ts";

/**
 * graphql-sse's server cases (its tests/handler.test.ts), ported to a real Pulse over raw HTTP on
 * `/graphql/stream`: one row per rule of graphql-sse's PROTOCOL.md (node_modules/graphql-sse/PROTOCOL.md), quoted
 * in `rule`. A row is a list of requests, each with the answer it must get (status, content type, body, or the
 * frames of an event stream that ends by itself), and of actions between them (a capture over HTTP, waiting for
 * the server to count subscriptions). A row that opens a stream it keeps (a subscription of its own, or the single
 * connection stream) expects every frame of it, in order, at the end. Where Pulse departs from the protocol or from
 * graphql-sse's own handler on purpose, `pulse` says how and why.
 *
 * Checked on every row besides its own answers: no error in any event stream carries Yoga's HTTP internals
 * (`extensions.http`), and every token a `PUT` answers is new (32 random bytes, base64url).
 *
 * What the tables do not cover: readers that stop reading, TTLs, the per-address and per-stream limits
 * (sse.test.ts, sse-reservations.test.ts, test/limits).
 */

/** One request to `/graphql/stream`, and the answer it must get. */
interface Exchange {
  readonly method: "GET" | "POST" | "PUT" | "DELETE";
  /** The row's reservation token (its latest PUT's), as the header or the `token` search parameter; or one never issued. */
  readonly token?: "header" | "query" | "unknown";
  /** Sent as `Authorization: Bearer`. */
  readonly key?: string;
  readonly accept?: string;
  readonly headers?: Record<string, string>;
  readonly search?: Record<string, string>;
  /** A GraphQL request, sent as JSON (with `content-type: application/json` unless `headers` says otherwise). */
  readonly body?: Record<string, unknown>;

  readonly status: number;
  /** The answer's media type (without parameters). */
  readonly type?: string;
  readonly answerHeaders?: Record<string, string>;
  /** The answer's body as JSON. */
  readonly json?: unknown;
  /** Every frame of an event stream that ends by itself (distinct connections mode), in order. */
  readonly frames?: readonly SseFrame[];
  /** The answer is an event stream the row keeps open; its frames are the row's `stream`. */
  readonly keep?: true;
}

type Step =
  | Exchange
  /** Captures an event named so over HTTP, and waits for its answer. */
  | { readonly capture: string }
  /** Waits until the server counts this many subscriptions open. */
  | { readonly active: number }
  /** Waits until the kept stream has received this many frames. */
  | { readonly received: number }
  /** Closes the kept stream from the client's side. */
  | { readonly closeStream: true }
  /** Waits until the server holds this many single connection streams, reserved and open. */
  | { readonly streams: { readonly reserved: number; readonly open: number } };

interface SseCase {
  readonly name: string;
  /** The rule of PROTOCOL.md the row checks, quoted. */
  readonly rule: string;
  /** Where Pulse departs from the rule or from graphql-sse's handler, deliberately: how and why. */
  readonly pulse?: string;
  readonly server?: PulseServerOptions;
  readonly steps: readonly Step[];
  /** Every frame of the kept stream, in order, once the steps are done (nothing more arrives). */
  readonly stream?: readonly SseFrame[];
}

const EVENT_STREAM = "text/event-stream";
const JSON_TYPE = "application/json";
const EVENTS = "subscription { events { event } }";
const LIVE_USERS = "{ liveUsers { count } }";
const TWO_QUERIES = "query A { liveUsers { count } } query B { realtimeMetrics { eventsTotal } }";
const CAPTURE = "mutation ($e: CaptureEventInput!) { captureEvent(input: $e) { event } }";

// Distinct connections mode: an operation on an event stream of its own.
const distinct = (body: Record<string, unknown>, answer: Partial<Exchange> = {}): Exchange => ({
  method: "POST",
  accept: EVENT_STREAM,
  body,
  status: 200,
  type: EVENT_STREAM,
  ...answer,
});
const next = (result: unknown): SseFrame => ({ event: "next", data: result as SseFrame["data"] });
const COMPLETE: SseFrame = { event: "complete", data: null };

// Single connection mode: a stream reserved with PUT, opened, then given operations.
const reserve = (answer: Partial<Exchange> = {}): Exchange => ({ method: "PUT", status: 201, type: "text/plain", ...answer });
const open = (answer: Partial<Exchange> = {}): Exchange => ({
  method: "GET",
  accept: EVENT_STREAM,
  token: "header",
  status: 200,
  type: EVENT_STREAM,
  keep: true,
  ...answer,
});
const operation = (id: string | undefined, query: string, answer: Partial<Exchange> = {}, variables?: unknown): Exchange => ({
  method: "POST",
  token: "header",
  body: { query, variables, extensions: id === undefined ? undefined : { operationId: id } },
  status: 202,
  ...answer,
});
const stop = (id: string, answer: Partial<Exchange> = {}): Exchange => ({
  method: "DELETE",
  token: "header",
  search: { operationId: id },
  status: 200,
  ...answer,
});
const nextOf = (id: string, payload: unknown): SseFrame => ({ event: "next", data: { id, payload } as SseFrame["data"] });
const completeOf = (id: string): SseFrame => ({ event: "complete", data: { id } });

/** A GraphQL over HTTP error body with one error, by message (and code). */
const errorBody = (message: string | RegExp, code?: string) => ({
  errors: [
    expect.objectContaining({
      message: typeof message === "string" ? message : expect.stringMatching(message),
      ...(code ? { extensions: expect.objectContaining({ code }) } : {}),
    }),
  ],
});
/** graphql-sse's own refusals: a message and nothing else. */
const handlerError = (message: string) => ({ errors: [{ message }] });

const VALIDATION = {
  message: 'Cannot query field "nope" on type "Query".',
  locations: [{ line: 1, column: 3 }],
  extensions: { code: "GRAPHQL_VALIDATION_FAILED" },
};
const SYNTAX = {
  message: "Syntax Error: Expected Name, found <EOF>.",
  locations: [{ line: 1, column: 22 }],
  extensions: { code: "GRAPHQL_PARSE_FAILED" },
};
const UNRESOLVED = { message: "Could not determine what operation to execute.", extensions: { code: "OPERATION_RESOLUTION_FAILURE" } };
const COERCION = expect.objectContaining({
  message: 'Variable "$n" got invalid value "x"; Int cannot represent non-integer value: "x"',
  locations: [{ line: 1, column: 8 }],
});
const RECENT_BY_VARIABLE = "query ($n: Int) { recentEvents(limit: $n) { event } }";

// "Validation steps that run before execution of the GraphQL operation MUST report errors through an accepted SSE
// connection by emitting `next` events that contain the errors in the data field." (Distinct connections mode)
const REPORTED_ON_THE_STREAM: readonly (readonly [string, Record<string, unknown>, unknown])[] = [
  ["a syntax error", { query: "{ liveUsers { count }" }, SYNTAX],
  ["a validation error", { query: "{ nope }" }, VALIDATION],
  ["an operationName the document does not define", { query: TWO_QUERIES, operationName: "C" }, UNRESOLVED],
  ["two operations and no operationName", { query: TWO_QUERIES }, UNRESOLVED],
  ["a variable of the wrong type", { query: RECENT_BY_VARIABLE, variables: { n: "x" } }, COERCION],
];

// "Validation issues and other request problems are handled as documented in the GraphQL over HTTP spec" (Single
// connection mode, Executing operations): answered on the operation's request, never accepted with 202.
const ANSWERED_ON_THE_REQUEST: readonly (readonly [string, string, unknown, unknown?])[] = [
  ["a syntax error", "{ liveUsers { count }", SYNTAX.message],
  ["a validation error", "{ nope }", VALIDATION.message],
  ["an operationName the document does not define", TWO_QUERIES, UNRESOLVED.message],
  ["a variable of the wrong type", RECENT_BY_VARIABLE, /^Variable "\$n" got invalid value "x"/, { n: "x" }],
];

const CASES: readonly SseCase[] = [
  // --- Distinct connections mode ---------------------------------------------------------------------------------
  {
    name: "a query POSTed for an event stream gets one next, then complete, then the stream ends",
    rule: "Distinct connections mode: 'The Content-Type MUST always be text/event-stream' — next: 'After all results have been emitted, the complete event will follow'",
    steps: [distinct({ query: LIVE_USERS }, { frames: [next({ data: { liveUsers: { count: 0 } } }), COMPLETE] })],
  },
  {
    name: "a query by GET (search parameters) gets one next, then complete",
    rule: "Distinct connections mode: 'Operation requests need to conform to the GraphQL over HTTP spec'",
    steps: [
      {
        method: "GET",
        accept: EVENT_STREAM,
        search: {
          query: "query Q($n: Int) { recentEvents(limit: $n) { event } }",
          variables: JSON.stringify({ n: 1 }),
          operationName: "Q",
        },
        status: 200,
        type: EVENT_STREAM,
        frames: [next({ data: { recentEvents: [] } }), COMPLETE],
      },
    ],
  },
  {
    name: "a mutation POSTed for an event stream gets one next, then complete",
    rule: "Distinct connections mode: 'The execution result is streamed through the established SSE connection.'",
    steps: [
      distinct(
        { query: CAPTURE, variables: { e: anEvent({ event: "signup" }) } },
        { frames: [next({ data: { captureEvent: { event: "signup" } } }), COMPLETE] },
      ),
    ],
  },
  {
    name: "a subscription streams a next per event, in order, without complete; closing the stream ends it",
    rule: "Distinct connections mode: 'Streaming operations, such as subscriptions […] are terminated/completed by having the client simply close the SSE connection.'",
    steps: [
      distinct({ query: EVENTS }, { keep: true }),
      { active: 1 },
      { capture: "e1" },
      { capture: "e2" },
      { received: 2 },
      { closeStream: true },
      { active: 0 },
    ],
    stream: [next({ data: { events: { event: "e1" } } }), next({ data: { events: { event: "e2" } } })],
  },
  ...REPORTED_ON_THE_STREAM.map(([what, body, error]): SseCase => ({
    name: `${what} is a next with the errors and no data, then complete, on a 200 event stream`,
    rule: "Distinct connections mode: 'Validation steps that run before execution of the GraphQL operation MUST report errors through an accepted SSE connection by emitting next events that contain the errors in the data field.'",
    steps: [distinct(body, { frames: [next({ errors: [error] }), COMPLETE] })],
  })),
  {
    name: "a mutation by GET is 405 with Allow: POST",
    rule: "Distinct connections mode: 'Operation requests need to conform to the GraphQL over HTTP spec' (GET: mutations are not allowed)",
    steps: [
      {
        method: "GET",
        accept: EVENT_STREAM,
        search: { query: 'mutation { captureEvent(input: { event: "e", distinctId: "u" }) { id } }' },
        status: 405,
        answerHeaders: { allow: "POST" },
        json: { errors: [expect.objectContaining({ message: expect.any(String) })] },
      },
    ],
  },
  {
    name: "a GET for an event stream without a query is 400",
    rule: "Distinct connections mode: 'Operation requests need to conform to the GraphQL over HTTP spec' (handler.test.ts: 'Missing query')",
    steps: [{ method: "GET", accept: EVENT_STREAM, status: 400, type: JSON_TYPE, json: handlerError("Missing query") }],
  },
  {
    name: "a request neither for an event stream nor with a token is 404",
    rule: "Distinct connections mode: 'The Content-Type MUST always be text/event-stream' — without a reservation token a request is for a stream of its own (graphql-sse's handler answers anything else 404)",
    steps: [{ method: "POST", accept: JSON_TYPE, body: { query: LIVE_USERS }, status: 404 }],
  },
  {
    name: "a POST a form could send (text/plain) without the CSRF header is 403 FORBIDDEN",
    rule: "Distinct connections mode: 'Operation requests need to conform to the GraphQL over HTTP spec'",
    pulse:
      "refuses a body with a content type a browser form sends without a preflight unless it carries x-graphql-yoga-csrf, as Yoga's CSRF prevention does on /graphql (docs/security.md)",
    steps: [
      distinct(
        { query: CAPTURE, variables: { e: anEvent() } },
        { headers: { "content-type": "text/plain" }, status: 403, type: JSON_TYPE, json: errorBody(/^Required CSRF header/, "FORBIDDEN") },
      ),
    ],
  },

  // --- Single connection mode: reservations ----------------------------------------------------------------------
  {
    name: "PUT reserves a stream: 201 and the token as text; no CSRF header needed",
    rule: "Making reservations: 'The server accepts the reservation request by responding with 201 (Created) and a reservation token in the body of the response.'",
    steps: [reserve(), reserve()],
  },
  {
    name: "PUT carrying a token already reserved gets a new token",
    rule: "Making reservations: 'responding with 201 (Created) and a reservation token in the body of the response'",
    pulse:
      "draws every token itself (32 bytes from crypto.randomBytes) and ignores one the client sends; graphql-sse's handler takes the client's token and answers 409 to one already reserved (docs/security.md)",
    steps: [reserve(), reserve({ token: "header" })],
  },
  {
    name: "PUT accepting only JSON is 406 (the token is plain text)",
    rule: "Making reservations: 'a reservation token in the body of the response' (handler.test.ts: 'should only accept valid accept headers')",
    steps: [reserve({ accept: JSON_TYPE, status: 406, type: undefined }), { streams: { reserved: 0, open: 0 } }],
  },

  // --- Single connection mode: the stream ------------------------------------------------------------------------
  {
    name: "GET with the token in a header opens the stream; a query's result comes on it as {id, payload}, then complete {id}",
    rule: "Executing operations: 'successful responses (execution results) get accepted with a 202 (Accepted) and are then streamed through the single SSE connection' — next: 'data: { id, payload }'",
    steps: [reserve(), open(), operation("q", LIVE_USERS)],
    stream: [nextOf("q", { data: { liveUsers: { count: 0 } } }), completeOf("q")],
  },
  {
    name: "GET with the token as the token search parameter opens the stream",
    rule: "Making reservations: 'If using the EventSource interface, the token may be encoded in the URL's search parameters.' — 'A search parameter token'",
    steps: [reserve(), open({ token: "query" }), operation("q", LIVE_USERS)],
    stream: [nextOf("q", { data: { liveUsers: { count: 0 } } }), completeOf("q")],
  },
  {
    name: "POST accepting text/event-stream with the token opens the stream too",
    rule: "Making reservations: 'This token is then presented alongside the incoming SSE connection as an entrance ticket.'",
    steps: [reserve(), open({ method: "POST", headers: { "content-type": JSON_TYPE } }), operation("q", LIVE_USERS)],
    stream: [nextOf("q", { data: { liveUsers: { count: 0 } } }), completeOf("q")],
  },
  {
    name: "a second stream on one reservation is 409; the first stays open",
    rule: "Making reservations: 'For security reasons, only one SSE connection can fulfil a reservation at a time, there MUST never be multiple SSE connections behind a single reservation.'",
    steps: [
      reserve(),
      open(),
      open({ keep: undefined, status: 409, type: JSON_TYPE, json: handlerError("Stream already open") }),
      operation("q", LIVE_USERS),
    ],
    stream: [nextOf("q", { data: { liveUsers: { count: 0 } } }), completeOf("q")],
  },
  {
    name: "a query posted to a reservation not opened yet is delivered once the stream opens",
    rule: "Executing operations: 'While having a single SSE connection (or reservation), separate HTTP requests solicit GraphQL operations'",
    steps: [reserve(), operation("q", LIVE_USERS), open()],
    stream: [nextOf("q", { data: { liveUsers: { count: 0 } } }), completeOf("q")],
  },
  {
    name: "a subscription's events come on the stream under its id; DELETE ?operationId stops it with a complete",
    rule: "Stopping streaming operations: 'This is done by sending a DELETE HTTP request encoding the unique operation ID inside the URL's search parameters behind the operationId key'",
    steps: [
      reserve(),
      open(),
      operation("s", EVENTS),
      { active: 1 },
      { capture: "e1" },
      { capture: "e2" },
      stop("s"),
      { active: 0 },
      { capture: "e3" },
    ],
    stream: [nextOf("s", { data: { events: { event: "e1" } } }), nextOf("s", { data: { events: { event: "e2" } } }), completeOf("s")],
  },
  {
    name: "operations on one stream are told apart by their ids",
    rule: "Executing operations: 'an operation ID identifying the messages destinations is necessary […] This operation ID accompanies the SSE messages for destination discovery'",
    steps: [reserve(), open(), operation("a", EVENTS), operation("b", EVENTS), { active: 2 }, stop("a"), { active: 1 }, { capture: "e1" }],
    stream: [completeOf("a"), nextOf("b", { data: { events: { event: "e1" } } })],
  },
  {
    name: "an operation without operationId is 400",
    rule: "Executing operations: 'The unique operation ID SHOULD be sent through the extensions parameter of the GraphQL request inside the operationId field.'",
    steps: [
      reserve(),
      open(),
      operation(undefined, LIVE_USERS, { status: 400, type: JSON_TYPE, json: handlerError("Operation ID is missing") }),
    ],
    stream: [],
  },
  {
    name: "an operation whose id is running on the stream is 409",
    rule: "Executing operations: 'an operation ID identifying the messages destinations is necessary' (graphql-sse's handler refuses an id in use)",
    steps: [
      reserve(),
      open(),
      operation("s", EVENTS),
      operation("s", LIVE_USERS, { status: 409, type: JSON_TYPE, json: handlerError("Operation with ID already exists") }),
      { active: 1 },
      { capture: "e1" },
    ],
    stream: [nextOf("s", { data: { events: { event: "e1" } } })],
  },
  ...ANSWERED_ON_THE_REQUEST.map(([what, query, message, variables]): SseCase => ({
    name: `${what} in an operation is answered 400 with the errors; nothing comes on the stream`,
    rule: "Executing operations: 'Validation issues and other request problems are handled as documented in the GraphQL over HTTP spec.'",
    steps: [
      reserve(),
      open(),
      operation("bad", query, { status: 400, type: JSON_TYPE, json: errorBody(message as string | RegExp) }, variables),
    ],
    stream: [],
  })),
  {
    name: "DELETE without operationId is 400",
    rule: "Stopping streaming operations: 'encoding the unique operation ID inside the URL's search parameters behind the operationId key'",
    steps: [
      reserve(),
      open(),
      { method: "DELETE", token: "header", status: 400, type: JSON_TYPE, json: handlerError("Operation ID is missing") },
    ],
    stream: [],
  },

  // --- Single connection mode: tokens ----------------------------------------------------------------------------
  {
    name: "a token never issued is 404 to open, to an operation and to DELETE",
    rule: "Making reservations: 'The reservation token MUST accompany future HTTP requests to aid the server with the stream matching process.'",
    steps: [
      open({
        token: "unknown",
        keep: undefined,
        status: 404,
        type: JSON_TYPE,
        json: errorBody(/^No event stream is reserved with this/, "BAD_USER_INPUT"),
      }),
      operation("q", LIVE_USERS, {
        token: "unknown",
        status: 404,
        type: JSON_TYPE,
        json: errorBody(/^No event stream is reserved/, "BAD_USER_INPUT"),
      }),
      stop("q", { token: "unknown", status: 404, type: JSON_TYPE, json: errorBody(/^No event stream is reserved/, "BAD_USER_INPUT") }),
    ],
  },
  {
    name: "an operation or a DELETE without a token is 404",
    rule: "Executing operations: 'The HTTP request MUST contain the matching reservation token.'",
    steps: [reserve(), open(), operation("q", LIVE_USERS, { token: undefined, status: 404 }), stop("q", { token: undefined, status: 404 })],
    stream: [],
  },
  {
    name: "the token of a stream that closed is 404",
    rule: "Making reservations: 'The reservation token MUST accompany future HTTP requests to aid the server with the stream matching process.'",
    steps: [
      reserve(),
      open(),
      { closeStream: true },
      { streams: { reserved: 0, open: 0 } },
      operation("q", LIVE_USERS, { status: 404, type: JSON_TYPE, json: errorBody(/^No event stream is reserved/, "BAD_USER_INPUT") }),
    ],
    stream: [],
  },
  {
    name: "another key's token is 403 FORBIDDEN to open and to an operation",
    rule: "Making reservations: 'Since this is a regular HTTP request, it may transmit authentication details however the implementor sees fit.'",
    pulse:
      "ties a stream to the key that reserved it: another key gets 403 FORBIDDEN (docs/security.md); graphql-sse's handler takes any holder of the token",
    server: { trust: KEYED },
    steps: [
      reserve({ key: KEYS.read }),
      open({
        key: KEYS.stagingRead,
        keep: undefined,
        status: 403,
        type: JSON_TYPE,
        json: errorBody(/reserved with another key/, "FORBIDDEN"),
      }),
      operation("q", LIVE_USERS, {
        key: KEYS.capture,
        status: 403,
        type: JSON_TYPE,
        json: errorBody(/reserved with another key/, "FORBIDDEN"),
      }),
      open({ key: KEYS.read }),
    ],
    stream: [],
  },
  {
    name: "an operation a form could send (text/plain) without the CSRF header is 403, even with the token",
    rule: "Executing operations: 'separate HTTP requests solicit GraphQL operations conforming to the GraphQL over HTTP spec'",
    pulse:
      "refuses a POST with a content type a form sends without a preflight unless it carries x-graphql-yoga-csrf; PUT and DELETE need no header (a browser preflights both cross-origin, and forms cannot send them)",
    steps: [
      reserve(),
      open(),
      operation("q", LIVE_USERS, {
        headers: { "content-type": "text/plain" },
        status: 403,
        type: JSON_TYPE,
        json: errorBody(/^Required CSRF header/, "FORBIDDEN"),
      }),
    ],
    stream: [],
  },
];

/** After the steps, how long a row waits for frames it does not expect. */
const QUIET_MS = 100;
/** A token Pulse draws: 32 random bytes, base64url. */
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

/** What one row has going: its server, its latest token, the streams it opened. */
interface Run {
  readonly server: PulseServer;
  readonly tokens: string[];
  readonly streams: RawEventStream[];
  kept?: RawEventStream;
}

function isExchange(step: Step): step is Exchange {
  return "method" in step;
}

async function exchange(run: Run, step: Exchange, label: string): Promise<void> {
  const token = run.tokens.at(-1);
  if (step.token && step.token !== "unknown" && !token) throw new Error(`${label}: no token reserved yet`);
  const headers: Record<string, string> = { ...bearer(step.key) };
  if (step.accept) headers["accept"] = step.accept;
  if (step.body) headers["content-type"] = JSON_TYPE;
  if (step.token === "header") headers[TOKEN_HEADER_KEY] = token!;
  if (step.token === "unknown") headers[TOKEN_HEADER_KEY] = "never-issued-0123456789abcdefghijklmnopqrstuv";
  Object.assign(headers, step.headers);
  const search = { ...step.search, ...(step.token === "query" ? { token: token! } : {}) };
  const body = step.body ? JSON.stringify(step.body) : undefined;
  const answer = await RawEventStream.request(run.server.url, { method: step.method, headers, body, search });
  run.streams.push(answer);

  if (answer.status !== step.status) {
    await waitFor(() => answer.ended, { what: `${label}: the body of the ${answer.status}` });
    throw new Error(`${label}: expected ${step.status}, got ${answer.status} ${answer.body || JSON.stringify(answer.frames)}`);
  }
  if (step.type) expect(answer.headers["content-type"]?.split(";")[0], `${label}: content type`).toBe(step.type);
  for (const [name, value] of Object.entries(step.answerHeaders ?? {})) expect(answer.headers[name], `${label}: ${name}`).toBe(value);
  if (step.keep) {
    run.kept = answer;
    return;
  }
  await waitFor(() => answer.ended, { what: `${label}: the answer to end` });
  if (step.method === "PUT" && answer.status === 201) {
    expect(answer.body, `${label}: the token`).toMatch(TOKEN);
    expect(run.tokens, `${label}: a new token`).not.toContain(answer.body);
    run.tokens.push(answer.body);
  }
  if (step.status === 202) expect(answer.body, `${label}: 202 has no body`).toBe("");
  if (step.json !== undefined) expect(JSON.parse(answer.body) as unknown, `${label}: body`).toEqual(step.json);
  if (step.frames) expect(answer.frames, `${label}: frames`).toEqual(step.frames);
}

async function perform(run: Run, step: Step, label: string): Promise<void> {
  if (isExchange(step)) return exchange(run, step, label);
  const { server } = run;
  if ("capture" in step) return void (await captureEvent(server.url, { event: step.capture, distinctId: "user-1" }));
  if ("active" in step) {
    const what = `${label}: ${step.active} subscription(s) open`;
    return void (await waitFor(() => server.hub.metrics().activeSubscriptions === step.active, { what }));
  }
  const { kept } = run;
  if ("received" in step) {
    if (!kept) throw new Error(`${label}: no stream to read`);
    return void (await waitFor(() => kept.frames.length >= step.received, { what: `${label}: ${step.received} frames` }));
  }
  if ("closeStream" in step) {
    if (!kept) throw new Error(`${label}: no stream to close`);
    return kept.close();
  }
  const { reserved, open } = step.streams;
  const what = `${label}: ${reserved} reserved and ${open} open stream(s)`;
  await waitFor(
    () => {
      const now = server.trust.stats().singleConnectionStreams;
      return now.reserved === reserved && now.open === open;
    },
    { what },
  );
}

/** Every `extensions.http` in the errors of the frames (distinct results, and single connection payloads). */
function httpExtensions(frames: readonly SseFrame[]): unknown[] {
  return frames
    .flatMap((frame) => (frame.event === "next" ? [frame.data?.payload ?? frame.data] : []))
    .flatMap((result) => result?.errors ?? [])
    .filter((error) => error.extensions && "http" in error.extensions);
}

async function runCase(c: SseCase): Promise<void> {
  const run: Run = { server: await startServer(c.server), tokens: [], streams: [] };
  for (const [index, step] of c.steps.entries()) await perform(run, step, `step ${index + 1} of "${c.rule}"`);

  if (c.stream) {
    const kept = run.kept;
    if (!kept) throw new Error("the row expects a stream but opened none");
    await waitFor(() => kept.frames.length >= c.stream!.length || kept.ended, { what: `${c.stream.length} frames on the stream` });
    await sleep(QUIET_MS);
    expect(kept.frames, c.rule).toEqual(c.stream);
  }
  expect(httpExtensions(run.streams.flatMap((s) => s.frames)), "no extensions.http in any error").toEqual([]);
}

describe("graphql-sse (PROTOCOL.md) on /graphql/stream against Pulse", () => {
  for (const c of CASES) {
    it(c.pulse ? `${c.name} (Pulse: deliberate)` : c.name, () => runCase(c));
  }
});

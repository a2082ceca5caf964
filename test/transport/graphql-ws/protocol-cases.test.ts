import { describe, expect, it } from "vitest";
import type { PulseServer, PulseServerOptions } from "../../../src/index.ts";
import { onCleanup } from "../../support/cleanup.ts";
import { anEvent, captureEvent } from "../../support/events.ts";
import { KEYED } from "../../support/keys.ts";
import { RawGraphqlSocket, type ConnectOptions, type WireMessage } from "../../support/raw-ws.ts";
import { startServer } from "../../support/server.ts";
import { deferred, sleep, waitFor, within } from "../../support/wait.ts";

/**
 * graphql-ws's server cases (its tests/server.test.ts and tests/use.test.ts), ported to a real Pulse over raw
 * frames: one row per rule of graphql-ws's PROTOCOL.md (node_modules/graphql-ws/PROTOCOL.md), quoted in `rule`.
 * Each row sends its frames in order and expects every frame the server sends, in order, then either the close
 * (code and reason) or a socket that still answers a ping. Where Pulse departs from the rule or from graphql-ws's
 * own server on purpose, `pulse` says how and why (docs/api.md, "WebSocket close codes").
 *
 * Checked on every row besides its own frames: once the socket has closed no subscription is left running, and no
 * error Pulse sends carries Yoga's HTTP internals (`extensions.http`).
 *
 * The protocol core on an in-memory socket (write-ahead, operations completed while starting, fake clocks) is in
 * protocol.test.ts; what the `ws` adapter adds (keep-alive pings, shared frames) in ../ws.test.ts.
 */

/** One thing a row does, in order. */
type Step =
  /** A message, sent as JSON. */
  | WireMessage
  /** Sent as it is (a frame that is not JSON, or not a message object). */
  | { readonly raw: string }
  /** Captures an event named so over HTTP, and waits for its answer. */
  | { readonly capture: string }
  /** Waits until the socket has received this many frames. */
  | { readonly received: number }
  /** Waits until the server counts this many subscriptions open. */
  | { readonly active: number }
  /** Closes the server (SIGTERM's path) and waits until it has closed. */
  | { readonly shutdown: true };

interface WsCase {
  readonly name: string;
  /** The rule of PROTOCOL.md the row checks, quoted. */
  readonly rule: string;
  /** Where Pulse departs from the rule or from graphql-ws's server, deliberately: how and why. */
  readonly pulse?: string;
  readonly server?: PulseServerOptions;
  /** Start the server without letting it become ready (its start-up work stays pending). */
  readonly starting?: boolean;
  /** Subprotocols offered in the upgrade; default `graphql-transport-ws`. */
  readonly offer?: ConnectOptions["protocol"];
  /** The upgrade fails on the client's side with this error (nothing is sent then). */
  readonly handshake?: string;
  readonly send: readonly Step[];
  /** Every frame the server sends, in order. */
  readonly expect: readonly unknown[];
  /** The close the server sends; without it, the socket must still be open and answering at the end. */
  readonly close?: { readonly code: number; readonly reason: string | RegExp };
  /** Events in the buffer at the end: 0 when a mutation sent must not have run. */
  readonly stored?: number;
}

const INIT = { type: "connection_init" };
const ACK = { type: "connection_ack" };
const subscribe = (id: string, query: string, more: { variables?: unknown; operationName?: string } = {}): WireMessage => ({
  id,
  type: "subscribe",
  payload: { query, ...more },
});
const complete = (id: string): WireMessage => ({ id, type: "complete" });
const next = (id: string, payload: unknown) => ({ id, type: "next", payload });
const error = (id: string, payload: unknown[]) => ({ id, type: "error", payload });

const EVENTS = "subscription { events { event } }";
const CAPTURE = "mutation ($e: CaptureEventInput!) { captureEvent(input: $e) { event distinctId } }";
const TWO_QUERIES = "query A { liveUsers { count } } query B { realtimeMetrics { eventsTotal } }";
const UNRESOLVED = [{ message: "Could not determine what operation to execute.", extensions: { code: "OPERATION_RESOLUTION_FAILURE" } }];
const INVALID = { code: 4400, reason: "Invalid message received" };

// "Receiving a message of a type or format which is not specified in this document will result in an immediate
// socket closure with the event `4400: <error-message>`" (Invalid message). Each sent after connection_ack.
const MALFORMED: readonly (readonly [string, Step])[] = [
  ["a frame that is not JSON", { raw: "{ not json" }],
  ["a JSON array", { raw: "[]" }],
  ["a message without type", { id: "1", payload: {} } as unknown as WireMessage],
  ["an unknown type (subscriptions-transport-ws' `start`)", { type: "start", id: "1", payload: { query: "{ __typename }" } }],
  ["subscribe without id", { type: "subscribe", payload: { query: "{ __typename }" } }],
  ["subscribe with an empty id", subscribe("", "{ __typename }")],
  ["subscribe with a number as id", { type: "subscribe", id: 1, payload: { query: "{ __typename }" } } as unknown as WireMessage],
  ["subscribe without payload", { type: "subscribe", id: "1" }],
  ["subscribe whose query is not a string", { type: "subscribe", id: "1", payload: { query: 42 } }],
  ["subscribe whose variables are a list", subscribe("1", "{ __typename }", { variables: [1] })],
  ["subscribe whose operationName is a number", { type: "subscribe", id: "1", payload: { query: "{ __typename }", operationName: 7 } }],
  ["subscribe whose extensions are a string", { type: "subscribe", id: "1", payload: { query: "{ __typename }", extensions: "x" } }],
  ["complete without id", { type: "complete" }],
  ["ping whose payload is not an object", { type: "ping", payload: "x" }],
];

// "Direction: Server -> Client": a client sending one is closed with 4400 too, its reason naming the type.
const SERVER_ONLY: readonly WireMessage[] = [
  { type: "connection_ack" },
  { id: "1", type: "next", payload: { data: {} } },
  { id: "1", type: "error", payload: [{ message: "from the client" }] },
];

const CASES: readonly WsCase[] = [
  // --- Subprotocol -----------------------------------------------------------------------------------------------
  {
    name: "a socket offering no subprotocol is closed with 4406",
    rule: "Communication: 'The WebSocket sub-protocol for this specification is: `graphql-transport-ws`.'",
    offer: null,
    send: [],
    expect: [],
    close: { code: 4406, reason: "Subprotocol not acceptable" },
  },
  {
    name: "an upgrade offering only other subprotocols is answered without one, which the client refuses",
    rule: "Communication: 'The WebSocket sub-protocol for this specification is: `graphql-transport-ws`.' (use.test.ts: the subprotocol is omitted from the response)",
    offer: ["graphql-ws", "graphql-transport-ws-gibberish"],
    handshake: "Server sent no subprotocol",
    send: [],
    expect: [],
  },
  {
    name: "graphql-transport-ws is chosen among several offered",
    rule: "Communication: 'The WebSocket sub-protocol for this specification is: `graphql-transport-ws`.'",
    offer: ["this", "graphql-transport-ws", "one"],
    send: [INIT],
    expect: [ACK],
  },

  // --- ConnectionInit / ConnectionAck ----------------------------------------------------------------------------
  {
    name: "connection_init is acknowledged with connection_ack",
    rule: "ConnectionAck: 'Expected response to the ConnectionInit message from the client acknowledging a successful connection'",
    send: [INIT],
    expect: [ACK],
  },
  {
    name: "connection_init with a null payload is acknowledged",
    rule: "ConnectionInit: 'payload?: Record<string, unknown> | null'",
    send: [{ type: "connection_init", payload: null }],
    expect: [ACK],
  },
  {
    name: "no connection_init within the wait is closed with 4408",
    rule: "ConnectionInit: 'If the client does not request a connection within the allowed timeout, the server will close the socket with the event: `4408: Connection initialisation timeout`'",
    server: { trust: { connectionInitTimeoutMs: 100 } },
    send: [],
    expect: [],
    close: { code: 4408, reason: "Connection initialisation timeout" },
  },
  {
    name: "a second connection_init is closed with 4429",
    rule: "ConnectionInit: 'If the server receives more than one ConnectionInit message at any given time, the server will close the socket with the event `4429: Too many initialisation requests`'",
    send: [INIT, INIT],
    expect: [ACK],
    close: { code: 4429, reason: "Too many initialisation requests" },
  },
  {
    name: "a connection_init after connection_ack is closed with 4429 too",
    rule: "ConnectionInit: 'more than one ConnectionInit message at any given time' → 4429",
    send: [INIT, { received: 1 }, INIT],
    expect: [ACK],
    close: { code: 4429, reason: "Too many initialisation requests" },
  },
  {
    name: "connection_init without a key on a server that requires keys is closed with 4401",
    rule: "ConnectionInit: 'If the server wishes to reject the connection, for example during authentication, it is recommended to close the socket with `4403: Forbidden`'",
    pulse:
      "closes with 4401 Unauthorized and the reason, not 4403: 4401 says 'send a key' (graphql-ws clients do not retry it either); 4403 would read as 'this key may not'. A capture key that subscribes gets FORBIDDEN for that operation only.",
    server: { trust: KEYED },
    send: [INIT],
    expect: [],
    close: { code: 4401, reason: /^Unauthorized: / },
  },
  {
    name: "a socket opened while Pulse is starting is closed with 1013 before any connection_ack",
    rule: "Communication: 'The server can close the socket (kick the client off) at any time.'",
    pulse:
      "closes with 1013 Try Again Later and a reason while its snapshot is restored (docs/api.md, 'Deploys, crashes and startup'): graphql-ws's client retries 1013, but not an upgrade refused with an HTTP status",
    starting: true,
    send: [INIT],
    expect: [],
    close: { code: 1013, reason: "Pulse is starting (startup pending); retry shortly" },
  },

  // --- Ping / Pong -----------------------------------------------------------------------------------------------
  {
    name: "ping is answered with pong",
    rule: "Ping: 'A Pong must be sent in response from the receiving party as soon as possible.'",
    send: [INIT, { type: "ping" }],
    expect: [ACK, { type: "pong" }],
  },
  {
    name: "ping's payload comes back in the pong",
    rule: "Ping: 'The optional payload field can be used to transfer additional details about the ping.' (server.test.ts: returned through the pong)",
    send: [INIT, { type: "ping", payload: { iCome: "back" } }],
    expect: [ACK, { type: "pong", payload: { iCome: "back" } }],
  },
  {
    name: "ping before connection_init is answered too",
    rule: "Ping: 'The Ping message can be sent at any time within the established socket.'",
    send: [{ type: "ping", payload: { early: true } }],
    expect: [{ type: "pong", payload: { early: true } }],
  },
  {
    name: "an unsolicited pong, with or without payload, is not answered",
    rule: "Pong: 'the Pong message may even be sent unsolicited as an unidirectional heartbeat.'",
    send: [INIT, { type: "pong" }, { type: "pong", payload: { beat: 1 } }],
    expect: [ACK],
  },

  // --- Subscribe -------------------------------------------------------------------------------------------------
  {
    name: "subscribe before connection_ack is closed with 4401, and its mutation does not run",
    rule: "Subscribe: 'Executing operations is allowed only after the server has acknowledged the connection […] the socket will be closed immediately with the event `4401: Unauthorized`'",
    send: [subscribe("m", CAPTURE, { variables: { e: anEvent() } })],
    expect: [],
    close: { code: 4401, reason: "Unauthorized" },
    stored: 0,
  },
  {
    name: "a query gets one next, then complete",
    rule: "Single result operation: 'Server dispatches the result with the Next message' then 'the Complete message indicating that the execution has completed'",
    send: [INIT, { capture: "e1" }, subscribe("q", "{ recentEvents(limit: 5) { event } }")],
    expect: [ACK, next("q", { data: { recentEvents: [{ event: "e1" }] } }), complete("q")],
  },
  {
    name: "a mutation gets one next, then complete",
    rule: "Single result operation: '`query` and `mutation` operations without streaming directives' — 'at most one Next message is sent'",
    send: [INIT, subscribe("m", CAPTURE, { variables: { e: anEvent({ event: "signup" }) } })],
    expect: [ACK, next("m", { data: { captureEvent: { event: "signup", distinctId: "user-1" } } }), complete("m")],
  },
  {
    name: "a subscription gets a next per event, in order, and no complete while it runs",
    rule: "Next: 'Operation execution result(s) from the source stream created by the binding Subscribe message.'",
    send: [INIT, subscribe("s", EVENTS), { active: 1 }, { capture: "e1" }, { capture: "e2" }, { capture: "e3" }],
    expect: [
      ACK,
      next("s", { data: { events: { event: "e1" } } }),
      next("s", { data: { events: { event: "e2" } } }),
      next("s", { data: { events: { event: "e3" } } }),
    ],
  },
  {
    name: "operations on one socket are answered each under its own id",
    rule: "Communication: 'Multiple operations identified with separate IDs can be active at any time and their messages can be interleaved on the connection.'",
    send: [INIT, subscribe("s", EVENTS), { active: 1 }, subscribe("q", "{ liveUsers { count } }"), { received: 3 }, { capture: "e1" }],
    expect: [ACK, next("q", { data: { liveUsers: { count: 0 } } }), complete("q"), next("s", { data: { events: { event: "e1" } } })],
  },
  {
    name: "a subscription the client completes gets nothing more, not even a complete",
    rule: "Complete: 'Client -> Server indicates that the client has stopped listening and wants to complete the subscription. No further events, relevant to the original subscription, should be sent through.'",
    send: [
      INIT,
      subscribe("s", EVENTS),
      { active: 1 },
      { capture: "e1" },
      { received: 2 },
      complete("s"),
      { active: 0 },
      { capture: "e2" },
    ],
    expect: [ACK, next("s", { data: { events: { event: "e1" } } })],
  },
  {
    name: "an id already open is closed with 4409, and the open subscription ends",
    rule: "Subscribe: 'If there is already an active subscriber for an operation matching the provided ID, regardless of the operation type, the server must close the socket immediately with the event `4409: Subscriber for <unique-operation-id> already exists`.'",
    send: [INIT, subscribe("not-unique", EVENTS), { active: 1 }, subscribe("not-unique", "{ liveUsers { count } }")],
    expect: [ACK],
    close: { code: 4409, reason: "Subscriber for not-unique already exists" },
  },
  {
    name: "an id is 4409 even while its operation is still starting",
    rule: "Subscribe: 'regardless of the operation type' (server.test.ts: 'even if one is still preparing')",
    send: [INIT, subscribe("not-unique", EVENTS), subscribe("not-unique", EVENTS)],
    expect: [ACK],
    close: { code: 4409, reason: "Subscriber for not-unique already exists" },
  },
  {
    name: "an id is free again once its operation completed",
    rule: "Subscribe: 'The server needs only keep track of IDs for as long as the subscription is active. Once a client completes an operation, it is free to re-use that ID.'",
    send: [INIT, subscribe("q", "{ liveUsers { count } }"), { received: 3 }, subscribe("q", "{ realtimeMetrics { eventsTotal } }")],
    expect: [
      ACK,
      next("q", { data: { liveUsers: { count: 0 } } }),
      complete("q"),
      next("q", { data: { realtimeMetrics: { eventsTotal: 0 } } }),
      complete("q"),
    ],
  },

  // --- Error -----------------------------------------------------------------------------------------------------
  {
    name: "a validation error is an error message (GraphQL errors); no complete follows, the socket stays up",
    rule: "Error: 'Operation execution error(s) in response to the Subscribe message. This can occur before execution starts, usually due to validation errors' — 'This message terminates the operation and no further messages will be sent.'",
    send: [INIT, subscribe("1", "query TestNoField { testNumber testBoolean }")],
    expect: [
      ACK,
      error("1", [
        {
          message: 'Cannot query field "testNumber" on type "Query".',
          locations: [{ line: 1, column: 21 }],
          extensions: { code: "GRAPHQL_VALIDATION_FAILED" },
        },
        {
          message: 'Cannot query field "testBoolean" on type "Query".',
          locations: [{ line: 1, column: 32 }],
          extensions: { code: "GRAPHQL_VALIDATION_FAILED" },
        },
      ]),
    ],
  },
  {
    name: "a syntax error is an error message; the socket stays up",
    rule: "Error: 'This can occur before execution starts'",
    send: [INIT, subscribe("1", "subscription { events { event }")],
    expect: [
      ACK,
      error("1", [
        {
          message: "Syntax Error: Expected Name, found <EOF>.",
          locations: [{ line: 1, column: 32 }],
          extensions: { code: "GRAPHQL_PARSE_FAILED" },
        },
      ]),
    ],
  },
  {
    name: "an operationName the document does not define is an error message; the socket stays up",
    rule: "Error: 'This can occur before execution starts' (Subscribe: 'operationName?: string | null')",
    send: [INIT, subscribe("1", TWO_QUERIES, { operationName: "C" })],
    expect: [ACK, error("1", UNRESOLVED)],
  },
  {
    name: "two operations and no operationName is an error message; the socket stays up",
    rule: "Error: 'This can occur before execution starts'",
    send: [INIT, subscribe("1", TWO_QUERIES)],
    expect: [ACK, error("1", UNRESOLVED)],
  },
  {
    name: "an operation past the per-socket limit is an error message for it alone; the others and the socket stay up",
    rule: "Streaming operation: 'Server optionally checks if the operation is valid before starting executing it, e.g. checking permissions — If not valid, the server sends an Error message and deems the operation complete.'",
    server: { trust: { maxSubscriptionsPerConnection: 1 } },
    send: [INIT, subscribe("a", EVENTS), { active: 1 }, subscribe("b", EVENTS), { received: 2 }, { capture: "e1" }],
    expect: [
      ACK,
      error("b", [
        {
          message:
            "This connection has 1 operations open, the limit is 1 (PULSE_MAX_SUBSCRIPTIONS_PER_CONNECTION); complete one or open another connection",
          extensions: { code: "RATE_LIMITED", limit: 1 },
        },
      ]),
      next("a", { data: { events: { event: "e1" } } }),
    ],
  },
  {
    name: "a subscription whose source cannot start (an after that is no cursor) gets its errors as a result, then complete",
    rule: "Next: 'payload: ExecutionResult' — 'After all results have been emitted, the Complete message will follow' (graphql-js answers a subscribe resolver's error with a result, which graphql-ws's server sends so too)",
    send: [INIT, subscribe("1", 'subscription { events(after: "no-cursor") { event } }')],
    expect: [
      ACK,
      next("1", {
        errors: [
          {
            message: 'after: "no-cursor" is not a Pulse cursor',
            locations: [{ line: 1, column: 16 }],
            path: ["events"],
            extensions: { code: "BAD_USER_INPUT", field: "after" },
          },
        ],
      }),
      complete("1"),
    ],
  },
  {
    name: "a variable of the wrong type is a result with errors and no data, then complete",
    rule: "Next: 'payload: ExecutionResult' (graphql-js answers variable coercion with a result of errors, as graphql-ws's server sends it)",
    send: [INIT, subscribe("1", "query ($n: Int) { recentEvents(limit: $n) { event } }", { variables: { n: "x" } })],
    expect: [
      ACK,
      next("1", {
        errors: [
          expect.objectContaining({
            message: 'Variable "$n" got invalid value "x"; Int cannot represent non-integer value: "x"',
            locations: [{ line: 1, column: 8 }],
          }),
        ],
      }),
      complete("1"),
    ],
  },
  {
    name: "a field error during execution is part of the result, then complete",
    rule: "Next: 'payload: ExecutionResult' — 'After all results have been emitted, the Complete message will follow'",
    send: [INIT, subscribe("1", "{ recentEvents(limit: -1) { event } }")],
    expect: [
      ACK,
      next("1", {
        data: null,
        errors: [
          {
            message: "limit must be zero or more, got -1",
            locations: [{ line: 1, column: 3 }],
            path: ["recentEvents"],
            extensions: { code: "BAD_USER_INPUT", field: "limit" },
          },
        ],
      }),
      complete("1"),
    ],
  },

  // --- Complete --------------------------------------------------------------------------------------------------
  {
    name: "complete for an id never used is ignored",
    rule: "Invalid message: 'It is permissable to simply ignore all unknown IDs without closing the connection.'",
    send: [INIT, complete("never")],
    expect: [ACK],
  },
  {
    name: "complete for an operation the server completed already is ignored",
    rule: "Complete: 'Both client and server must therefore be prepared to receive (and ignore) messages for operations that they consider already completed.'",
    send: [INIT, subscribe("q", "{ liveUsers { count } }"), { received: 3 }, complete("q")],
    expect: [ACK, next("q", { data: { liveUsers: { count: 0 } } }), complete("q")],
  },

  // --- Invalid messages ------------------------------------------------------------------------------------------
  ...MALFORMED.map(([what, frame]): WsCase => ({
    name: `${what} is closed with 4400`,
    rule: "Invalid message: 'Receiving a message of a type or format which is not specified in this document will result in an immediate socket closure with the event `4400: <error-message>`.'",
    send: [INIT, frame],
    expect: [ACK],
    close: INVALID,
  })),
  {
    name: "connection_init whose payload is not an object is closed with 4400",
    rule: "ConnectionInit: 'payload?: Record<string, unknown> | null' — Invalid message: 4400",
    send: [{ type: "connection_init", payload: "key" }],
    expect: [],
    close: INVALID,
  },
  ...SERVER_ONLY.map((frame): WsCase => ({
    name: `${frame.type} from a client is closed with 4400`,
    rule: `${frame.type === "connection_ack" ? "ConnectionAck" : frame.type === "next" ? "Next" : "Error"}: 'Direction: Server -> Client' — Invalid message: 4400`,
    send: [INIT, frame],
    expect: [ACK],
    close: { code: 4400, reason: `Unexpected message of type ${frame.type} received` },
  })),

  // --- The server going away -------------------------------------------------------------------------------------
  {
    name: "shutdown closes with 1001 and sends no complete for the running subscription",
    rule: "Communication: 'The server can close the socket (kick the client off) at any time.'",
    pulse:
      "sends no `complete` before the 1001: a complete would tell graphql-ws's client the subscription is over for good, while without one it reconnects and subscribes again (docs/api.md, 'Deploys, crashes and startup')",
    send: [INIT, subscribe("s", EVENTS), { active: 1 }, { shutdown: true }],
    expect: [ACK],
    close: { code: 1001, reason: "Pulse is shutting down" },
  },
];

/** The ping a row ends with to know the server has read everything before it (its pong is not the row's). */
const SYNC = { sync: "end of row" };
const isSyncPong = (m: WireMessage) => m.type === "pong" && JSON.stringify(m.payload) === JSON.stringify(SYNC);
/** After the sync pong, how long a row waits for frames it does not expect (an operation's late result). */
const QUIET_MS = 100;

async function perform(step: Step, socket: RawGraphqlSocket, server: PulseServer): Promise<void> {
  if ("raw" in step) return socket.send(step.raw);
  if ("capture" in step) return void (await captureEvent(server.url, { event: step.capture, distinctId: "user-1" }));
  if ("received" in step) return void (await waitFor(() => socket.messages.length >= step.received, { what: `${step.received} frames` }));
  if ("active" in step) {
    const what = `${step.active} subscription(s) open`;
    return void (await waitFor(() => server.hub.metrics().activeSubscriptions === step.active, { what }));
  }
  if ("shutdown" in step) return server.close();
  socket.send(step);
}

/** Every `extensions.http` in the errors of the frames: Yoga's HTTP status hints, which are no business of a socket. */
function httpExtensions(messages: readonly WireMessage[]): unknown[] {
  const errors = messages.flatMap((m) => {
    if (m.type === "error") return m.payload as { extensions?: Record<string, unknown> }[];
    if (m.type === "next") return (m.payload as { errors?: { extensions?: Record<string, unknown> }[] }).errors ?? [];
    return [];
  });
  return errors.filter((e) => e.extensions && "http" in e.extensions);
}

async function runCase(c: WsCase): Promise<void> {
  // A starting server's start-up waits for this gate.
  const gate = deferred();
  const options = c.starting ? { ...c.server, beforeReady: () => gate.promise } : c.server;
  const server = await startServer(options, { awaitReady: !c.starting });
  // Opened before the server's close runs (cleanup runs newest first), which would wait for start-up forever.
  onCleanup(() => gate.resolve());

  if (c.handshake) {
    await expect(RawGraphqlSocket.attempt(server.url, { protocol: c.offer })).rejects.toThrow(c.handshake);
    return;
  }
  const socket = await RawGraphqlSocket.connect(server.url, { protocol: c.offer });
  if (c.offer !== null) expect(socket.protocol).toBe("graphql-transport-ws");
  for (const step of c.send) await perform(step, socket, server);

  if (c.close) {
    const closed = await within(socket.whenClosed(), `the close ${c.close.code}`);
    expect(socket.messages, c.rule).toEqual(c.expect);
    const reason = typeof c.close.reason === "string" ? c.close.reason : expect.stringMatching(c.close.reason);
    expect(closed, c.rule).toEqual({ code: c.close.code, reason });
    await waitFor(() => server.hub.metrics().activeSubscriptions === 0, { what: "no subscription left running" });
  } else {
    await waitFor(() => socket.messages.length >= c.expect.length || socket.closed, { what: `${c.expect.length} frames` });
    socket.send({ type: "ping", payload: SYNC });
    await socket.waitForMessage(isSyncPong, "the pong ending the row");
    await sleep(QUIET_MS);
    expect(
      socket.messages.filter((m) => !isSyncPong(m)),
      c.rule,
    ).toEqual(c.expect);
    expect(socket.closed, c.rule).toBeNull();
  }
  expect(httpExtensions(socket.messages), "no extensions.http in any error").toEqual([]);
  if (c.stored !== undefined) expect(server.hub.stream.size, "events stored").toBe(c.stored);
}

describe("graphql-transport-ws (PROTOCOL.md) against Pulse", () => {
  for (const c of CASES) {
    it(c.pulse ? `${c.name} (Pulse: deliberate)` : c.name, () => runCase(c));
  }
});

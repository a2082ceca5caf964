import { GraphQLError } from "graphql";
import { GRAPHQL_TRANSPORT_WS_PROTOCOL } from "graphql-ws";
import { createSchema, createYoga } from "graphql-yoga";
import { afterEach, describe, expect, it, vi } from "vitest";
import { startOperation, type Enveloped } from "../../../src/graphql/start-operation.ts";
import {
  createProtocolServer,
  type OpenedConnection,
  type ProtocolOptions,
  type ProtocolSocket,
} from "../../../src/transport/graphql-ws/protocol.ts";
import { onCleanup } from "../../support/cleanup.ts";
import { sleep, waitFor } from "../../support/wait.ts";

/**
 * The graphql-transport-ws protocol core, by protocol phase, on an in-memory ProtocolSocket: the seam between the
 * protocol and the host library, as graphql-ws tests its server. Operations start through the real startOperation
 * on a small Yoga schema. What `ws` adds (upgrade, keep-alive, 1009, the guard's limits) is tested on real sockets in
 * test/transport/ws.test.ts and test/limits.
 */

type Frame = Record<string, unknown>;

/** A socket in memory: frames as sent, the close, and write callbacks held until the test lets them through. */
class MemorySocket implements ProtocolSocket {
  readonly frames: Frame[] = [];
  closedWith: { code: number; reason: string } | undefined;
  backedUp = false;
  private readonly unwritten: ((error?: Error) => void)[] = [];

  constructor(readonly protocol: string = GRAPHQL_TRANSPORT_WS_PROTOCOL) {}

  send(frame: string, written?: (error?: Error) => void): void {
    if (this.closedWith) return void written?.();
    this.frames.push(JSON.parse(frame) as Frame);
    if (written) this.unwritten.push(written);
  }

  close(code: number, reason: string): void {
    this.closedWith ??= { code, reason };
  }

  /** The frames sent so far have reached the kernel. */
  flush(): void {
    for (const written of this.unwritten.splice(0)) written();
  }

  framesFor(id: string): Frame[] {
    return this.frames.filter((frame) => frame["id"] === id);
  }
}

/** A subscription's source, fed by the test; `returned` once the server ended it. */
class Feed implements AsyncIterableIterator<number> {
  pulls = 0;
  returned = false;
  private readonly queued: IteratorResult<number>[] = [];
  private waiting: ((step: IteratorResult<number>) => void) | undefined;

  push(value: number): void {
    this.deliver({ value, done: false });
  }

  end(): void {
    this.deliver({ value: undefined, done: true });
  }

  next(): Promise<IteratorResult<number>> {
    this.pulls++;
    const step = this.queued.shift();
    return step ? Promise.resolve(step) : new Promise((resolve) => (this.waiting = resolve));
  }

  return(): Promise<IteratorResult<number>> {
    this.returned = true;
    this.deliver({ value: undefined, done: true });
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private deliver(step: IteratorResult<number>): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    if (waiting) waiting(step);
    else this.queued.push(step);
  }
}

const feeds: Feed[] = [];
const yoga = createYoga({
  logging: false,
  schema: createSchema({
    typeDefs: /* GraphQL */ `
      type Query {
        hello(name: String!): String!
      }
      type Subscription {
        ticks: Int!
      }
    `,
    resolvers: {
      Query: { hello: (_: unknown, { name }: { name: string }) => `Hello ${name}` },
      Subscription: {
        ticks: {
          subscribe: () => {
            const feed = new Feed();
            feeds.push(feed);
            return feed;
          },
          resolve: (tick: number) => tick,
        },
      },
    },
  }),
});

const TICKS = "subscription { ticks }";
afterEach(() => {
  vi.useRealTimers();
  feeds.length = 0;
});

/** A connection on an in-memory socket; `options` replace the defaults (no guard, Yoga's envelop). */
function open(options: Partial<ProtocolOptions<MemorySocket>> = {}, socket = new MemorySocket()) {
  const server = createProtocolServer<MemorySocket>({
    // Pulse's context type is not this schema's; startOperation only calls the envelop's functions.
    startOperation: ({ connectionParams }, payload) => {
      const enveloped = yoga.getEnveloped({ connectionParams }) as unknown as Enveloped;
      return startOperation(enveloped, payload);
    },
    ...options,
  });
  const connection = server.open(socket);
  if (connection) onCleanup(() => connection.closed());
  return { socket, connection: connection! };
}

function send(connection: OpenedConnection, message: Frame): void {
  connection.receive(JSON.stringify(message));
}

/** A connection past connection_ack. */
function acknowledged(options: Partial<ProtocolOptions<MemorySocket>> = {}) {
  const { socket, connection } = open(options);
  send(connection, { type: "connection_init" });
  expect(socket.frames).toEqual([{ type: "connection_ack" }]);
  return { socket, connection };
}

const ticksOf = (frame: Frame) => (frame["payload"] as { data: { ticks: number } }).data.ticks;

async function feedOf(count: number): Promise<Feed> {
  await waitFor(() => feeds.length >= count, { what: `${count} subscription(s) started` });
  return feeds[count - 1]!;
}

describe("Connect", () => {
  it("acknowledges connection_init, with its payload as the connection's params", () => {
    const onConnect = vi.fn(() => true);
    const { socket, connection } = open({ onConnect });
    send(connection, { type: "connection_init", payload: { authorization: "Bearer k" } });
    expect(onConnect).toHaveBeenCalledOnce();
    expect(connection.connectionParams).toEqual({ authorization: "Bearer k" });
    expect(socket.frames).toEqual([{ type: "connection_ack" }]);
    expect(socket.closedWith).toBeUndefined();
  });

  it("closes a socket that did not negotiate graphql-transport-ws with 4406, and drives nothing", () => {
    const socket = new MemorySocket("graphql-ws");
    const { connection } = open({}, socket);
    expect(connection).toBeNull();
    expect(socket.closedWith?.code).toBe(4406);
  });

  it("closes with 4408 when connection_init does not come within connectionInitWaitTimeout", () => {
    vi.useFakeTimers();
    const { socket } = open({ connectionInitWaitTimeout: 3_000 });
    vi.advanceTimersByTime(2_999);
    expect(socket.closedWith).toBeUndefined();
    vi.advanceTimersByTime(1);
    expect(socket.closedWith).toEqual({ code: 4408, reason: "Connection initialisation timeout" });
  });

  it("does not close a connection initialised in time, nor one with no timeout", () => {
    vi.useFakeTimers();
    const { socket, connection } = open({ connectionInitWaitTimeout: 3_000 });
    vi.advanceTimersByTime(2_000);
    send(connection, { type: "connection_init" });
    const waitsForever = open({ connectionInitWaitTimeout: 0 });
    vi.advanceTimersByTime(60_000);
    expect(socket.closedWith).toBeUndefined();
    expect(waitsForever.socket.closedWith).toBeUndefined();
  });

  it("closes with 4429 on a second connection_init", () => {
    const { socket, connection } = acknowledged();
    send(connection, { type: "connection_init" });
    expect(socket.closedWith?.code).toBe(4429);
  });

  it("closes with 4400 on a message that is not JSON, and on one only a server sends", () => {
    const garbled = acknowledged();
    garbled.connection.receive("{not json");
    expect(garbled.socket.closedWith?.code).toBe(4400);

    for (const type of ["connection_ack", "next", "error"]) {
      const { socket, connection } = acknowledged();
      send(connection, { type, id: "1", payload: {} });
      expect(socket.closedWith?.code, type).toBe(4400);
    }
  });

  it("sends no ack when onConnect refuses (it closes the socket itself with 4401), then runs nothing", async () => {
    const start = vi.fn<ProtocolOptions<MemorySocket>["startOperation"]>();
    const { socket, connection } = open({
      startOperation: start,
      onConnect: ({ socket: refused }) => {
        refused.close(4401, "Unauthorized: no key");
        return false;
      },
    });
    send(connection, { type: "connection_init" });
    send(connection, { type: "subscribe", id: "1", payload: { query: TICKS } });
    await Promise.resolve();
    expect(socket.frames).toEqual([]);
    expect(socket.closedWith?.code).toBe(4401);
    expect(start).not.toHaveBeenCalled();
  });

  it("closes with 4500 when onConnect throws", () => {
    const { socket, connection } = open({
      onConnect: () => {
        throw new Error("key store down");
      },
    });
    expect(() => send(connection, { type: "connection_init" })).not.toThrow();
    expect(socket.closedWith?.code).toBe(4500);
    expect(socket.frames).toEqual([]);
  });

  it("answers ping with pong at once, echoing its payload", () => {
    const { socket, connection } = acknowledged();
    send(connection, { type: "ping", payload: { n: 7 } });
    send(connection, { type: "ping" });
    send(connection, { type: "pong" });
    expect(socket.frames.slice(1)).toEqual([{ type: "pong", payload: { n: 7 } }, { type: "pong" }]);
  });
});

describe("Subscribe", () => {
  it("closes with 4401 on subscribe before connection_ack", () => {
    const { socket, connection } = open();
    send(connection, { type: "subscribe", id: "1", payload: { query: '{ hello(name: "a") }' } });
    expect(socket.closedWith?.code).toBe(4401);
  });

  it("closes with 4409 on an operation id already open", async () => {
    const { socket, connection } = acknowledged();
    send(connection, { type: "subscribe", id: "1", payload: { query: TICKS } });
    await feedOf(1);
    send(connection, { type: "subscribe", id: "1", payload: { query: TICKS } });
    expect(socket.closedWith).toEqual({ code: 4409, reason: "Subscriber for 1 already exists" });
  });

  it("answers a query with one next, then complete, and frees its id", async () => {
    const { socket, connection } = acknowledged();
    const query = "query ($n: String!) { hello(name: $n) }";
    send(connection, { type: "subscribe", id: "q", payload: { query, variables: { n: "Ada" } } });
    await waitFor(() => socket.framesFor("q").length === 2, { what: "the query's two frames" });
    expect(socket.framesFor("q")).toEqual([
      { id: "q", type: "next", payload: { data: { hello: "Hello Ada" } } },
      { id: "q", type: "complete" },
    ]);
    expect(connection.openOperations).toBe(0);
  });

  it("sends each operation's results in the order they come, then complete when the subscription ends", async () => {
    const { socket, connection } = acknowledged();
    send(connection, { type: "subscribe", id: "a", payload: { query: TICKS } });
    send(connection, { type: "subscribe", id: "b", payload: { query: TICKS } });
    const a = await feedOf(1);
    const b = await feedOf(2);
    a.push(1);
    b.push(10);
    a.push(2);
    await waitFor(() => socket.frames.length === 4, { what: "three next frames" });
    b.push(20);
    a.end();
    await waitFor(() => socket.framesFor("a").length === 3, { what: "a's complete" });
    await waitFor(() => socket.framesFor("b").length === 2, { what: "b's second frame" });

    expect(socket.framesFor("a")).toEqual([
      { id: "a", type: "next", payload: { data: { ticks: 1 } } },
      { id: "a", type: "next", payload: { data: { ticks: 2 } } },
      { id: "a", type: "complete" },
    ]);
    expect(socket.framesFor("b").map(ticksOf)).toEqual([10, 20]);
    expect(connection.openOperations).toBe(1);
  });

  it("answers an invalid operation with an error for that id alone; the socket stays up, the id free", async () => {
    const { socket, connection } = acknowledged();
    send(connection, { type: "subscribe", id: "1", payload: { query: "{ nope }" } });
    await waitFor(() => socket.framesFor("1").length === 1, { what: "the error" });
    const [error] = socket.framesFor("1");
    const validationFailed = { extensions: { code: "GRAPHQL_VALIDATION_FAILED" } };
    expect(error).toMatchObject({ id: "1", type: "error", payload: [validationFailed] });
    expect(socket.closedWith).toBeUndefined();

    send(connection, { type: "subscribe", id: "1", payload: { query: '{ hello(name: "again") }' } });
    await waitFor(() => socket.framesFor("1").length === 3, { what: "the reused id's frames" });
    expect(
      socket
        .framesFor("1")
        .slice(1)
        .map((frame) => frame["type"]),
    ).toEqual(["next", "complete"]);
  });

  it("answers an operation admit refuses with admit's errors; the socket stays up", async () => {
    const refusal = new GraphQLError("This connection has 1 operations open, the limit is 1", {
      extensions: { code: "RATE_LIMITED", limit: 1 },
    });
    const { socket, connection } = acknowledged({ admit: (c) => (c.openOperations > 1 ? [refusal] : null) });
    send(connection, { type: "subscribe", id: "1", payload: { query: TICKS } });
    send(connection, { type: "subscribe", id: "2", payload: { query: TICKS } });
    await waitFor(() => socket.framesFor("2").length === 1, { what: "the refusal" });
    expect(socket.framesFor("2")).toEqual([
      { id: "2", type: "error", payload: [{ message: refusal.message, extensions: refusal.extensions }] },
    ]);
    expect(socket.closedWith).toBeUndefined();
    expect(connection.openOperations).toBe(1);
  });

  it("takes the next result only once a frame is written while the socket is backed up", async () => {
    const { socket, connection } = acknowledged();
    send(connection, { type: "subscribe", id: "s", payload: { query: TICKS } });
    const feed = await feedOf(1);
    for (const tick of [1, 2, 3]) feed.push(tick);
    await waitFor(() => socket.framesFor("s").length === 3, { what: "three frames, not backed up" });
    // The operation is already waiting for the fourth result.
    const pullsBefore = feed.pulls;

    socket.backedUp = true;
    for (const tick of [4, 5]) feed.push(tick);
    await waitFor(() => socket.framesFor("s").length === 4, { what: "the frame that found the socket backed up" });
    await sleep(20);
    expect(socket.framesFor("s")).toHaveLength(4);
    expect(feed.pulls).toBe(pullsBefore);

    socket.flush();
    await waitFor(() => socket.framesFor("s").length === 5, { what: "the next frame, once written" });
    expect(socket.framesFor("s").map(ticksOf)).toEqual([1, 2, 3, 4, 5]);
  });

  it("answers an operation whose start rejects with an error for that id alone", async () => {
    const startOperation = () => Promise.reject(new Error("database on fire"));
    const { socket, connection } = acknowledged({ startOperation });
    send(connection, { type: "subscribe", id: "1", payload: { query: TICKS } });
    await waitFor(() => socket.framesFor("1").length === 1, { what: "the error" });
    expect(socket.framesFor("1")[0]).toMatchObject({ id: "1", type: "error" });
    expect(socket.closedWith).toBeUndefined();
    expect(connection.openOperations).toBe(0);
  });
});

describe("Complete", () => {
  it("ends a subscription the client completes, without a complete frame, and frees its id", async () => {
    const { socket, connection } = acknowledged();
    send(connection, { type: "subscribe", id: "s", payload: { query: TICKS } });
    const feed = await feedOf(1);
    feed.push(1);
    await waitFor(() => socket.framesFor("s").length === 1, { what: "the first frame" });

    send(connection, { type: "complete", id: "s" });
    await waitFor(() => feed.returned, { what: "the subscription to end" });
    feed.push(2);
    await sleep(20);
    expect(socket.framesFor("s").map((frame) => frame["type"])).toEqual(["next"]);
    expect(connection.openOperations).toBe(0);

    send(connection, { type: "subscribe", id: "s", payload: { query: TICKS } });
    expect(socket.closedWith).toBeUndefined();
    expect(connection.openOperations).toBe(1);
  });

  it("ends an operation the client completes while it is starting, sending nothing for it", async () => {
    const { socket, connection } = acknowledged();
    send(connection, { type: "subscribe", id: "early", payload: { query: TICKS } });
    send(connection, { type: "complete", id: "early" });
    send(connection, { type: "subscribe", id: "other", payload: { query: '{ hello(name: "b") }' } });
    await waitFor(() => socket.framesFor("other").length === 2, { what: "the other operation's frames" });
    await waitFor(() => feeds[0]?.returned, { what: "the early subscription to be ended" });
    expect(socket.framesFor("early")).toEqual([]);
    expect(connection.openOperations).toBe(0);
  });

  it("ignores complete for an id that is not open", () => {
    const { socket, connection } = acknowledged();
    send(connection, { type: "complete", id: "never" });
    expect(socket.closedWith).toBeUndefined();
    expect(socket.frames).toHaveLength(1);
  });
});

describe("Disconnect", () => {
  it("ends every open operation without a complete frame once the socket has closed", async () => {
    const { socket, connection } = acknowledged();
    for (const id of ["1", "2"]) send(connection, { type: "subscribe", id, payload: { query: TICKS } });
    const first = await feedOf(1);
    const second = await feedOf(2);
    await connection.closed();
    expect([first.returned, second.returned]).toEqual([true, true]);
    expect(connection.openOperations).toBe(0);
    expect(socket.frames.filter((frame) => frame["type"] === "complete")).toEqual([]);
  });

  it("stops waiting for connection_init once the socket has closed", async () => {
    vi.useFakeTimers();
    const { socket, connection } = open({ connectionInitWaitTimeout: 3_000 });
    await connection.closed();
    vi.advanceTimersByTime(10_000);
    expect(socket.closedWith).toBeUndefined();
  });
});

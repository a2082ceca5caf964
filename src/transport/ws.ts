import type { IncomingMessage, Server } from "node:http";
import type { ExecutionResult, GraphQLError } from "graphql";
import { CloseCode, GRAPHQL_TRANSPORT_WS_PROTOCOL, handleProtocols, MessageType, parseMessage, type SubscribePayload } from "graphql-ws";
import type { YogaServerInstance } from "graphql-yoga";
import { WebSocketServer, type WebSocket } from "ws";
import type { PulseContext } from "../graphql/context.ts";
import { operationErrors } from "../graphql/errors.ts";
import { startOperation } from "../graphql/start-operation.ts";
import { pushableResults, type PushableResults, type ResultSink } from "../graphql/shared-execution.ts";
import { corkUntilImmediate } from "./cork.ts";
import { resultJson } from "./frames.ts";
import type { WebSocketGuard } from "./ws-guard.ts";

/** Close code for a server going away: clients reconnect elsewhere (or later) and resume with `after`. */
export const CLOSE_GOING_AWAY = 1001;

/**
 * Bytes a socket may hold unsent before an operation waits for the kernel (64 KiB). Below it the next result is
 * taken as soon as a frame is written, so a subscription sends its queued events in the same turn of the loop;
 * above it the operation waits for its frame's write callback, the subscriber's queue fills, and a reader that
 * stays behind ends with LAGGED.
 */
export const WRITE_AHEAD_BYTES = 64 * 1024;

export interface WebSocketTransport {
  /** Closes every socket with 1001, after the `complete` of each operation the hub has already ended (`hub.close()`). */
  close(): Promise<void>;
}

/**
 * What stands for the upgrade request once the connection is open: operations see it as their context's `req`
 * (its socket's `remoteAddress` is the caller's address), and the hooks as the connection's identity. The upgrade
 * request itself (headers, raw headers, stream state: ~2 KB) is not kept for the connection's life.
 */
export interface WebSocketPeer {
  readonly socket: IncomingMessage["socket"];
}

/** Connection lifecycle hooks (logging). */
export interface WebSocketHooks {
  /** Before the 101 response goes out: `headers` may be added to (the request id is echoed there). */
  upgrading?(request: IncomingMessage, headers: string[]): void;
  /** The connection is open: `peer` stands for it from now on. */
  opened?(request: IncomingMessage, peer: WebSocketPeer): void;
  /** After the connection's operations have ended. */
  closed?(peer: WebSocketPeer, code: number, reason: string): void;
}

/** One `graphql-transport-ws` connection, as the guard sees it. */
export interface WebSocketConnection {
  readonly socket: WebSocket;
  /** The `connection_init` payload, once received (`authorization` carries the key). */
  readonly connectionParams: Readonly<Record<string, unknown>> | undefined;
  /** Operations open on this connection, the one being started included. */
  readonly openOperations: number;
}

/**
 * Pulse's `graphql-transport-ws` server on the same port and path as Yoga. The protocol's messages, close codes and
 * message validation are graphql-ws's own (`parseMessage`, `CloseCode`); the server loop is Pulse's, for what
 * graphql-ws's `useServer` cannot do: serialize a result shared by many subscriptions once (see `frameOf`), and
 * hold little per idle subscription (one keep-alive timer for all sockets, no suspended `for await` per operation,
 * no closures per message). Every operation runs through Yoga's envelop, so the plugins (error masking, limits,
 * auth, shared execution) apply exactly as on HTTP. A malformed or failing operation is answered with an `error`
 * message for that operation alone; the socket stays up.
 *
 * Close codes: 4400 invalid message (or one only a server sends), 4401 `subscribe` before `connection_init` or a
 * refused key (the guard), 4406 no `graphql-transport-ws` subprotocol, 4408 no `connection_init` within the guard's
 * timeout, 4409 an operation id already open, 4429 a second `connection_init`, 1009 a message over the size limit
 * (ws), 1013 a stalled reader (the guard), 1001 shutdown. A peer that does not answer the keep-alive ping by the
 * next one is cut off without a close frame.
 */
export function attachWebSocket(
  server: Server,
  yoga: YogaServerInstance<Record<string, unknown>, PulseContext>,
  guard: WebSocketGuard,
  hooks: WebSocketHooks = {},
): WebSocketTransport {
  const wss = new WebSocketServer({ server, path: yoga.graphqlEndpoint, handleProtocols, ...guard.serverOptions });
  // ws re-emits a listening server's errors here; without a listener one would end the process.
  wss.on("error", () => {});
  const stopWatching = guard.watch(wss);
  const connections = new Set<Connection>();
  wss.on("headers", (headers, request) => hooks.upgrading?.(request, headers));
  wss.on("connection", (socket, request) => {
    const connection = new Connection(socket, { socket: request.socket }, yoga, guard, hooks, connections);
    connections.add(connection);
    hooks.opened?.(request, connection.peer);
    connection.start(guard.connectionInitWaitTimeout);
  });
  // One timer for every socket: a ping each round, and a socket that did not answer the previous one is dropped.
  const keepAliveMs = guard.keepAliveMs;
  const keepAlive =
    keepAliveMs > 0
      ? setInterval(() => {
          for (const connection of connections) connection.ping();
        }, keepAliveMs)
      : undefined;
  keepAlive?.unref();

  return {
    async close() {
      stopWatching();
      clearInterval(keepAlive);
      // The hub has just ended every operation; their `complete` is written a few promise turns later. A socket
      // closed before that sends nothing more, and its clients would see an abnormal end instead of complete.
      await new Promise<void>((resolve) => setImmediate(resolve));
      for (const socket of wss.clients) socket.close(CLOSE_GOING_AWAY, "Pulse is shutting down");
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

/** The state of one socket: owned here, read by the guard through WebSocketConnection. */
class Connection implements WebSocketConnection {
  connectionParams: Readonly<Record<string, unknown>> | undefined;
  private initReceived = false;
  private acknowledged = false;
  private awaitingPong = false;
  private initTimer: NodeJS.Timeout | undefined;
  /** Open operations by id, those still starting included (their id is taken). */
  private readonly operations = new Map<string, Operation>();
  private readonly cork: () => void;

  constructor(
    readonly socket: WebSocket,
    readonly peer: WebSocketPeer,
    private readonly yoga: YogaServerInstance<Record<string, unknown>, PulseContext>,
    private readonly guard: WebSocketGuard | undefined,
    private readonly hooks: WebSocketHooks,
    private readonly registry: Set<Connection>,
  ) {
    this.cork = corkUntilImmediate(peer.socket);
    socket.once("close", (code: number, reason: Buffer) => void this.closed(code, reason.toString()));
  }

  get openOperations(): number {
    return this.operations.size;
  }

  start(initTimeoutMs: number): void {
    const { socket } = this;
    // A failed socket (a message over the size limit: ws closes with 1009 itself) ends in `close`; nothing to add.
    socket.on("error", () => {});
    if (socket.protocol !== GRAPHQL_TRANSPORT_WS_PROTOCOL) {
      socket.close(CloseCode.SubprotocolNotAcceptable, "Subprotocol not acceptable");
      return;
    }
    socket.on("pong", () => {
      this.awaitingPong = false;
    });
    socket.on("message", (data: Buffer) => this.receive(String(data)));
    if (initTimeoutMs > 0 && Number.isFinite(initTimeoutMs)) {
      this.initTimer = setTimeout(() => {
        if (!this.initReceived) socket.close(CloseCode.ConnectionInitialisationTimeout, "Connection initialisation timeout");
      }, initTimeoutMs);
    }
  }

  /** The keep-alive round: a socket that did not answer the last ping is dropped, the others pinged again. */
  ping(): void {
    if (this.socket.readyState !== this.socket.OPEN) return;
    if (this.awaitingPong) return void this.socket.terminate();
    this.awaitingPong = true;
    this.socket.ping();
  }

  /** Writes one frame, batched with this turn's other frames (see cork.ts); `written` once it reached the kernel. */
  send(frame: string, written?: (error?: Error) => void): void {
    if (this.socket.readyState !== this.socket.OPEN) return void written?.();
    this.cork();
    this.socket.send(frame, written);
  }

  get backedUp(): boolean {
    return this.socket.bufferedAmount >= WRITE_AHEAD_BYTES;
  }

  private receive(data: string): void {
    let message: ReturnType<typeof parseMessage>;
    try {
      message = parseMessage(data);
    } catch {
      return this.socket.close(CloseCode.BadRequest, "Invalid message received");
    }
    switch (message.type) {
      case MessageType.ConnectionInit:
        return this.init(message.payload);
      case MessageType.Ping:
        return this.send(JSON.stringify(message.payload ? { type: MessageType.Pong, payload: message.payload } : { type: MessageType.Pong }));
      case MessageType.Pong:
        return;
      case MessageType.Subscribe:
        return this.subscribe(message.id, message.payload);
      case MessageType.Complete:
        return void this.operations.get(message.id)?.stop();
      default:
        // connection_ack, next and error are the server's to send.
        return this.socket.close(CloseCode.BadRequest, `Unexpected message of type ${message.type} received`);
    }
  }

  private init(payload: Record<string, unknown> | null | undefined): void {
    if (this.initReceived) return this.socket.close(CloseCode.TooManyInitialisationRequests, "Too many initialisation requests");
    this.initReceived = true;
    clearTimeout(this.initTimer);
    this.initTimer = undefined;
    if (payload) this.connectionParams = payload;
    // The guard closes the socket itself (4401) when it refuses the key.
    if (this.guard && !this.guard.onConnect(this)) return;
    this.acknowledged = true;
    this.send(JSON.stringify({ type: MessageType.ConnectionAck }));
  }

  private subscribe(id: string, payload: SubscribePayload): void {
    if (!this.acknowledged) return this.socket.close(CloseCode.Unauthorized, "Unauthorized");
    if (this.operations.has(id)) return this.socket.close(CloseCode.SubscriberAlreadyExists, `Subscriber for ${id} already exists`);
    const operation = new Operation(this, id);
    this.operations.set(id, operation);
    void this.run(operation, payload).catch((error: unknown) => operation.fail([error]));
  }

  private async run(operation: Operation, payload: SubscribePayload): Promise<void> {
    const refusal = this.guard?.admit(this);
    if (refusal) return operation.fail(refusal);
    const started = await startOperation(
      this.yoga.getEnveloped({ connectionParams: this.connectionParams, req: this.peer, socket: this.socket, transport: "ws" }),
      payload,
    );
    if ("errors" in started) return operation.fail(started.errors);
    const { contextValue, result } = started;
    if (!isAsyncIterable(result)) {
      operation.write(result);
      return operation.end();
    }
    // The client completed the operation (or the socket closed) while it was starting.
    if (!this.isOpen(operation)) return void result.return?.();
    const pushable = pushableResults(contextValue);
    if (pushable) operation.pushFrom(pushable);
    else operation.iterate(result);
  }

  /** An operation has ended (completed, failed, or stopped by the client): its id is free again. */
  release(operation: Operation): void {
    if (this.isOpen(operation)) this.operations.delete(operation.id);
  }

  isOpen(operation: Operation): boolean {
    return this.operations.get(operation.id) === operation;
  }

  private async closed(code: number, reason: string): Promise<void> {
    clearTimeout(this.initTimer);
    const open = [...this.operations.values()];
    this.operations.clear();
    await Promise.all(open.map((operation) => operation.stop()));
    this.registry.delete(this);
    this.hooks.closed?.(this.peer, code, reason);
  }
}

/** The `next` frame for one result: the result's JSON (serialized once for a whole share group) in the operation's envelope. */
function frameOf(idJson: string, result: ExecutionResult): string {
  return `{"id":${idJson},"type":"next","payload":${resultJson(result)}}`;
}

/**
 * One operation on a connection: its results written as `next` frames. An `events` subscription's results are
 * pushed to it as their events arrive (`pushFrom`), any other operation's are pulled one at a time (`iterate`).
 */
class Operation implements ResultSink {
  private readonly idJson: string;
  private iterator: AsyncIterator<ExecutionResult> | undefined;
  private pushable: PushableResults | undefined;
  private finished = false;

  constructor(
    private readonly connection: Connection,
    readonly id: string,
  ) {
    this.idJson = JSON.stringify(id);
  }

  /** Push mode: the iterator envelop returned is let go (see pushableResults); `stop()` closes the results. */
  pushFrom(pushable: PushableResults): void {
    this.pushable = pushable;
    pushable.push(this);
  }

  /** Push mode: one result. Past the write-ahead the results wait (false) until this frame has reached the kernel. */
  next(result: ExecutionResult): boolean {
    if (this.finished) return true;
    if (!this.connection.backedUp) {
      this.write(result);
      return true;
    }
    this.connection.send(frameOf(this.idJson, result), () => {
      if (!this.finished) this.pushable!.resume();
    });
    return false;
  }

  /** Push mode: the subscription ended by itself (LAGGED, shutdown). */
  complete(): void {
    this.end();
  }

  iterate(results: AsyncIterable<ExecutionResult>): void {
    this.iterator = results[Symbol.asyncIterator]();
    this.pull();
  }

  /** Takes the next result; the callbacks are anonymous (see cork.ts on named closures under tsx). */
  private pull(): void {
    this.iterator!.next().then(
      (step) => this.received(step),
      (error: unknown) => this.fail([error]),
    );
  }

  private received(step: IteratorResult<ExecutionResult>): void {
    if (this.finished) return;
    if (step.done) return this.end();
    // Below the write-ahead the next result is taken at once; above it, once this frame has reached the kernel.
    if (!this.connection.backedUp) {
      this.write(step.value);
      return this.pull();
    }
    this.connection.send(frameOf(this.idJson, step.value), () => {
      if (!this.finished) this.pull();
    });
  }

  write(result: ExecutionResult): void {
    if (this.connection.isOpen(this)) this.connection.send(frameOf(this.idJson, result));
  }

  fail(errors: readonly unknown[]): void {
    if (this.finished) return;
    if (this.connection.isOpen(this)) {
      const payload = operationErrors(errors).map((error: GraphQLError) => error.toJSON());
      this.connection.send(JSON.stringify({ id: this.id, type: MessageType.Error, payload }));
    }
    this.finished = true;
    this.connection.release(this);
    void this.close();
  }

  /** The results ended: `complete` to the client (unless it completed the operation itself). */
  end(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.connection.isOpen(this)) this.connection.send(`{"id":${this.idJson},"type":"complete"}`);
    this.connection.release(this);
  }

  /** The client completed the operation, or the socket closed: end the results without a `complete`. */
  async stop(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    this.connection.release(this);
    await this.close();
  }

  private close(): Promise<unknown> | undefined {
    return (this.pushable ?? this.iterator)?.return?.();
  }
}

function isAsyncIterable(value: unknown): value is AsyncIterableIterator<ExecutionResult> {
  return typeof value === "object" && value !== null && Symbol.asyncIterator in value;
}

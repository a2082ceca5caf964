import type { ExecutionResult, GraphQLError } from "graphql";
import { CloseCode, GRAPHQL_TRANSPORT_WS_PROTOCOL, MessageType, parseMessage, type SubscribePayload } from "graphql-ws";
import { operationErrors } from "../../graphql/errors.ts";
import type { StartedOperation } from "../../graphql/start-operation.ts";
import type { PushableResults, ResultSink } from "../../graphql/shared-execution.ts";
import { resultJson } from "../frames.ts";

/**
 * What the protocol needs of a socket: graphql-ws's 5-member `WebSocket`, with the message listener turned around
 * (the adapter calls `receive`) and the write-ahead made visible, so a subscription waits for the kernel only when
 * the socket is backed up. One implementation per host library (use/ws.ts); tests use an in-memory one.
 */
export interface ProtocolSocket {
  /** The negotiated subprotocol: anything but `graphql-transport-ws` is closed with 4406. */
  readonly protocol: string;
  /**
   * Writes one frame; `written` is called once it reached the kernel (with the error if it failed), or at once if
   * the socket is no longer open (the frame is then dropped).
   */
  send(frame: string, written?: (error?: Error) => void): void;
  /** Closes the socket; once closing, further `send` and `close` calls are ignored. */
  close(code: number, reason: string): void;
  /** More unsent bytes than the write-ahead allows: the next result waits until this frame is `written`. */
  readonly backedUp: boolean;
}

/** One `graphql-transport-ws` connection, as the callbacks (the guard) see it. */
export interface ProtocolConnection<S extends ProtocolSocket = ProtocolSocket> {
  readonly socket: S;
  /** The `connection_init` payload, once received (`authorization` carries the key). */
  readonly connectionParams: Readonly<Record<string, unknown>> | undefined;
  /** Operations open on this connection, the one being started included. */
  readonly openOperations: number;
}

/** A connection as its adapter drives it. */
export interface OpenedConnection<S extends ProtocolSocket = ProtocolSocket> extends ProtocolConnection<S> {
  /** One text message from the peer. */
  receive(data: string): void;
  /** The socket has closed: its operations end without a `complete`; resolves once they have. */
  closed(): Promise<void>;
  /**
   * The server is going away: closes the socket with `code` (1001) and ends its operations without a `complete`,
   * whatever ends their results afterwards. A `complete` tells a client the operation is over for good; without
   * one, graphql-ws's client reconnects and subscribes again by itself. Resolves once the operations have ended.
   */
  shutDown(code: number, reason: string): Promise<void>;
}

export interface ProtocolOptions<S extends ProtocolSocket = ProtocolSocket> {
  /**
   * Starts one operation (Yoga's envelop: see startOperation). Required. Errors it returns become the operation's
   * `error` message; if it rejects, the rejection (masked by operationErrors) does too. The socket stays up.
   */
  readonly startOperation: (connection: ProtocolConnection<S>, payload: SubscribePayload) => Promise<StartedOperation>;
  /**
   * Authenticates `connection_init`: true to acknowledge, false after closing the socket itself (the guard's 4401).
   * Default: every connection is acknowledged. If it throws, the socket is closed with 4500.
   */
  readonly onConnect?: (connection: ProtocolConnection<S>) => boolean;
  /**
   * Refuses an operation with errors for that operation alone (the guard's per-connection limit), or admits it
   * (null). Default: every operation is admitted. If it throws, the error becomes that operation's `error` message.
   */
  readonly admit?: (connection: ProtocolConnection<S>) => readonly GraphQLError[] | null;
  /**
   * Milliseconds a socket has to send `connection_init` before it is closed with 4408. Default 3000 (graphql-ws's);
   * 0 or Infinity waits forever.
   */
  readonly connectionInitWaitTimeout?: number;
}

/** The protocol for every socket of one server. */
export interface ProtocolServer<S extends ProtocolSocket = ProtocolSocket> {
  /**
   * A socket has opened. Null when it does not speak `graphql-transport-ws`: it is closed with 4406 and nothing
   * more is to be driven.
   */
  open(socket: S): OpenedConnection<S> | null;
}

/**
 * Pulse's `graphql-transport-ws` server, on any `ProtocolSocket`. The protocol's messages, close codes and
 * message validation are graphql-ws's own (`parseMessage`, `CloseCode`); the server loop is Pulse's, for what
 * graphql-ws's `useServer` cannot do: serialize a result shared by many subscriptions once (see `frameOf`), and
 * hold little per idle subscription (no suspended `for await` per operation, no closures per message). Operations
 * start through `startOperation` (Yoga's envelop, in use/ws.ts). A malformed or failing operation is answered
 * with an `error` message for that operation alone; the socket stays up.
 *
 * Close codes: 4400 invalid message (or one only a server sends), 4401 `subscribe` before `connection_ack`,
 * 4406 no `graphql-transport-ws` subprotocol, 4408 no `connection_init` within `connectionInitWaitTimeout`,
 * 4409 an operation id already open, 4429 a second `connection_init`, 4500 `onConnect` threw.
 */
export function createProtocolServer<S extends ProtocolSocket>(options: ProtocolOptions<S>): ProtocolServer<S> {
  const { startOperation, onConnect = acknowledge, admit = admitAll, connectionInitWaitTimeout = 3_000 } = options;
  // Read by every connection of this server; one object rather than three fields per connection.
  const server: ServerSettings<S> = { startOperation, onConnect, admit };
  return {
    open(socket) {
      const connection = new Connection(socket, server);
      return connection.start(connectionInitWaitTimeout) ? connection : null;
    },
  };
}

type ServerSettings<S extends ProtocolSocket> = Required<Pick<ProtocolOptions<S>, "startOperation" | "onConnect" | "admit">>;

const acknowledge = (): boolean => true;
const admitAll = (): null => null;

/** The state of one socket: owned here, read by the callbacks through ProtocolConnection. */
class Connection<S extends ProtocolSocket> implements OpenedConnection<S>, OperationHost {
  connectionParams: Readonly<Record<string, unknown>> | undefined;
  private initReceived = false;
  private acknowledged = false;
  private initTimer: NodeJS.Timeout | undefined;
  /** Open operations by id, those still starting included (their id is taken). */
  private readonly operations = new Map<string, Operation>();

  constructor(
    readonly socket: S,
    private readonly server: ServerSettings<S>,
  ) {}

  get openOperations(): number {
    return this.operations.size;
  }

  /** False after closing a socket that does not speak `graphql-transport-ws`. */
  start(initTimeoutMs: number): boolean {
    const { socket } = this;
    if (socket.protocol !== GRAPHQL_TRANSPORT_WS_PROTOCOL) {
      socket.close(CloseCode.SubprotocolNotAcceptable, "Subprotocol not acceptable");
      return false;
    }
    if (initTimeoutMs > 0 && Number.isFinite(initTimeoutMs)) {
      this.initTimer = setTimeout(() => {
        if (!this.initReceived) socket.close(CloseCode.ConnectionInitialisationTimeout, "Connection initialisation timeout");
      }, initTimeoutMs);
    }
    return true;
  }

  /** The socket's own, for this connection's operations. */
  send(frame: string, written?: (error?: Error) => void): void {
    this.socket.send(frame, written);
  }

  get backedUp(): boolean {
    return this.socket.backedUp;
  }

  receive(data: string): void {
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
        return this.send(
          JSON.stringify(message.payload ? { type: MessageType.Pong, payload: message.payload } : { type: MessageType.Pong }),
        );
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
    let accepted: boolean;
    try {
      // The guard closes the socket itself (4401) when it refuses the key.
      accepted = this.server.onConnect(this);
    } catch {
      // Thrown from the adapter's message listener, it would end the process.
      return this.socket.close(CloseCode.InternalServerError, "Internal server error");
    }
    if (!accepted) return;
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
    const refusal = this.server.admit(this);
    if (refusal) return operation.fail(refusal);
    const started = await this.server.startOperation(this, payload);
    if ("errors" in started) return operation.fail(started.errors);
    const { result, pushable } = started;
    if (!isAsyncIterable(result)) {
      operation.write(result);
      return operation.end();
    }
    // The client completed the operation (or the socket closed) while it was starting.
    if (!this.isOpen(operation)) return void result.return?.();
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

  shutDown(code: number, reason: string): Promise<void> {
    // Closing first: the socket drops every frame from now on, even one already on its way.
    this.socket.close(code, reason);
    return this.closed();
  }

  async closed(): Promise<void> {
    clearTimeout(this.initTimer);
    const open = [...this.operations.values()];
    this.operations.clear();
    await Promise.all(open.map((operation) => operation.stop()));
  }
}

/** What an operation needs of its connection. */
interface OperationHost {
  readonly backedUp: boolean;
  send(frame: string, written?: (error?: Error) => void): void;
  isOpen(operation: Operation): boolean;
  release(operation: Operation): void;
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
    private readonly connection: OperationHost,
    readonly id: string,
  ) {
    this.idJson = JSON.stringify(id);
  }

  /** Push mode: the iterator envelop returned is let go (see PushableResults); `stop()` closes the results. */
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

  /** Push mode: the subscription ended by itself (LAGGED, or the hub closed with the socket still open). */
  complete(): void {
    this.end();
  }

  iterate(results: AsyncIterable<ExecutionResult>): void {
    this.iterator = results[Symbol.asyncIterator]();
    this.pull();
  }

  /** Takes the next result; its callbacks exist only while a result is awaited, not per idle operation. */
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

import type { IncomingMessage, Server } from "node:http";
import { handleProtocols } from "graphql-ws";
import type { YogaServerInstance } from "graphql-yoga";
import { WebSocketServer, type WebSocket } from "ws";
import type { PulseContext } from "../../graphql/context.ts";
import { startOperation } from "../../graphql/start-operation.ts";
import { SocketWrites } from "../cork.ts";
import { createProtocolServer, type OpenedConnection, type ProtocolConnection, type ProtocolSocket } from "../graphql-ws/protocol.ts";
import type { WebSocketGuard } from "../ws-guard.ts";

/** Close code for a server going away: clients reconnect elsewhere (or later) and resume with `after`. */
export const CLOSE_GOING_AWAY = 1001;

/**
 * Close code for a connection opened while Pulse cannot serve it yet (starting: restoring its snapshot) or any more
 * (shutting down): "Try Again Later". graphql-ws's client retries on it with its default settings; it does not on
 * an upgrade refused with an HTTP status (`ws` reports that as an error event first, which its default
 * `shouldRetry` treats as fatal), so the upgrade is accepted and closed at once instead.
 */
export const CLOSE_TRY_AGAIN_LATER = 1013;

export interface WebSocketTransport {
  /**
   * Shutdown: closes every socket with 1001 and ends its operations without a `complete` (see
   * OpenedConnection.shutDown), so stock clients reconnect and subscribe again. Sockets opened from now on are
   * closed with 1013. Called before the hub closes: the operations it ends afterwards send nothing.
   */
  close(): Promise<void>;
}

/**
 * What stands for the upgrade request once the connection is open: operations see it as their context's `req`
 * (its socket and the two headers that say who the caller is: the address and the User-Agent captures are enriched
 * with), and the hooks as the connection's identity. The upgrade request itself (headers, raw headers, stream state:
 * ~2 KB) is not kept for the connection's life.
 */
export interface WebSocketPeer {
  readonly socket: IncomingMessage["socket"];
  readonly headers: PeerHeaders;
}

/** The upgrade request's headers a connection keeps. */
export interface PeerHeaders {
  readonly "user-agent"?: string | undefined;
  readonly "x-forwarded-for"?: string | string[] | undefined;
}

/** Connection lifecycle hooks (logging), and whether connections are served yet. */
export interface WebSocketHooks {
  /**
   * Why a connection opened now cannot be served (Pulse is starting), or undefined when it can. Such a connection is
   * closed at once with 1013 (CLOSE_TRY_AGAIN_LATER) and its reason, before any `connection_ack`: never acknowledged
   * and then its operations refused, which stock clients would take as the end of each operation.
   */
  refusing?(): string | undefined;
  /** Before the 101 response goes out: `headers` may be added to (the request id is echoed there). */
  upgrading?(request: IncomingMessage, headers: string[]): void;
  /** The connection is open: `peer` stands for it from now on. */
  opened?(request: IncomingMessage, peer: WebSocketPeer): void;
  /** After the connection's operations have ended. */
  closed?(peer: WebSocketPeer, code: number, reason: string): void;
}

/** One `graphql-transport-ws` connection, as the guard sees it (`socket.close` closes the WebSocket). */
export type WebSocketConnection = ProtocolConnection;

/**
 * Pulse's `graphql-transport-ws` server (graphql-ws/protocol.ts) on `ws`, on the same port and path as Yoga. Every
 * operation runs through Yoga's envelop, so the plugins (error masking, limits, auth, shared execution) apply
 * exactly as on HTTP. What is `ws`'s is here: the upgrade, one keep-alive timer for every socket, the write-ahead,
 * and the guard's limits (per-address connections at the upgrade, stalled readers over `wss.clients`).
 *
 * Close codes besides the protocol's: 4401 a refused key (the guard), 1009 a message over the size limit (ws),
 * 1013 a stalled reader (the guard) or a connection opened while starting, 1001 shutdown. A peer that does not answer the keep-alive ping by the next
 * one is cut off without a close frame.
 */
export function attachWebSocket(
  server: Server,
  yoga: YogaServerInstance<Record<string, unknown>, PulseContext>,
  guard: WebSocketGuard,
  hooks: WebSocketHooks = {},
): WebSocketTransport {
  const protocol = createProtocolServer<Peer>({
    // The peer is the operation's `req`, as the upgrade request is an HTTP operation's.
    startOperation: ({ connectionParams, socket: peer }, payload) => {
      const enveloped = yoga.getEnveloped({ connectionParams, req: peer, socket: peer.webSocket, transport: "ws" });
      return startOperation(enveloped, payload);
    },
    onConnect: guard && ((connection) => guard.onConnect(connection)),
    admit: guard && ((connection) => guard.admit(connection)),
    connectionInitWaitTimeout: guard.connectionInitWaitTimeout,
  });
  const wss = new WebSocketServer({ server, path: yoga.graphqlEndpoint, handleProtocols, ...guard.serverOptions });
  // ws re-emits a listening server's errors here; without a listener one would end the process.
  wss.on("error", ignore);
  const stopWatching = guard.watch(wss);
  const peers = new Set<Peer>();
  const connections = new Map<Peer, OpenedConnection<Peer>>();
  let shuttingDown = false;
  const closed = async (peer: Peer, connection: OpenedConnection<Peer> | null, code: number, reason: string) => {
    await connection?.closed();
    peers.delete(peer);
    connections.delete(peer);
    hooks.closed?.(peer, code, reason);
  };
  wss.on("headers", (headers, request) => hooks.upgrading?.(request, headers));
  wss.on("connection", (webSocket, request) => {
    const { "user-agent": userAgent, "x-forwarded-for": forwardedFor } = request.headers;
    const peer = new Peer(webSocket, request.socket, { "user-agent": userAgent, "x-forwarded-for": forwardedFor });
    peers.add(peer);
    hooks.opened?.(request, peer);
    // A failed socket (a message over the size limit: ws closes with 1009 itself) ends in `close`; nothing to add.
    webSocket.on("error", ignore);
    const refusal = shuttingDown ? "Pulse is shutting down" : hooks.refusing?.();
    if (refusal !== undefined) {
      webSocket.once("close", (code: number, reason: Buffer) => void closed(peer, null, code, reason.toString()));
      // A close reason is at most 123 bytes.
      return webSocket.close(CLOSE_TRY_AGAIN_LATER, `${refusal}; retry shortly`.slice(0, 123));
    }
    const connection = protocol.open(peer);
    webSocket.once("close", (code: number, reason: Buffer) => void closed(peer, connection, code, reason.toString()));
    if (!connection) return;
    connections.set(peer, connection);
    webSocket.on("pong", () => {
      peer.awaitingPong = false;
    });
    webSocket.on("message", (data: Buffer) => connection.receive(String(data)));
  });
  // One timer for every socket: a ping each round, and a socket that did not answer the previous one is dropped.
  const keepAliveMs = guard.keepAliveMs;
  const keepAlive =
    keepAliveMs > 0
      ? setInterval(() => {
          for (const peer of peers) peer.ping();
        }, keepAliveMs)
      : undefined;
  keepAlive?.unref();

  return {
    async close() {
      shuttingDown = true;
      stopWatching();
      clearInterval(keepAlive);
      // Not awaited: an operation's results may be waiting for the hub's next event, and only the hub's close (after
      // this) ends them. Each operation is marked ended at once, so nothing it yields afterwards is sent.
      for (const connection of connections.values()) connection.shutDown(CLOSE_GOING_AWAY, "Pulse is shutting down").catch(ignore);
      // Sockets without a graphql-transport-ws connection (refused, or closing already): closing them again is a no-op.
      for (const socket of wss.clients) socket.close(CLOSE_GOING_AWAY, "Pulse is shutting down");
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

/**
 * One WebSocket: the peer the hooks and operations see (`socket` is its TCP socket) and the protocol's socket.
 * One object for both, so a connection costs what it did before the protocol had its own interface.
 */
class Peer implements WebSocketPeer, ProtocolSocket {
  awaitingPong = false;
  private readonly writes: SocketWrites;

  constructor(
    readonly webSocket: WebSocket,
    readonly socket: IncomingMessage["socket"],
    readonly headers: PeerHeaders,
  ) {
    this.writes = new SocketWrites(socket);
  }

  get protocol(): string {
    return this.webSocket.protocol;
  }

  /** Past the write-ahead the kernel has not taken (cork.ts): the next result waits until a frame is `written`. */
  get backedUp(): boolean {
    return this.writes.backedUp;
  }

  /** Writes one frame, batched with this turn's other frames (see cork.ts); `written` once it reached the kernel. */
  send(frame: string, written?: (error?: Error) => void): void {
    if (this.webSocket.readyState !== this.webSocket.OPEN) return void written?.();
    this.writes.batch();
    this.webSocket.send(frame, written);
  }

  close(code: number, reason: string): void {
    this.webSocket.close(code, reason);
  }

  /** The keep-alive round: a socket that did not answer the last ping is dropped, the others pinged again. */
  ping(): void {
    if (this.webSocket.readyState !== this.webSocket.OPEN) return;
    if (this.awaitingPong) return void this.webSocket.terminate();
    this.awaitingPong = true;
    this.webSocket.ping();
  }
}

function ignore(): void {}

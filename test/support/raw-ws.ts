import WebSocket from "ws";
import { onCleanup } from "./cleanup.ts";
import { bearer, wsUrl, type Variables } from "./clients.ts";
import { deferred, waitFor } from "./wait.ts";

/** One `graphql-transport-ws` message as it travels on the wire. */
export interface WireMessage {
  readonly type: string;
  readonly id?: string;
  readonly payload?: unknown;
}

export interface CloseInfo {
  readonly code: number;
  readonly reason: string;
}

export interface ConnectOptions {
  /** The WebSocket subprotocol(s) offered; default `graphql-transport-ws`, `null` for none. */
  readonly protocol?: string | readonly string[] | null;
}

/**
 * The one raw WebSocket of the tests: it speaks `graphql-transport-ws` by hand, for what a client library hides or
 * would never send (protocol abuse, frames that are not JSON, several operations on one socket, every frame in
 * order) and for a reader that stops reading (`pause()`) so the kernel buffers fill up. `open` connects and
 * completes `connection_init`; `connect` only connects. Closed by `cleanup()` after the test.
 */
export class RawGraphqlSocket {
  readonly messages: WireMessage[] = [];
  private closeInfo: CloseInfo | null = null;
  private readonly closedDeferred = deferred<CloseInfo>();

  private constructor(private readonly socket: WebSocket) {
    socket.on("message", (data) => this.messages.push(JSON.parse((data as Buffer).toString("utf8")) as WireMessage));
    // Failures surface as the close that follows; an unhandled `error` event would crash the test worker instead.
    socket.on("error", () => {});
    socket.on("close", (code, reason) => {
      this.closeInfo = { code, reason: reason.toString() };
      this.closedDeferred.resolve(this.closeInfo);
    });
  }

  /**
   * Opens a WebSocket on `${baseUrl}/graphql` and sends nothing. Rejects if the upgrade is refused
   * (`attempt` tells its status).
   */
  static async connect(baseUrl: string, options: ConnectOptions = {}): Promise<RawGraphqlSocket> {
    const { socket, outcome } = await RawGraphqlSocket.attempt(baseUrl, options);
    if (outcome !== "open") throw new Error(`upgrade refused with ${outcome}`);
    return socket;
  }

  /** Connects, sends `connection_init` (with `key` as the authorization connection param) and waits for `connection_ack`. */
  static async open(baseUrl: string, options: ConnectOptions & { key?: string } = {}): Promise<RawGraphqlSocket> {
    const raw = await RawGraphqlSocket.connect(baseUrl, options);
    raw.send({ type: "connection_init", payload: bearer(options.key) });
    await raw.waitForMessage((m) => m.type === "connection_ack", "connection_ack");
    return raw;
  }

  /**
   * Opens a WebSocket on `${baseUrl}/graphql`: `outcome` is "open", or the HTTP status that refused the upgrade
   * (the refused socket is closed already). For the limits enforced at the upgrade.
   */
  static attempt(
    baseUrl: string,
    { protocol = "graphql-transport-ws" }: ConnectOptions = {},
  ): Promise<{ outcome: "open" | number; socket: RawGraphqlSocket }> {
    const url = wsUrl(baseUrl);
    const socket = protocol === null ? new WebSocket(url) : new WebSocket(url, typeof protocol === "string" ? protocol : [...protocol]);
    const raw = new RawGraphqlSocket(socket);
    onCleanup(() => raw.close());
    return new Promise((resolve, reject) => {
      socket.once("open", () => resolve({ outcome: "open", socket: raw }));
      socket.once("unexpected-response", (_req, res) => {
        resolve({ outcome: res.statusCode ?? 0, socket: raw });
        socket.terminate();
      });
      // Before it opens, an error that is no refused upgrade (connection refused, reset) fails the attempt.
      socket.once("error", reject);
    });
  }

  get closed(): CloseInfo | null {
    return this.closeInfo;
  }

  whenClosed(): Promise<CloseInfo> {
    return this.closedDeferred.promise;
  }

  /** The subprotocol the server chose ("" for none). */
  get protocol(): string {
    return this.socket.protocol;
  }

  get isOpen(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }

  /** Sends a message as JSON, or a string as it is (for frames that are not JSON). */
  send(message: WireMessage | string): void {
    this.socket.send(typeof message === "string" ? message : JSON.stringify(message));
  }

  subscribe(id: string, query: string, variables?: Variables): void {
    this.send({ type: "subscribe", id, payload: { query, variables } });
  }

  complete(id: string): void {
    this.send({ type: "complete", id });
  }

  /** The messages of one operation, in order. */
  messagesFor(id: string): WireMessage[] {
    return this.messages.filter((m) => m.id === id);
  }

  /** Waits (bounded) for a message matching `predicate`; fails at once if the socket closes first. */
  async waitForMessage(predicate: (m: WireMessage) => boolean, what: string, timeoutMs?: number): Promise<WireMessage> {
    return waitFor(
      () => {
        const found = this.messages.find(predicate);
        if (found) return found;
        if (this.closeInfo) throw new Error(`socket closed (${this.closeInfo.code}) while waiting for ${what}`);
        return undefined;
      },
      { what, timeoutMs },
    );
  }

  /** Stops reading from the TCP socket: the server's writes pile up in the kernel buffers, then in its own. */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /**
   * Closes with 1000 and waits for the server's answer (at most 2 s, then cuts the connection): once the server has
   * answered, it writes nothing more to this socket, so a server closing right after sees no broken pipe.
   */
  async close(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return;
    if (this.socket.readyState !== WebSocket.OPEN) {
      // Still connecting, or a handshake the client refused (closing, with no TCP socket left to resume).
      this.socket.terminate();
      await this.closedDeferred.promise;
      return;
    }
    this.socket.resume();
    this.socket.close(1000);
    const timer = setTimeout(() => this.socket.terminate(), 2000);
    await this.closedDeferred.promise;
    clearTimeout(timer);
  }

  /** Cuts the TCP connection without a close frame, as a crashed client or a dropped network would. */
  async terminate(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return;
    this.socket.terminate();
    await this.closedDeferred.promise;
  }
}

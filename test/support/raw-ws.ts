import WebSocket from "ws";
import { onCleanup } from "./cleanup.ts";
import { wsUrl, type Variables } from "./clients.ts";
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

/**
 * A WebSocket that speaks `graphql-transport-ws` by hand, for what a client library hides: every frame in order,
 * several operations on one socket, and a reader that stops reading (`pause()`) so the kernel buffers fill up.
 */
export class RawGraphqlSocket {
  readonly messages: WireMessage[] = [];
  private closeInfo: CloseInfo | null = null;
  private readonly closedDeferred = deferred<CloseInfo>();

  private constructor(private readonly socket: WebSocket) {
    socket.on("message", (data) => this.messages.push(JSON.parse(data.toString()) as WireMessage));
    // Failures surface as the close that follows; an unhandled `error` event would crash the test worker instead.
    socket.on("error", () => {});
    socket.on("close", (code, reason) => {
      this.closeInfo = { code, reason: reason.toString() };
      this.closedDeferred.resolve(this.closeInfo);
    });
  }

  /** Connects, sends `connection_init` and waits for `connection_ack`. Closed by `cleanup()`. */
  static async open(baseUrl: string): Promise<RawGraphqlSocket> {
    const socket = new WebSocket(wsUrl(baseUrl), "graphql-transport-ws");
    const raw = new RawGraphqlSocket(socket);
    onCleanup(() => raw.close());
    await new Promise<void>((resolve, reject) => {
      socket.once("open", () => resolve());
      socket.once("error", reject);
    });
    raw.send({ type: "connection_init" });
    await raw.waitForMessage((m) => m.type === "connection_ack", "connection_ack");
    return raw;
  }

  get closed(): CloseInfo | null {
    return this.closeInfo;
  }

  whenClosed(): Promise<CloseInfo> {
    return this.closedDeferred.promise;
  }

  get isOpen(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }

  send(message: WireMessage): void {
    this.socket.send(JSON.stringify(message));
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

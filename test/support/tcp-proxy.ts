import { connect, createServer, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { onCleanup } from "./cleanup.ts";

export interface TcpProxy {
  /** `http://127.0.0.1:<port>`: point clients here. */
  readonly url: string;
  /** Destroys every open connection (both sides), as a network failure would; new connections are still accepted. */
  cut(): void;
  /** While blocked, new connections are reset at once (the server is unreachable); existing ones are untouched. */
  block(blocked: boolean): void;
  /**
   * While held, nothing the server sends is read, on open connections and new ones: its writes back up in the
   * kernel's socket buffers as they would for a client that stopped reading. Released, it all flows on.
   */
  hold(held: boolean): void;
  /** Sends new connections to another port from now on. */
  retarget(port: number): void;
  close(): Promise<void>;
}

/** A loopback TCP relay in front of a server, so a test can drop a client's WebSocket or SSE stream for real. Closed by `cleanup()`. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  let target = targetPort;
  let blocked = false;
  let held = false;
  const open = new Set<Socket>();
  /** Each connection's server side, and where it goes. */
  const relays = new Map<Socket, Socket>();
  const server = createServer((downstream) => {
    if (blocked) {
      downstream.resetAndDestroy();
      return;
    }
    const upstream = connect(target, "127.0.0.1");
    for (const socket of [downstream, upstream]) {
      open.add(socket);
      socket.on("close", () => open.delete(socket));
      socket.on("error", () => {
        downstream.destroy();
        upstream.destroy();
      });
    }
    downstream.pipe(upstream);
    relays.set(upstream, downstream);
    upstream.on("close", () => relays.delete(upstream));
    if (held) upstream.pause();
    else upstream.pipe(downstream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const cut = () => {
    for (const socket of open) socket.destroy();
    open.clear();
  };
  const close = async () => {
    cut();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  onCleanup(close);
  return {
    url: `http://127.0.0.1:${port}`,
    cut,
    block: (value) => {
      blocked = value;
    },
    hold: (value) => {
      if (value === held) return;
      held = value;
      for (const [upstream, downstream] of relays) {
        if (held) {
          upstream.unpipe(downstream);
          upstream.pause();
        } else upstream.pipe(downstream);
      }
    },
    retarget: (next) => {
      target = next;
    },
    close,
  };
}

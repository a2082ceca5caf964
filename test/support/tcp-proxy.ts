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
   * While held, nothing the servers send is read, on open connections and new ones: their writes back up in the
   * kernel's socket buffers as they would for a client that stopped reading. Released, it all flows on.
   */
  hold(held: boolean): void;
  /** Sends new connections to another port (or balances them over several) from now on. */
  retarget(targets: number | readonly number[]): void;
  close(): Promise<void>;
}

/**
 * A loopback TCP relay in front of a server, so a test can drop a client's WebSocket or SSE stream for real. Closed
 * by `cleanup()`.
 *
 * Given several ports it balances, as a load balancer in front of a fleet does: each new connection goes to the next
 * port in turn, and when that port refuses (its instance is down or restarting) to the one after, so a client only
 * meets a refusal when every instance refuses (then its connection is closed). A connection stays with the instance
 * it reached until one side closes it.
 */
export async function startTcpProxy(targets: number | readonly number[]): Promise<TcpProxy> {
  let ports = typeof targets === "number" ? [targets] : [...targets];
  let turn = 0;
  let blocked = false;
  let held = false;
  const open = new Set<Socket>();
  /** Each connection's server side, and where it goes. */
  const relays = new Map<Socket, Socket>();
  const track = (socket: Socket) => {
    open.add(socket);
    socket.on("close", () => open.delete(socket));
  };

  const relay = (downstream: Socket, upstream: Socket) => {
    track(upstream);
    for (const socket of [downstream, upstream]) {
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
  };

  /** Tries `candidates` in order; what the client sent meanwhile waits in `downstream` until one accepts. */
  const reach = (downstream: Socket, candidates: number[]) => {
    if (downstream.destroyed) return;
    const [port, ...rest] = candidates;
    if (port === undefined) {
      downstream.destroy();
      return;
    }
    const upstream = connect(port, "127.0.0.1");
    const refused = () => reach(downstream, rest);
    upstream.once("error", refused);
    upstream.once("connect", () => {
      upstream.off("error", refused);
      if (downstream.destroyed) upstream.destroy();
      else relay(downstream, upstream);
    });
  };

  const server = createServer((downstream) => {
    if (blocked) {
      downstream.resetAndDestroy();
      return;
    }
    track(downstream);
    // A client that hangs up while no instance has accepted yet: nothing to relay.
    downstream.on("error", () => downstream.destroy());
    const first = turn++ % ports.length;
    reach(downstream, [...ports.slice(first), ...ports.slice(0, first)]);
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
      ports = typeof next === "number" ? [next] : [...next];
    },
    close,
  };
}

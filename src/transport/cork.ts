import type { Socket } from "node:net";

/**
 * Bytes a connection may hold that the kernel has not taken before its subscriptions wait (64 KiB), the same on
 * every transport. Past it a subscription's events wait in its queue (PULSE_SUBSCRIBER_QUEUE) until the socket
 * drains, and a subscriber whose queue overflows ends with LAGGED. So the budget before LAGGED is the same for a
 * WebSocket and an event stream: the socket's kernel buffers, this write-ahead, then the queue.
 */
export const WRITE_AHEAD_BYTES = 64 * 1024;

/**
 * The writes to one connection's socket. `batch()`, called before each write, corks the socket and the event loop's
 * next check phase (`setImmediate`) uncorks it, so everything written to it while the loop works through the
 * current batch of I/O leaves in one syscall. Fan-out writes one small frame per event per subscriber; one syscall
 * each was the largest item of the fan-out profiles (bench/README.md). `process.nextTick` is too soon for a stream
 * whose chunks hop through several ticks (SSE), and the check phase comes before the loop waits for I/O again.
 *
 * `backedUp` counts only what the kernel refused: once this turn's batch reaches the write-ahead it is handed to
 * the kernel at once rather than counted as unsent, so a burst of events (a 1,000-event batch is captured in one
 * synchronous step) goes on to a reader as fast as its socket takes it, on every transport alike.
 */
export class SocketWrites {
  /** Read by `uncork`, a function shared by every socket (an anonymous closure per socket would cost more). */
  corked = false;

  constructor(readonly socket: Socket) {}

  /** Before each write: the first of this turn corks the socket until the check phase. */
  batch(): void {
    if (this.corked) return;
    this.corked = true;
    this.socket.cork();
    setImmediate(uncork, this);
  }

  /** More than WRITE_AHEAD_BYTES that the kernel has not taken (after this turn's batch has been offered to it). */
  get backedUp(): boolean {
    const { socket } = this;
    if (socket.writableLength < WRITE_AHEAD_BYTES) return false;
    if (this.corked) {
      // Hand this turn's batch to the kernel now; the check phase still uncorks what is written after it.
      socket.uncork();
      socket.cork();
    }
    return socket.writableLength >= WRITE_AHEAD_BYTES;
  }
}

function uncork(writes: SocketWrites): void {
  writes.corked = false;
  writes.socket.uncork();
}

import type { Socket } from "node:net";

/**
 * Returns a function to call before each write to `socket`: the first call corks the socket and the event loop's
 * next check phase (`setImmediate`) uncorks it, so everything written to it while the loop works through the
 * current batch of I/O leaves in one syscall. Fan-out writes one small frame per event per subscriber; one syscall
 * each was the largest item of the fan-out profiles (bench/README.md). `process.nextTick` is too soon for a stream
 * whose chunks hop through several ticks (SSE), and the check phase comes before the loop waits for I/O again.
 */
export function corkUntilImmediate(socket: Socket): () => void {
  let corked = false;
  const uncork = () => {
    corked = false;
    socket.uncork();
  };
  return () => {
    if (corked) return;
    corked = true;
    socket.cork();
    setImmediate(uncork);
  };
}

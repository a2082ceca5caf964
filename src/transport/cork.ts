import type { Socket } from "node:net";

/**
 * Returns a function to call before each write to `socket`: the first call corks the socket and the event loop's
 * next check phase (`setImmediate`) uncorks it, so everything written to it while the loop works through the
 * current batch of I/O leaves in one syscall. Fan-out writes one small frame per event per subscriber; one syscall
 * each was the largest item of the fan-out profiles (bench/README.md). `process.nextTick` is too soon for a stream
 * whose chunks hop through several ticks (SSE), and the check phase comes before the loop waits for I/O again.
 */
export function corkUntilImmediate(socket: Socket): () => void {
  const state: CorkState = { socket, corked: false };
  // Anonymous on purpose: under tsx (esbuild keepNames) a named closure gets a 256-byte property dictionary from
  // `__name`, per socket. The uncork callback is shared by every socket (setImmediate passes it the state).
  return () => {
    if (state.corked) return;
    state.corked = true;
    socket.cork();
    setImmediate(uncork, state);
  };
}

interface CorkState {
  readonly socket: Socket;
  corked: boolean;
}

function uncork(state: CorkState): void {
  state.corked = false;
  state.socket.uncork();
}

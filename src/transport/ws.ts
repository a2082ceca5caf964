import type { IncomingMessage, Server } from "node:http";
import type { Socket } from "node:net";
import type { DocumentNode, ExecutionArgs } from "graphql";
import { useServer } from "graphql-ws/use/ws";
import type { YogaServerInstance } from "graphql-yoga";
import { WebSocketServer, type WebSocket } from "ws";
import type { PulseContext } from "../graphql/context.ts";
import { corkUntilImmediate } from "./cork.ts";
import { operationErrors, PARSE_FAILED, VALIDATION_FAILED } from "../graphql/errors.ts";
import type { WebSocketGuard } from "./ws-guard.ts";

/** Close code for a server going away: clients reconnect elsewhere (or later) and resume with `after`. */
export const CLOSE_GOING_AWAY = 1001;

/**
 * Bytes a socket may hold unsent before a frame's write waits for the kernel (64 KiB). Below it a frame counts as
 * written at once, so a subscription sends its next queued event in the same turn of the loop; above it graphql-ws
 * waits for each write as before, the subscriber's queue fills, and a reader that stays behind ends with LAGGED.
 */
export const WRITE_AHEAD_BYTES = 64 * 1024;

export interface WebSocketTransport {
  /** Closes every socket with 1001, after the `complete` of each operation the hub has already ended (`hub.close()`). */
  close(): Promise<void>;
}

/** Connection lifecycle hooks (logging); `request` is the upgrade request, the same object for the whole connection. */
export interface WebSocketHooks {
  /** Before the 101 response goes out: `headers` may be added to (the request id is echoed there). */
  upgrading?(request: IncomingMessage, headers: string[]): void;
  opened?(request: IncomingMessage): void;
  /** After the connection's subscriptions have ended. */
  closed?(request: IncomingMessage, code: number, reason: string): void;
}

type EnvelopedRoot = { execute: (args: ExecutionArgs) => unknown; subscribe: (args: ExecutionArgs) => unknown };

/**
 * graphql-ws (`graphql-transport-ws`) on the same port and path as Yoga. Every operation runs through Yoga's
 * envelop, so the plugins (error masking, limits, auth) apply exactly as on HTTP. A malformed operation is answered
 * with an `error` message for that operation alone: throwing from onSubscribe would close the socket with 4500.
 */
export function attachWebSocket(
  server: Server,
  yoga: YogaServerInstance<Record<string, unknown>, PulseContext>,
  guard?: WebSocketGuard,
  hooks: WebSocketHooks = {},
): WebSocketTransport {
  const wss = new WebSocketServer({ server, path: yoga.graphqlEndpoint, ...guard?.serverOptions });
  const stopWatching = guard?.watch(wss);
  wss.on("headers", (headers, request) => hooks.upgrading?.(request, headers));
  // Registered before graphql-ws's own listener, so its adapter only ever sees the batching send.
  wss.on("connection", (socket, request) => batchWrites(socket, request.socket));
  wss.on("connection", (_socket, request) => hooks.opened?.(request));
  const disposable = useServer(
    {
      connectionInitWaitTimeout: guard?.connectionInitWaitTimeout,
      onConnect: guard ? (ctx) => guard.onConnect(ctx) : undefined,
      onClose: (ctx, code, reason) => hooks.closed?.(ctx.extra.request, code ?? 1005, reason ?? ""),
      execute: (args) => (args.rootValue as EnvelopedRoot).execute(args) as never,
      subscribe: (args) => (args.rootValue as EnvelopedRoot).subscribe(args) as never,
      onSubscribe: async (ctx, _id, payload) => {
        const refusal = guard?.admit(ctx);
        if (refusal) return operationErrors(refusal);
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params: payload,
          transport: "ws",
        });
        try {
          let document: DocumentNode;
          try {
            document = parse(payload.query);
          } catch (error) {
            return operationErrors([error], PARSE_FAILED);
          }
          const errors = validate(schema, document);
          if (errors.length > 0) return operationErrors(errors, VALIDATION_FAILED);
          const args: ExecutionArgs = {
            schema,
            operationName: payload.operationName,
            document,
            variableValues: payload.variables,
            contextValue: await contextFactory(),
            rootValue: { execute, subscribe } satisfies EnvelopedRoot,
          };
          return args;
        } catch (error) {
          return operationErrors([error]);
        }
      },
    },
    wss,
  );

  return {
    async close() {
      stopWatching?.();
      // The hub has just ended every operation; graphql-ws writes their `complete` a few promise turns later. A
      // socket closed before that sends nothing more, and its clients would see an abnormal end instead of complete.
      await new Promise<void>((resolve) => setImmediate(resolve));
      for (const socket of wss.clients) socket.close(CLOSE_GOING_AWAY, "Pulse is shutting down");
      await disposable.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

type SendCallback = (error?: Error) => void;

/**
 * Batches the frames a socket is sent in one turn of the event loop into one write (corkUntilImmediate): fan-out sends
 * each socket several frames per capture, and one syscall per frame was the largest item of the fanout_1k profile.
 * graphql-ws waits for every frame's write callback before it takes the next event; below WRITE_AHEAD_BYTES the
 * callback is called at once, so that wait does not undo the batching, and above it the kernel's pace applies.
 */
function batchWrites(socket: WebSocket, connection: Socket): void {
  const send = socket.send.bind(socket) as (data: unknown, options: object, callback?: SendCallback) => void;
  const cork = corkUntilImmediate(connection);
  socket.send = ((data: unknown, options?: object | SendCallback, callback?: SendCallback) => {
    const done = typeof options === "function" ? (options as SendCallback) : callback;
    const sendOptions = typeof options === "object" && options !== null ? options : {};
    cork();
    if (!done || socket.bufferedAmount >= WRITE_AHEAD_BYTES) return send(data, sendOptions, done);
    send(data, sendOptions);
    done();
  }) as WebSocket["send"];
}

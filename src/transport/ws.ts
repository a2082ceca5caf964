import type { Server } from "node:http";
import type { Socket } from "node:net";
import { GraphQLError, type ExecutionArgs } from "graphql";
import { useServer } from "graphql-ws/use/ws";
import type { YogaServerInstance } from "graphql-yoga";
import { WebSocketServer, type WebSocket } from "ws";
import type { PulseContext } from "../graphql/context.ts";
import { corkUntilImmediate } from "./cork.ts";

/** Close code for a server going away: clients reconnect elsewhere (or later) and resume with `after`. */
export const CLOSE_GOING_AWAY = 1001;

/**
 * Bytes a socket may hold unsent before a frame's write waits for the kernel (64 KiB). Below it a frame counts as
 * written at once, so a subscription sends its next queued event in the same turn of the loop; above it graphql-ws
 * waits for each write as before, the subscriber's queue fills, and a reader that stays behind ends with LAGGED.
 */
export const WRITE_AHEAD_BYTES = 64 * 1024;

export interface WebSocketTransport {
  /** Closes every socket with 1001; their operations complete first. */
  close(): Promise<void>;
}

type EnvelopedRoot = { execute: (args: ExecutionArgs) => unknown; subscribe: (args: ExecutionArgs) => unknown };

/**
 * graphql-ws (`graphql-transport-ws`) on the same port and path as Yoga. Every operation runs through Yoga's
 * envelop, so the plugins (error masking, limits, auth) apply exactly as on HTTP. A malformed operation is answered
 * with an `error` message for that operation alone: throwing from onSubscribe would close the socket with 4500.
 */
export function attachWebSocket(server: Server, yoga: YogaServerInstance<Record<string, unknown>, PulseContext>): WebSocketTransport {
  const wss = new WebSocketServer({ server, path: yoga.graphqlEndpoint });
  // Registered before graphql-ws's own listener, so its adapter only ever sees the batching send.
  wss.on("connection", (socket, request) => batchWrites(socket, request.socket));
  const disposable = useServer(
    {
      execute: (args) => (args.rootValue as EnvelopedRoot).execute(args) as never,
      subscribe: (args) => (args.rootValue as EnvelopedRoot).subscribe(args) as never,
      onSubscribe: async (ctx, _id, payload) => {
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params: payload,
          transport: "ws",
        });
        try {
          const document = parse(payload.query);
          const errors = validate(schema, document);
          if (errors.length > 0) return errors;
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
          if (error instanceof GraphQLError) return [error];
          return [new GraphQLError("Could not start the operation", { extensions: { code: "BAD_USER_INPUT" } })];
        }
      },
    },
    wss,
  );

  return {
    async close() {
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

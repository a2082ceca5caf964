import type { Server } from "node:http";
import type { DocumentNode, ExecutionArgs } from "graphql";
import { useServer } from "graphql-ws/use/ws";
import type { YogaServerInstance } from "graphql-yoga";
import { WebSocketServer } from "ws";
import type { PulseContext } from "../graphql/context.ts";
import { operationErrors, PARSE_FAILED, VALIDATION_FAILED } from "../graphql/errors.ts";

/** Close code for a server going away: clients reconnect elsewhere (or later) and resume with `after`. */
export const CLOSE_GOING_AWAY = 1001;

export interface WebSocketTransport {
  /** Closes every socket with 1001, after the `complete` of each operation the hub has already ended (`hub.close()`). */
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
      // The hub has just ended every operation; graphql-ws writes their `complete` a few promise turns later. A
      // socket closed before that sends nothing more, and its clients would see an abnormal end instead of complete.
      await new Promise<void>((resolve) => setImmediate(resolve));
      for (const socket of wss.clients) socket.close(CLOSE_GOING_AWAY, "Pulse is shutting down");
      await disposable.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

import { Readable } from "node:stream";
import { getOperationAST, type ExecutionResult } from "graphql";
import { createHandler } from "graphql-sse";
import type { Plugin, YogaServerInstance } from "graphql-yoga";
import type { PulseContext } from "../graphql/context.ts";
import { operationErrors, PARSE_FAILED, VALIDATION_FAILED } from "../graphql/errors.ts";
import { pushableResults } from "../graphql/shared-execution.ts";
import { corkUntilImmediate } from "./cork.ts";
import type { ServerResponse } from "node:http";

/** graphql-sse's endpoint, beside `/graphql`. */
export const SSE_PATH = "/graphql/stream";

/**
 * GraphQL over Server-Sent Events (graphql-sse protocol) at `/graphql/stream`, through Yoga's envelop like every
 * other transport. Unlike the stock Yoga plugin, a syntax or validation error and an operation rejected when it
 * starts (a bad filter, say) reach the client as a GraphQL error with its code: graphql-sse only treats a result
 * with a `data` key as a result, so each carries `data: null`.
 */
export function useServerSentEvents(): Plugin<PulseContext> {
  const contextByRequest = new WeakMap<Request, Record<string, unknown>>();
  let handler: ReturnType<typeof createHandler<Request>>;
  return {
    onYogaInit({ yoga }) {
      const enveloped = yoga as unknown as YogaServerInstance<Record<string, unknown>, PulseContext>;
      handler = createHandler(
        {
          async onSubscribe(req, params) {
            const { schema, parse, validate, contextFactory, execute, subscribe } = enveloped.getEnveloped({
              ...contextByRequest.get(req.raw),
              request: req.raw,
              params,
              transport: "sse",
            });
            let document;
            try {
              document = parse(params.query);
            } catch (error) {
              return { data: null, errors: operationErrors([error], PARSE_FAILED) };
            }
            let errors;
            // Validation rules may throw rather than report (GraphQL Armor's limits do): still this operation's
            // error, never graphql-sse's 500 with a stack trace.
            try {
              errors = validate(schema, document);
            } catch (error) {
              return { data: null, errors: operationErrors([error], VALIDATION_FAILED) };
            }
            if (errors.length > 0) return { data: null, errors: operationErrors(errors, VALIDATION_FAILED) };
            const contextValue = await contextFactory();
            const operation = getOperationAST(document, params.operationName);
            const run = operation?.operation === "subscription" ? subscribe : execute;
            const result = await run({
              schema,
              document,
              contextValue,
              variableValues: params.variables,
              operationName: params.operationName,
            });
            if (isResult(result) && !("data" in result)) return { data: null, ...result };
            // An `events` subscription's own results, without the iterator layers envelop wraps around them (they
            // do nothing for it: gap marks, masking and counts are done by the shared execution itself).
            return (pushableResults(contextValue) ?? result) as never;
          },
        },
      );
    },
    onRequest({ request, url, endResponse, serverContext, fetchAPI }) {
      if (url.pathname !== SSE_PATH) return;
      contextByRequest.set(request, serverContext as Record<string, unknown>);
      const res = (serverContext as { res?: ServerResponse }).res;
      batchWrites(res);
      // graphql-sse's protocol handler (what its fetch adapter wraps), with the same request it would build.
      return handler({ method: request.method, url: request.url, headers: request.headers, body: () => request.text(), raw: request, context: undefined }).then(
        ([body, init]) => {
          if (!body || typeof body === "string") return endResponse(new fetchAPI.Response(body, init));
          // The client went away before the stream started: end its operations (as graphql-sse's fetch adapter does).
          if (request.signal.aborted) void body.return(undefined);
          else request.signal.addEventListener("abort", () => void body.return(undefined), { once: true });
          endResponse(new fetchAPI.Response((res ? new EventStreamBody(body) : Readable.from(body)) as unknown as BodyInit, init));
        },
      );
    },
  };
}

/**
 * An event stream's body: graphql-sse's frames written straight to the response. graphql-sse's fetch adapter puts
 * each frame through a TextEncoder, a WHATWG ReadableStream and its pull, a Node Readable and its pipe before it
 * reaches `res.write` (Node streams, @whatwg-node and promise helpers were ~25% of the fanout_sse_1k profile).
 * Yoga still sends the status and headers (with its onResponse hooks' additions, such as CORS) and then pipes this
 * body into the response; `pipe` is where the frames go to `res` directly, with `write`'s backpressure (wait for
 * `drain`). Any other consumer reads it as an ordinary Readable of the same frames.
 */
class EventStreamBody extends Readable {
  constructor(private readonly frames: AsyncGenerator<string, void, undefined>) {
    super();
  }

  override pipe<T extends NodeJS.WritableStream>(destination: T): T {
    void pumpFrames(this.frames, destination as unknown as ServerResponse);
    return destination;
  }

  override _read(): void {
    this.frames.next().then(
      ({ done, value }) => void this.push(done ? null : value),
      (error: Error) => this.destroy(error),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.frames.return(undefined).then(() => callback(error), callback);
  }
}

/** Writes every frame to `res` as it comes, waiting for `drain` when `write` says so; ends `res` when they end. */
async function pumpFrames(frames: AsyncGenerator<string, void, undefined>, res: ServerResponse): Promise<void> {
  const stop = () => void frames.return(undefined);
  res.once("close", stop);
  try {
    for (;;) {
      const { done, value } = await frames.next();
      if (done || res.destroyed) break;
      if (!res.write(value)) {
        await new Promise<void>((resolve) => {
          const go = () => {
            res.off("drain", go);
            res.off("close", go);
            resolve();
          };
          res.on("drain", go);
          res.on("close", go);
        });
      }
    }
  } catch {
    // graphql-sse's stream only throws when it is thrown into; the response ends below either way.
  } finally {
    res.off("close", stop);
    if (!res.writableEnded && !res.destroyed) res.end();
  }
}

function isResult(value: unknown): value is ExecutionResult {
  return value !== null && typeof value === "object" && !(Symbol.asyncIterator in value);
}

/**
 * Writes each event stream's chunks once per turn of the event loop (see corkUntilImmediate): one `res.write` per
 * event per subscriber was one syscall each, 18% of the fanout_sse_1k profile. Backpressure is unchanged: `write`
 * still returns false past the high-water mark and the stream waits for `drain`.
 */
function batchWrites(res: ServerResponse | undefined): void {
  if (!res?.socket) return;
  const write = res.write.bind(res) as (...args: unknown[]) => boolean;
  const cork = corkUntilImmediate(res.socket);
  res.write = ((...args: unknown[]) => {
    cork();
    return write(...args);
  }) as ServerResponse["write"];
}

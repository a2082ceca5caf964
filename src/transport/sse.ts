import { Readable } from "node:stream";
import type { ExecutionResult } from "graphql";
import { createHandler, TOKEN_HEADER_KEY, TOKEN_QUERY_KEY } from "graphql-sse";
import type { Plugin, YogaServerInstance } from "graphql-yoga";
import type { PulseContext } from "../graphql/context.ts";
import { startOperation } from "../graphql/start-operation.ts";
import type { PushableResults, ResultSink } from "../graphql/shared-execution.ts";
import { corkUntilImmediate } from "./cork.ts";
import { resultJson } from "./frames.ts";
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
  const pushedByRequest = new WeakMap<Request, PushedStream>();
  let handler: ReturnType<typeof createHandler<Request>>;
  return {
    onYogaInit({ yoga }) {
      const enveloped = yoga as unknown as YogaServerInstance<Record<string, unknown>, PulseContext>;
      handler = createHandler(
        {
          async onSubscribe(req, params) {
            const started = await startOperation(
              enveloped.getEnveloped({ ...contextByRequest.get(req.raw), request: req.raw, params, transport: "sse" }),
              params,
            );
            if ("errors" in started) return { data: null, errors: started.errors };
            const { result, pushable } = started;
            if (isResult(result) && !("data" in result)) return { data: null, ...result };
            if (!pushable) return result as never;
            // An `events` subscription on a stream of its own is pushed straight to the response (see
            // PushedStream); graphql-sse then only writes the stream's start and end. On a shared stream (graphql-sse's
            // single connection mode) graphql-sse reads the results itself, without the iterator layers envelop
            // wraps around them (they do nothing for it: the shared execution marks gaps, masks and counts).
            const res = (contextByRequest.get(req.raw) as { res?: ServerResponse } | undefined)?.res;
            if (!res || !isDistinct(req.raw)) return pushable as never;
            const pushed = new PushedStream(pushable);
            pushedByRequest.set(req.raw, pushed);
            return pushed as never;
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
          const pushed = pushedByRequest.get(request);
          endResponse(new fetchAPI.Response((res ? new EventStreamBody(body, pushed) : Readable.from(body)) as unknown as BodyInit, init));
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
 * `drain`), and where a pushed subscription starts writing to it. Any other consumer reads it as an ordinary
 * Readable of graphql-sse's frames.
 */
class EventStreamBody extends Readable {
  constructor(
    private readonly frames: AsyncGenerator<string, void, undefined>,
    private readonly pushed?: PushedStream,
  ) {
    super();
  }

  override pipe<T extends NodeJS.WritableStream>(destination: T): T {
    void pumpFrames(this.frames, destination as unknown as ServerResponse);
    this.pushed?.writeTo(destination as unknown as ServerResponse);
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

/**
 * An `events` subscription on an event stream of its own (graphql-sse's distinct connections mode), pushed to the
 * response: each result is written as its event arrives, as an `event: next` frame around the result's JSON
 * serialized once for its whole share group (frames.ts), with no promise per delivery. What graphql-sse is handed
 * as the operation's results is this placeholder, which ends when the subscription does: graphql-sse then writes
 * `event: complete` and ends the stream, as for any other operation. Deliveries that arrive before the response has
 * started wait in the subscriber's bounded queue. It needs the Node response: the stream body is piped to it
 * (EventStreamBody.pipe), which is how Yoga sends a body on Node.
 */
class PushedStream implements AsyncIterableIterator<never> {
  private ended = false;
  private finish: ((result: IteratorResult<never>) => void) | undefined;

  constructor(private readonly results: PushableResults) {}

  /** The response has started (Yoga has written its status and headers): push to it from now on. */
  writeTo(res: ServerResponse): void {
    this.results.push(new ResponseSink(res, this.results, this));
  }

  next(): Promise<IteratorResult<never>> {
    if (this.ended) return Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve) => {
      this.finish = resolve;
    });
  }

  /** The client went away (graphql-sse ends its operations): end the subscription. */
  async return(): Promise<IteratorResult<never>> {
    this.end();
    await this.results.return();
    return { done: true, value: undefined };
  }

  /** graphql-sse ends only what has `throw` too (its check for an async generator). */
  throw(): Promise<IteratorResult<never>> {
    return this.return();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** The subscription has ended: graphql-sse writes `complete` and ends the stream. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.finish?.({ done: true, value: undefined });
  }
}

/** Writes a pushed subscription's results to its response; past the high-water mark they wait for `drain`. */
class ResponseSink implements ResultSink {
  constructor(
    private readonly res: ServerResponse,
    private readonly results: PushableResults,
    private readonly stream: PushedStream,
  ) {}

  next(result: ExecutionResult): boolean {
    if (this.res.destroyed || this.res.writableEnded) return true;
    if (this.res.write(`event: next\ndata: ${resultJson(result)}\n\n`)) return true;
    this.res.once("drain", () => this.results.resume());
    return false;
  }

  complete(): void {
    this.stream.end();
  }
}

/** A request for an event stream of its own: graphql-sse's distinct connections mode (no stream token). */
function isDistinct(request: Request): boolean {
  return !request.headers.has(TOKEN_HEADER_KEY) && !new URL(request.url).searchParams.has(TOKEN_QUERY_KEY);
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

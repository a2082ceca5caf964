import { randomBytes } from "node:crypto";
import type { ExecutionResult } from "graphql";
import { TOKEN_HEADER_KEY, TOKEN_QUERY_KEY } from "graphql-sse";
import type { KeyRing, Principal } from "../auth/keys.ts";
import { PulseError, type ErrorCode } from "../domain/errors.ts";
import type { ConnectionCounter } from "../limits/connections.ts";

export interface SingleConnectionStreamsOptions {
  readonly keys: KeyRing;
  /** Shared with WebSockets and distinct event streams: a reserved or open stream takes one slot of its address. */
  readonly connections: ConnectionCounter;
  /** PULSE_SSE_RESERVATION_TTL_MS (default 30000): a reserved stream not opened by then is dropped. */
  readonly reservationTtlMs: number;
  /** PULSE_MAX_SUBSCRIPTIONS_PER_CONNECTION (default 100): operations open at once on one stream. */
  readonly maxOperations: number;
}

/** A request refused before graphql-sse sees it: the HTTP status and the typed error. */
export interface StreamRefusal {
  readonly status: number;
  readonly error: PulseError;
}

/** The token of a request in graphql-sse's single connection mode (header or query), null in distinct mode. */
export function streamToken(request: Request): string | null {
  return request.headers.get(TOKEN_HEADER_KEY) ?? new URL(request.url).searchParams.get(TOKEN_QUERY_KEY);
}

/**
 * Pulse's own table of graphql-sse's single connection streams (`PUT /graphql/stream` reserves one, a GET with
 * its token opens it, POSTs with its token run operations on it). graphql-sse keeps its streams forever until
 * opened and closed, buffers every result in an unbounded queue, and takes anyone's word for a token drawn with
 * `Math.random`; this table is what bounds and ties them:
 * - the token is 32 bytes from `crypto.randomBytes` (base64url), drawn by Pulse, never chosen by the client;
 * - a stream belongs to the key that reserved it (`Principal.keyId`): a request with its token and another key is
 *   FORBIDDEN (on an open server there are no keys: the token alone is the secret);
 * - a reserved stream takes a PULSE_MAX_CONNECTIONS_PER_ADDRESS slot of the reserving address until it expires
 *   (PULSE_SSE_RESERVATION_TTL_MS after the PUT, unless opened) or, once opened, until its response closes;
 * - operations open at once on one stream are limited by PULSE_MAX_SUBSCRIPTIONS_PER_CONNECTION;
 * - an operation's results are read from it only while its stream is open and not backed up (`pace`): until then
 *   they wait in the operation's own bounded queue (an `events` subscription's ends with LAGGED when full; a
 *   `liveDashboard` ticker produces nothing while not read), never in graphql-sse's.
 * Owns a timer: `close()` it.
 */
export class SingleConnectionStreams {
  private readonly streams = new Map<string, SingleConnectionStream>();
  /** Streams not opened yet, oldest first: the order they expire in. */
  private readonly reserved = new Map<string, SingleConnectionStream>();
  private timer: NodeJS.Timeout | null = null;
  private onExpired: (token: string) => void = () => {};
  private closed = false;

  constructor(private readonly options: SingleConnectionStreamsOptions) {}

  /** Told of every reservation dropped unopened, so graphql-sse forgets its stream too (sse.ts). */
  whenExpired(onExpired: (token: string) => void): void {
    this.onExpired = onExpired;
  }

  /** Who sends `authorization`; the auth plugin has already refused a missing or unknown key on a keyed server. */
  principalOf(authorization: string | null): Principal | StreamRefusal {
    try {
      return this.options.keys.authenticate(authorization);
    } catch (error) {
      if (error instanceof PulseError) return { status: 401, error };
      throw error;
    }
  }

  /** `PUT /graphql/stream`: a new stream for `principal`, or RATE_LIMITED when `address` has no slot left. */
  reserve(principal: Principal, address: string): SingleConnectionStream | StreamRefusal {
    const { connections, reservationTtlMs } = this.options;
    if (this.closed) return refusal(503, "UNAVAILABLE", "The server is shutting down");
    const release = connections.acquire(address);
    if (!release) {
      return refusal(
        429,
        "RATE_LIMITED",
        `Too many connections from ${address} (PULSE_MAX_CONNECTIONS_PER_ADDRESS=${connections.max}); a reserved event stream counts as one until it is opened and closed, or for PULSE_SSE_RESERVATION_TTL_MS=${reservationTtlMs} unopened`,
      );
    }
    const token = randomBytes(32).toString("base64url");
    const stream = new SingleConnectionStream(
      token,
      principal.keyId,
      performance.now() + reservationTtlMs,
      release,
      this.options.maxOperations,
    );
    this.streams.set(token, stream);
    this.reserved.set(token, stream);
    this.schedule();
    return stream;
  }

  /** The stream of `token` for `principal`: 404 when there is none (expired, closed, never reserved), 403 when it is another key's. */
  find(token: string, principal: Principal): SingleConnectionStream | StreamRefusal {
    const stream = this.streams.get(token);
    if (!stream) {
      return refusal(
        404,
        "BAD_USER_INPUT",
        `No event stream is reserved with this ${TOKEN_HEADER_KEY}: it was never reserved, its stream closed, or it was not opened within PULSE_SSE_RESERVATION_TTL_MS=${this.options.reservationTtlMs}; reserve another with PUT`,
      );
    }
    if (stream.keyId !== principal.keyId) {
      return refusal(403, "FORBIDDEN", `This event stream (${TOKEN_HEADER_KEY}) was reserved with another key; reserve one with this key`);
    }
    return stream;
  }

  /** Its event stream has started: it no longer expires, and its operations' results flow. */
  open(stream: SingleConnectionStream): void {
    this.reserved.delete(stream.token);
    stream.flow();
  }

  /** The stream is over (its response closed, or its reservation was refused): its slot is free, its operations end. */
  remove(stream: SingleConnectionStream): void {
    if (this.streams.get(stream.token) !== stream) return;
    this.streams.delete(stream.token);
    this.reserved.delete(stream.token);
    stream.close();
  }

  /** Streams in the table: reserved and not opened yet, and open. */
  stats(): { readonly reserved: number; readonly open: number } {
    return { reserved: this.reserved.size, open: this.streams.size - this.reserved.size };
  }

  /** Drops every reservation not opened (ending its operations) and stops the timer; open streams end with their responses. */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const stream of [...this.reserved.values()]) this.expire(stream);
  }

  private schedule(): void {
    if (this.timer || this.closed) return;
    const first = this.reserved.values().next().value;
    if (!first) return;
    this.timer = setTimeout(() => this.sweep(), Math.max(0, first.expiresAt - performance.now()));
    this.timer.unref();
  }

  private sweep(): void {
    this.timer = null;
    const now = performance.now();
    for (const stream of this.reserved.values()) {
      if (stream.expiresAt > now) break;
      this.expire(stream);
    }
    this.schedule();
  }

  private expire(stream: SingleConnectionStream): void {
    this.remove(stream);
    this.onExpired(stream.token);
  }
}

function refusal(status: number, code: ErrorCode, message: string): StreamRefusal {
  return { status, error: new PulseError(code, message) };
}

export function isRefusal(value: object): value is StreamRefusal {
  return "error" in value && value.error instanceof PulseError;
}

/** Whether a stream's operations may hand it results now. */
type Flow = "reserved" | "flowing" | "backedUp" | "closed";

/** One single connection stream: its owner, its slot, its operations and whether they may be read. */
export class SingleConnectionStream {
  private flowState: Flow = "reserved";
  /** Operations admitted (`admit`) and not ended yet. */
  private operations = 0;
  /** Operations waiting for the stream to flow. */
  private readonly waiting = new Set<PacedResults>();

  constructor(
    readonly token: string,
    /** The key that reserved it; null on an open server. */
    readonly keyId: string | null,
    /** `performance.now()` after which it is dropped unless opened. */
    readonly expiresAt: number,
    private readonly release: () => void,
    private readonly maxOperations: number,
  ) {}

  get opened(): boolean {
    return this.flowState !== "reserved";
  }

  get state(): Flow {
    return this.flowState;
  }

  /** Takes an operation slot for a request about to run one; RATE_LIMITED past PULSE_MAX_SUBSCRIPTIONS_PER_CONNECTION. */
  admit(): StreamRefusal | null {
    if (this.flowState === "closed") return refusal(404, "BAD_USER_INPUT", "This event stream has ended; reserve another with PUT");
    if (this.operations >= this.maxOperations) {
      return refusal(
        429,
        "RATE_LIMITED",
        `This event stream has ${this.operations} operations open, the limit is ${this.maxOperations} (PULSE_MAX_SUBSCRIPTIONS_PER_CONNECTION); complete one or reserve another stream`,
      );
    }
    this.operations++;
    return null;
  }

  /** Gives back a slot `admit` took for an operation that did not start. */
  unadmit(): void {
    this.operations--;
  }

  /**
   * An admitted operation's result(s) as graphql-sse is to read them: only while the stream is open and its
   * response takes writes. graphql-sse pulls every operation's results as fast as they come into one unbounded queue
   * per stream; paced, at most one result per operation waits there, and the rest wait (bounded) where they come from.
   */
  pace(result: ExecutionResult | AsyncIterator<ExecutionResult>): PacedResults {
    return isIterator(result) ? new PacedResults(this, result, null) : new PacedResults(this, null, result);
  }

  /** The response is backed up (`write` returned false): operations stop being read until `flow()`. */
  backUp(): void {
    if (this.flowState === "flowing") this.flowState = "backedUp";
  }

  /** Opened, or drained: waiting operations are read again. */
  flow(): void {
    if (this.flowState === "closed") return;
    this.flowState = "flowing";
    this.wake();
  }

  /** @internal PacedResults */
  wait(results: PacedResults): void {
    this.waiting.add(results);
  }

  /** @internal PacedResults: an operation has ended. */
  ended(results: PacedResults): void {
    this.waiting.delete(results);
    this.operations--;
  }

  close(): void {
    if (this.flowState === "closed") return;
    this.flowState = "closed";
    this.release();
    this.wake();
  }

  private wake(): void {
    for (const results of [...this.waiting]) {
      this.waiting.delete(results);
      results.wake();
    }
  }
}

const DONE: IteratorResult<ExecutionResult> = Object.freeze({ done: true, value: undefined });

/**
 * One operation's results on a single connection stream, read from their source only while the stream flows.
 * graphql-sse ends an operation with `return()` (DELETE, the stream closing) only when it also has `throw`.
 */
export class PacedResults implements AsyncIterableIterator<ExecutionResult> {
  private done = false;
  private resume: (() => void) | null = null;

  constructor(
    private readonly stream: SingleConnectionStream,
    private readonly source: AsyncIterator<ExecutionResult> | null,
    private single: ExecutionResult | null,
  ) {}

  next(): Promise<IteratorResult<ExecutionResult>> {
    if (this.done) return Promise.resolve(DONE);
    const state = this.stream.state;
    if (state === "flowing") return this.pull();
    if (state === "closed") return this.return();
    return new Promise<void>((resolve) => {
      this.resume = resolve;
      this.stream.wait(this);
    }).then(() => this.next());
  }

  async return(): Promise<IteratorResult<ExecutionResult>> {
    if (!this.done) {
      this.finish();
      await this.source?.return?.();
    }
    return DONE;
  }

  throw(): Promise<IteratorResult<ExecutionResult>> {
    return this.return();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** @internal SingleConnectionStream: it flows again, or closed. */
  wake(): void {
    const resume = this.resume;
    this.resume = null;
    resume?.();
  }

  private pull(): Promise<IteratorResult<ExecutionResult>> {
    if (this.single) {
      const value = this.single;
      this.finish();
      return Promise.resolve({ done: false, value });
    }
    return this.source!.next().then(
      (result) => {
        if (result.done) this.finish();
        return result;
      },
      (error: unknown) => {
        this.finish();
        throw error;
      },
    );
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.single = null;
    this.stream.ended(this);
    this.wake();
  }
}

function isIterator(value: ExecutionResult | AsyncIterator<ExecutionResult>): value is AsyncIterator<ExecutionResult> {
  return typeof (value as { next?: unknown }).next === "function";
}

import type { EventFilter, PulseEventFragment } from "./generated/types.ts";
import type { DropReason, EventsResult, EventsTransport } from "./transports.ts";

/** An event as the client delivers it (typed from schema.graphql by `npm run codegen`). */
export type PulseEvent = PulseEventFragment;

/**
 * - `idle`: not connected yet; `connecting`: the first attempt; `live`: the stream is up;
 * - `reconnecting`: it dropped, a new attempt is scheduled or running; `closed`: `disconnect()` or a fatal error.
 */
export type ConnectionStatus = "idle" | "connecting" | "live" | "reconnecting" | "closed";

/**
 * Something the application may want to know about; the stream goes on unless `fatal`.
 * Codes: Pulse's (`UNAUTHENTICATED`, `FORBIDDEN`, `BAD_USER_INPUT`, `RATE_LIMITED`, `UNAVAILABLE`, `LAGGED`),
 * `TRANSPORT` (the connection dropped), `BAD_REQUEST` (the server refused the request itself),
 * `GAP` (the server no longer had some events after the resume point: they are lost),
 * `CURSOR_RESET` (the server did not know the resume cursor, e.g. it restarted without persistence: the stream starts
 * again from live events), `LISTENER` (an `on()` callback threw; the other callbacks still ran).
 */
export interface RealtimeError {
  readonly code: string;
  readonly message: string;
  readonly fatal: boolean;
  readonly cause?: unknown;
}

/** The options every entry point takes, whatever its transport. */
export interface ClientOptions {
  /** A read key, sent as `Authorization: Bearer` (SSE) or `connectionParams.authorization` (WebSocket). */
  readonly apiKey?: string | undefined;
  /** Also fetch each event's `person`; default false. */
  readonly includePerson?: boolean | undefined;
  /** Reconnect delays: the n-th consecutive retry waits a random time in [0, min(maxDelayMs, initialDelayMs × 2^n)). */
  readonly retry?: { readonly initialDelayMs?: number | undefined; readonly maxDelayMs?: number | undefined } | undefined;
}

export interface ConnectOptions {
  /** Resume after this cursor (e.g. `lastCursor` saved from an earlier session) instead of starting with live events. */
  readonly after?: string | undefined;
  /**
   * Without `after`: start with the newest `replay` buffered events (oldest first), then live ones, with nothing
   * missed between them (the server takes the backlog and registers the subscription in one step). Reconnects resume
   * after the last delivered event instead.
   */
  readonly replay?: number | undefined;
}

type Listener = (event: PulseEvent) => void;

/** Cursors remembered for de-duplication; far more than can be in flight between two resumes. */
const SEEN_CURSORS = 4096;
/** A connection up this long has proven itself: the next drop retries from the shortest delay again. */
const STABLE_AFTER_MS = 10_000;

/**
 * Pulse's own realtime client: one `events` subscription over one transport, dispatched to `on(name)` listeners. Each
 * entry point extends it with its transport (`RealtimeAnalytics` from the package, `/ws` or `/sse`).
 *
 * It never gives up on its own: after any drop (socket closed, SSE request failed, server restart, a `LAGGED` end)
 * it reconnects with exponential backoff and full jitter and resumes with `after: <last cursor>`, so every event
 * still in the server's buffer arrives, in order, and none twice (events are also de-duplicated by cursor).
 * Only a fatal error (bad key, refused operation) or `disconnect()` stops it. Works in browsers and on Node 20.
 */
export class RealtimeAnalyticsBase {
  private readonly transport: EventsTransport;
  private readonly options: ClientOptions;
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly statusListeners = new Set<(status: ConnectionStatus) => void>();
  private readonly errorListeners = new Set<(error: RealtimeError) => void>();
  private readonly seen = new Set<string>();
  private filter: EventFilter | null = null;
  private cursor: string | null = null;
  /** How many buffered events a fresh stream starts with (`ConnectOptions.replay`). */
  private replay = 0;
  private state: ConnectionStatus = "idle";
  private stop: (() => void) | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private retries = 0;
  private liveSince = 0;
  /** Bumped on every (re)subscribe: callbacks of an abandoned stream are ignored. */
  private generation = 0;

  protected constructor(options: ClientOptions, transport: EventsTransport) {
    this.options = options;
    this.transport = transport;
  }

  /** The connection's state now. */
  get status(): ConnectionStatus {
    return this.state;
  }

  /** The cursor of the last event delivered, to resume from later (`connect(filter, { after })`). */
  get lastCursor(): string | null {
    return this.cursor;
  }

  /**
   * Starts streaming events that match `filter` (all events without one). Called again while connected, it switches
   * to the new filter and continues after the last delivered event. Throws after `disconnect()`.
   */
  connect(filter?: EventFilter | null, options: ConnectOptions = {}): void {
    if (this.state === "closed") throw new Error("This RealtimeAnalytics was disconnected; create a new one");
    this.filter = filter ?? null;
    if (options.after !== undefined) this.cursor = options.after;
    this.replay = options.replay ?? 0;
    this.setStatus(this.state === "idle" ? "connecting" : "reconnecting");
    this.subscribe();
  }

  /**
   * Calls `callback` for each event named `eventName`, or for every event with "*". Returns the function that removes
   * it. A callback that throws does not stop the others; its error goes to `onError` (code LISTENER).
   */
  on(eventName: string, callback: (event: PulseEvent) => void): () => void {
    let set = this.listeners.get(eventName);
    if (!set) this.listeners.set(eventName, (set = new Set()));
    set.add(callback);
    return () => {
      set.delete(callback);
    };
  }

  /** Calls `callback` on every status change; returns the function that removes it. */
  onStatus(callback: (status: ConnectionStatus) => void): () => void {
    this.statusListeners.add(callback);
    return () => this.statusListeners.delete(callback);
  }

  /** Calls `callback` with each error (see `RealtimeError`); returns the function that removes it. */
  onError(callback: (error: RealtimeError) => void): () => void {
    this.errorListeners.add(callback);
    return () => this.errorListeners.delete(callback);
  }

  /** Stops for good: ends the subscription, closes the socket, cancels any pending reconnect. */
  async disconnect(): Promise<void> {
    if (this.state === "closed") return;
    this.halt();
    this.setStatus("closed");
    await this.transport.dispose();
  }

  private subscribe(): void {
    this.halt();
    const generation = ++this.generation;
    const current = () => generation === this.generation;
    this.stop = this.transport.subscribe(
      {
        filter: this.filter,
        after: this.cursor,
        // Only a stream that starts afresh replays; one that resumes has a cursor (the server refuses both at once).
        replay: this.cursor === null ? this.replay : 0,
        withPerson: this.options.includePerson ?? false,
      },
      {
        connected: () => {
          if (!current()) return;
          this.liveSince = Date.now();
          this.setStatus("live");
        },
        next: (result) => {
          if (current()) this.receive(result);
        },
        error: (reason, cause) => {
          if (current()) this.dropped(reason, cause);
        },
        // The server ends an events stream only when it shuts down (or after LAGGED): come back.
        complete: () => {
          if (current()) this.dropped({ code: "TRANSPORT", message: "The server ended the stream", fatal: false });
        },
      },
    );
  }

  private receive(result: EventsResult): void {
    if (result.errors?.length) {
      this.refused(result.errors[0]!);
      return;
    }
    if (result.extensions?.["gap"] === true) {
      this.report({ code: "GAP", message: "Some events after the resume point were no longer buffered and are lost", fatal: false });
    }
    const event = result.data?.events;
    if (!event) return;
    if (this.state !== "live") {
      this.liveSince = Date.now();
      this.setStatus("live");
    }
    if (this.seen.has(event.cursor)) return;
    this.remember(event.cursor);
    this.cursor = event.cursor;
    this.retries = 0;
    for (const name of [event.event, "*"]) {
      for (const listener of this.listeners.get(name) ?? []) {
        try {
          listener(event);
        } catch (error) {
          this.report({ code: "LISTENER", message: `An on("${name}") callback threw: ${String(error)}`, fatal: false, cause: error });
        }
      }
    }
  }

  /** A GraphQL error in the stream: resume (LAGGED), start over (unknown cursor), retry later, or stop. */
  private refused(error: { message: string; extensions?: Record<string, unknown> }): void {
    const code = typeof error.extensions?.["code"] === "string" ? error.extensions["code"] : "INTERNAL_SERVER_ERROR";
    if (code === "LAGGED") {
      // The stream was ended because this client fell behind; everything after the cursor is still buffered.
      const cursor = error.extensions?.["cursor"];
      if (typeof cursor === "string") this.cursor = cursor;
      this.report({ code, message: error.message, fatal: false });
      this.retries = 0;
      this.subscribe();
      return;
    }
    if (code === "BAD_USER_INPUT" && error.extensions?.["field"] === "after" && this.cursor !== null) {
      this.report({ code: "CURSOR_RESET", message: `The server does not know cursor ${this.cursor}: ${error.message}`, fatal: false });
      this.cursor = null;
      this.seen.clear();
      this.subscribe();
      return;
    }
    const retryable = code === "RATE_LIMITED" || code === "UNAVAILABLE" || code === "INTERNAL_SERVER_ERROR";
    this.dropped({ code, message: error.message, fatal: !retryable });
  }

  private dropped(reason: DropReason, cause?: unknown): void {
    this.halt();
    this.report({ ...reason, cause });
    if (reason.fatal) {
      this.setStatus("closed");
      void this.transport.dispose();
      return;
    }
    if (this.liveSince > 0 && Date.now() - this.liveSince >= STABLE_AFTER_MS) this.retries = 0;
    this.liveSince = 0;
    const { initialDelayMs = 500, maxDelayMs = 30_000 } = this.options.retry ?? {};
    const delay = Math.random() * Math.min(maxDelayMs, initialDelayMs * 2 ** this.retries);
    this.retries++;
    this.setStatus("reconnecting");
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.subscribe();
    }, delay);
  }

  /** Abandons the current stream and any scheduled retry. */
  private halt(): void {
    this.generation++;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const stop = this.stop;
    this.stop = null;
    stop?.();
  }

  private remember(cursor: string): void {
    this.seen.add(cursor);
    if (this.seen.size > SEEN_CURSORS) this.seen.delete(this.seen.values().next().value!);
  }

  private setStatus(status: ConnectionStatus): void {
    if (this.state === status) return;
    this.state = status;
    for (const listener of this.statusListeners) listener(status);
  }

  private report(error: RealtimeError): void {
    for (const listener of this.errorListeners) listener(error);
  }
}

/** Pulse's base URL as the transports append paths to it. */
export function trimBaseUrl(baseUrl: string): string {
  return baseUrl.replace(/\/+$/, "");
}

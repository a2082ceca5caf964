import { createClient as createSseClient } from "graphql-sse";
import { createClient as createWsClient } from "graphql-ws/client";
import type { EventFilter } from "../../packages/client/src/index.ts";

/** One value of a breakdown (LiveDashboard.breakdown). */
export interface BreakdownRow {
  readonly value: string;
  readonly events: number;
  /** Null where the server cannot say (the fields a Pulse without breakdowns answers from). */
  readonly users: number | null;
  readonly approximate: boolean;
}

export interface TimelinePoint {
  readonly minute: string;
  readonly events: number;
  readonly uniqueUsers: number;
}

/** The breakdowns the page shows, each under its alias in one liveDashboard selection. */
export const BREAKDOWNS = {
  sources: { property: "$source", limit: 8 },
  utmCampaigns: { property: "utm_campaign", limit: 8 },
  utmSources: { property: "utm_source", limit: 8 },
  utmMediums: { property: "utm_medium", limit: 8 },
  pages: { property: "$pathname", limit: 8 },
  entryPages: { property: "$entry_pathname", limit: 8 },
  // Every country with a visitor, for the map (its list shows the first few).
  countries: { property: "$geoip_country_code", limit: 100 },
  browsers: { property: "$browser", limit: 8 },
  oses: { property: "$os", limit: 8 },
  deviceTypes: { property: "$device_type", limit: 8 },
  // Room for the built-in names the custom events list leaves out.
  events: { property: "event", limit: 20 },
} as const;
export type BreakdownName = keyof typeof BREAKDOWNS;

/** Minutes the chart and the breakdowns cover, as Plausible's realtime view does. */
export const MINUTES = 30;

export interface Dashboard {
  readonly liveUsers: number;
  readonly timeline: readonly TimelinePoint[];
  /** Absent ones the server could not give (a Pulse without `breakdown` gives pages and events only). */
  readonly breakdowns: Partial<Record<BreakdownName, readonly BreakdownRow[]>>;
}

export interface Scope {
  readonly environment: string | null;
  readonly filter: EventFilter | null;
}

/**
 * Why the data stopped or never came, as the page words it.
 * - `unauthenticated`: no key or an unknown one (HTTP 401, WebSocket close 4401);
 * - `capture-key`: a capture key used to read (FORBIDDEN "This key may only capture events");
 * - `forbidden`: another FORBIDDEN (a key scoped to another environment);
 * - `rate-limited` (429), `unavailable` (503: starting, or its Redis is down), `offline` (no answer at all);
 * - `bad-request`: the server refused the operation (a filter it cannot run, say): its message says why.
 */
export type ProblemKind = "unauthenticated" | "capture-key" | "forbidden" | "rate-limited" | "unavailable" | "offline" | "bad-request";

export interface Problem {
  readonly kind: ProblemKind;
  /** The server's own words, when it gave any. */
  readonly message: string;
  /** Retrying cannot help until the key or the filter changes: the feed has stopped. */
  readonly fatal: boolean;
  /** When the next attempt is due (epoch ms), for a problem that is retried. */
  readonly retryAt?: number;
}

export interface FeedListener {
  data(dashboard: Dashboard, via: "http" | "stream"): void;
  problem(problem: Problem): void;
  /** The server has no `breakdown` / `filter` (a Pulse from before them): the feed goes on without them. */
  unsupported(): void;
}

export interface FeedOptions {
  readonly origin: string;
  readonly transport: "ws" | "sse";
  readonly apiKey?: string | undefined;
  /** Push interval asked of the server (its minimum is 250). Default 1000. */
  readonly intervalMs?: number;
}

interface GraphQLErrorLike {
  readonly message: string;
  readonly extensions?: Record<string, unknown>;
}

interface Result {
  readonly data?: { liveDashboard?: RawDashboard } | null;
  readonly errors?: readonly GraphQLErrorLike[];
}

type RawRow = { value: string; events: number; users: number; approximate: boolean };
interface RawDashboard {
  liveUsers: number;
  timeline: TimelinePoint[];
  topPages?: { path: string; count: number }[];
  eventsPerMinute?: { event: string; count: number }[];
  [alias: string]: unknown;
}

/** The selection, with breakdowns and the filter argument, or as a Pulse from before them answers it. */
export function dashboardDocument(operation: "query" | "subscription", legacy: boolean, intervalMs = 1000): string {
  const fields = legacy
    ? "topPages(limit: 8) { path count } eventsPerMinute(limit: 20) { event count }"
    : Object.entries(BREAKDOWNS)
        .map(
          ([alias, b]) => `${alias}: breakdown(property: ${JSON.stringify(b.property)}, limit: ${b.limit}, minutes: ${MINUTES}) { ...Row }`,
        )
        .join("\n    ");
  const variables = legacy ? "$environment: String" : "$environment: String, $filter: EventFilter";
  const args = [
    "environment: $environment",
    ...(legacy ? [] : ["filter: $filter"]),
    ...(operation === "subscription" ? [`intervalMs: ${intervalMs}`] : []),
  ].join(", ");
  return `${operation} PulseDashboard(${variables}) {
  liveDashboard(${args}) {
    liveUsers
    timeline(minutes: ${MINUTES}) { minute events uniqueUsers }
    ${fields}
  }
}${legacy ? "" : "\nfragment Row on BreakdownRow { value events users approximate }"}`;
}

function toDashboard(raw: RawDashboard, legacy: boolean): Dashboard {
  const breakdowns: Partial<Record<BreakdownName, readonly BreakdownRow[]>> = {};
  if (legacy) {
    breakdowns.pages = (raw.topPages ?? []).map((p) => ({ value: p.path, events: p.count, users: null, approximate: false }));
    breakdowns.events = (raw.eventsPerMinute ?? []).map((e) => ({ value: e.event, events: e.count, users: null, approximate: false }));
  } else {
    for (const name of Object.keys(BREAKDOWNS) as BreakdownName[]) breakdowns[name] = (raw[name] as RawRow[] | undefined) ?? [];
  }
  return { liveUsers: raw.liveUsers, timeline: raw.timeline, breakdowns };
}

/** A validation error that says the server does not know `breakdown` or liveDashboard's `filter`. */
function lacksBreakdowns(errors: readonly GraphQLErrorLike[]): boolean {
  return errors.some(
    (e) => /"breakdown"|"filter"|"BreakdownRow"/.test(e.message) && /Cannot query field|Unknown (argument|type)/.test(e.message),
  );
}

/** Names the problem in a list of GraphQL errors (plus the HTTP status and Retry-After of the answer, if any). */
export function classify(errors: readonly GraphQLErrorLike[], status = 200, retryAfter: string | null = null): Problem {
  const first = errors[0];
  const code = typeof first?.extensions?.["code"] === "string" ? first.extensions["code"] : "";
  const message = first?.message ?? `HTTP ${status}`;
  if (code === "UNAUTHENTICATED" || status === 401) return { kind: "unauthenticated", message, fatal: true };
  if (code === "FORBIDDEN" || status === 403) {
    return { kind: /may only capture/i.test(message) ? "capture-key" : "forbidden", message, fatal: true };
  }
  if (code === "RATE_LIMITED" || status === 429) {
    const seconds = Number(first?.extensions?.["retryAfterSeconds"] ?? retryAfter ?? 1);
    return { kind: "rate-limited", message, fatal: false, retryAt: Date.now() + Math.max(1, seconds || 1) * 1000 };
  }
  if (code === "UNAVAILABLE" || status >= 500) return { kind: "unavailable", message, fatal: false };
  return { kind: "bad-request", message, fatal: true };
}

/**
 * The dashboard's numbers: one `liveDashboard` subscription over WebSocket (graphql-ws on /graphql) or SSE
 * (graphql-sse on /graphql/stream), pushed every second, plus the same selection as a plain query (`probe`), which
 * paints the page before the stream is up and, when a stream fails, asks over plain HTTP why (a WebSocket
 * refused with 429 or a 503 tells the page nothing else). It reconnects on its own with a capped backoff and stops
 * only on a fatal problem or `close()`.
 */
export class DashboardFeed {
  private readonly options: FeedOptions;
  private readonly listener: FeedListener;
  private readonly client: { subscribe: SubscribeFn; dispose: () => void };
  private scope: Scope = { environment: null, filter: null };
  private legacy = false;
  private stop: (() => void) | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private retries = 0;
  private generation = 0;
  private closed = false;

  constructor(options: FeedOptions, listener: FeedListener) {
    this.options = options;
    this.listener = listener;
    this.client = options.transport === "ws" ? wsClient(options) : sseClient(options);
  }

  /** Starts (or restarts) with another scope: the numbers of matching events only. */
  watch(scope: Scope): void {
    this.scope = scope;
    this.retries = 0;
    this.subscribe();
    void this.probe();
  }

  /**
   * Fetches the dashboard once over plain HTTP: "data" when it answered with it, "refused" when it answered with a
   * problem (already reported, and retried or not as the problem says), "unreachable" when nothing answered.
   */
  async probe(): Promise<"data" | "refused" | "unreachable"> {
    const generation = this.generation;
    let response: Response;
    try {
      response = await fetch(`${this.options.origin}/graphql`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/graphql-response+json, application/json",
          ...(this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {}),
        },
        body: JSON.stringify({ query: dashboardDocument("query", this.legacy), variables: this.variables() }),
      });
    } catch {
      return "unreachable";
    }
    let body: Result = {};
    try {
      body = (await response.json()) as Result;
    } catch {
      // Not JSON (a proxy's error page): the status speaks for it.
    }
    if (this.closed || generation !== this.generation) return "refused";
    if (body.data?.liveDashboard) {
      this.listener.data(toDashboard(body.data.liveDashboard, this.legacy), "http");
      return "data";
    }
    const errors = body.errors ?? [];
    if (!this.handledAsLegacy(errors)) this.failed(classify(errors, response.status, response.headers.get("retry-after")));
    return "refused";
  }

  close(): void {
    this.closed = true;
    this.halt();
    this.client.dispose();
  }

  private variables(): Record<string, unknown> {
    return this.legacy ? { environment: this.scope.environment } : { environment: this.scope.environment, filter: this.scope.filter };
  }

  private subscribe(): void {
    this.halt();
    if (this.closed) return;
    const generation = ++this.generation;
    const current = () => generation === this.generation && !this.closed;
    this.stop = this.client.subscribe(
      { query: dashboardDocument("subscription", this.legacy, this.options.intervalMs), variables: this.variables() },
      {
        next: (result) => {
          if (!current()) return;
          if (result.data?.liveDashboard) {
            this.retries = 0;
            this.listener.data(toDashboard(result.data.liveDashboard, this.legacy), "stream");
          } else if (result.errors?.length && !this.handledAsLegacy(result.errors)) {
            this.failed(classify(result.errors));
          }
        },
        error: (error) => {
          if (current()) this.dropped(error);
        },
        // The server ends this subscription only when it shuts down: come back.
        complete: () => {
          if (current()) this.dropped(null);
        },
      },
    );
  }

  /** Switches to the selection of a Pulse without breakdowns when the server refused ours for naming them. */
  private handledAsLegacy(errors: readonly GraphQLErrorLike[]): boolean {
    if (this.legacy || !lacksBreakdowns(errors)) return false;
    this.legacy = true;
    this.listener.unsupported();
    this.subscribe();
    void this.probe();
    return true;
  }

  /** A stream failed: GraphQL errors speak for themselves; anything else is asked about over plain HTTP. */
  private dropped(error: unknown): void {
    if (Array.isArray(error)) {
      if (!this.handledAsLegacy(error as GraphQLErrorLike[])) this.failed(classify(error as GraphQLErrorLike[]));
      return;
    }
    const closeCode = (error as { code?: unknown } | null)?.code;
    if (closeCode === 4401) return this.failed({ kind: "unauthenticated", message: reasonOf(error), fatal: true });
    if (closeCode === 4403) return this.failed({ kind: "forbidden", message: reasonOf(error), fatal: true });
    this.halt();
    const generation = this.generation;
    // The page shows the drop at once; the probe then says why (401, 429, 503...), or that plain HTTP is fine.
    this.listener.problem({ kind: "offline", message: reasonOf(error), fatal: false });
    void this.probe().then((outcome) => {
      if (outcome !== "refused" && !this.closed && generation === this.generation) this.retryLater();
    });
  }

  private failed(problem: Problem): void {
    this.halt();
    if (problem.fatal) {
      this.listener.problem(problem);
      return;
    }
    this.retryLater(problem);
  }

  private retryLater(problem: Problem = { kind: "offline", message: "", fatal: false }): void {
    this.halt();
    const backoff = Math.min(5000, 500 * 2 ** this.retries) * (0.5 + Math.random() / 2);
    this.retries++;
    const retryAt = Math.max(problem.retryAt ?? 0, Date.now() + backoff);
    this.listener.problem({ ...problem, retryAt });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.subscribe();
    }, retryAt - Date.now());
  }

  private halt(): void {
    this.generation++;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const stop = this.stop;
    this.stop = null;
    stop?.();
  }
}

type SubscribeFn = (
  payload: { query: string; variables: Record<string, unknown> },
  sink: { next(result: Result): void; error(error: unknown): void; complete(): void },
) => () => void;

function reasonOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  const reason = (error as { reason?: unknown } | null)?.reason;
  return typeof reason === "string" ? reason : "";
}

/** graphql-ws on /graphql; its own retries are off (the feed retries, after asking HTTP why). */
function wsClient(options: FeedOptions): { subscribe: SubscribeFn; dispose: () => void } {
  const client = createWsClient({
    url: `${options.origin.replace(/^http/, "ws")}/graphql`,
    lazy: true,
    retryAttempts: 0,
    keepAlive: 10_000,
    connectionParams: options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : undefined,
  });
  return {
    subscribe: (payload, sink) =>
      client.subscribe<RawResultData>(payload, { next: (r) => sink.next(r), error: (e) => sink.error(e), complete: () => sink.complete() }),
    // It rejects when the socket it would close never opened (a refused key): nothing is left to close then.
    dispose: () => void Promise.resolve(client.dispose()).catch(() => {}),
  };
}

/** graphql-sse ("distinct connections") on /graphql/stream; the key goes in Authorization. */
function sseClient(options: FeedOptions): { subscribe: SubscribeFn; dispose: () => void } {
  const client = createSseClient({
    url: `${options.origin}/graphql/stream`,
    retryAttempts: 0,
    headers: (): Record<string, string> => (options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}),
  });
  return {
    subscribe: (payload, sink) =>
      client.subscribe<RawResultData>(payload, { next: (r) => sink.next(r), error: (e) => sink.error(e), complete: () => sink.complete() }),
    dispose: () => client.dispose(),
  };
}

type RawResultData = { liveDashboard?: RawDashboard };

import { readFileSync } from "node:fs";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Clock } from "../domain/clock.ts";
import type { ErrorCode } from "../domain/errors.ts";
import type { Hub } from "../domain/hub.ts";
import type { ViewStats } from "../domain/live-views.ts";
import type { Transport } from "../graphql/context.ts";

const TRANSPORTS: readonly Transport[] = ["http", "ws", "sse"];
/** Codes a capture can be refused with; pre-created at 0 so `rate()` works before the first refusal. */
const REJECTION_CODES: readonly ErrorCode[] = ["BAD_USER_INPUT", "UNAUTHENTICATED", "FORBIDDEN", "RATE_LIMITED", "UNAVAILABLE"];
const VERSION = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;

export interface PulseMetricsOptions {
  /** The hub whose captures are counted and whose buffer and live users are reported at each scrape. */
  readonly hub: Hub;
  /** Time source of the snapshot age (the hub's clock by default). */
  readonly clock?: Clock;
}

/**
 * Pulse's Prometheus metrics for one server, in its own prom-client `Registry` (never the global one: tests run
 * many servers in one process). The methods are the hooks the rest of Pulse calls, named for what happened;
 * none throws. Captures are counted from the hub itself, subscriptions and deliveries by the GraphQL plugin
 * (`useTelemetry`); snapshot and slow-consumer hooks are for the persistence and trust code.
 * The process's default metrics (CPU, memory, event-loop delay, GC) live in one registry per process, since
 * they describe the process, and are appended at each scrape.
 */
export class PulseMetrics {
  /** This server's metrics (not the process defaults, see `exposition()`). */
  readonly registry = new Registry();
  private readonly clock: Clock;
  private readonly stopCounting: () => void;
  private lastGoodSnapshotAt: number | undefined;

  private readonly captured: Counter;
  private readonly duplicates: Counter;
  private readonly rejected: Counter<"code">;
  private readonly deliveredTotal: Counter<"transport">;
  /**
   * Deliveries not yet added to `deliveredTotal`: `delivered()` runs for every payload to every subscriber, and a
   * prom-client `inc` (label lookup, hashing) was 3.5 % of the fanout_sse_1k profile; they are added at each scrape.
   */
  private readonly deliveredPending: Record<Transport, number> = { http: 0, ws: 0, sse: 0 };
  private readonly droppedTotal: Counter<"transport">;
  private readonly subscriptionsStarted: Counter<"transport">;
  private readonly subscriptionsActive: Gauge<"transport">;
  private readonly laggedTotal: Counter<"transport">;
  private readonly slowConsumerCloses: Counter<"transport">;
  private readonly snapshotDuration: Histogram;
  private readonly snapshotFailures: Counter;
  private readonly snapshotWriterGauge: Gauge;

  constructor(options: PulseMetricsOptions) {
    const { hub } = options;
    this.clock = options.clock ?? hub.clock;
    const registers = [this.registry];

    this.captured = new Counter({
      name: "pulse_events_captured_total",
      help: "Events stored by any capture path (duplicates not included).",
      registers,
    });
    this.duplicates = new Counter({
      name: "pulse_events_duplicates_total",
      help: "Captured inputs whose id was already buffered (or repeated in their batch): acknowledged, not stored again.",
      registers,
    });
    this.rejected = new Counter({
      name: "pulse_capture_rejected_total",
      help: "Capture requests refused, by error code; a refused batch counts once (it stores nothing).",
      labelNames: ["code"],
      registers,
    });
    const deliveredPending = this.deliveredPending;
    this.deliveredTotal = new Counter({
      name: "pulse_events_delivered_total",
      help: "Event payloads pushed to events subscriptions, by transport.",
      labelNames: ["transport"],
      registers,
      collect() {
        for (const transport of TRANSPORTS) {
          if (deliveredPending[transport] === 0) continue;
          this.inc({ transport }, deliveredPending[transport]);
          deliveredPending[transport] = 0;
        }
      },
    });
    this.droppedTotal = new Counter({
      name: "pulse_events_dropped_total",
      help: "Matching events discarded for subscribers that fell behind (ended LAGGED), by transport.",
      labelNames: ["transport"],
      registers,
    });
    this.subscriptionsStarted = new Counter({
      name: "pulse_subscriptions_started_total",
      help: "Subscriptions started (events and liveDashboard), by transport; those refused at start are not counted.",
      labelNames: ["transport"],
      registers,
    });
    this.subscriptionsActive = new Gauge({
      name: "pulse_subscriptions_active",
      help: "Subscriptions open now, by transport.",
      labelNames: ["transport"],
      registers,
    });
    this.laggedTotal = new Counter({
      name: "pulse_subscriptions_lagged_total",
      help: "events subscriptions ended with LAGGED because the subscriber fell behind its queue, by transport.",
      labelNames: ["transport"],
      registers,
    });
    this.slowConsumerCloses = new Counter({
      name: "pulse_slow_consumer_closes_total",
      help: "Connections closed because the client stopped reading (WebSocket close 1013), by transport.",
      labelNames: ["transport"],
      registers,
    });
    new Gauge({
      name: "pulse_buffer_events",
      help: "Events in the in-memory ring buffer now.",
      registers,
      collect() {
        this.set(hub.stream.size);
      },
    });
    new Gauge({
      name: "pulse_buffer_capacity_events",
      help: "Capacity of the ring buffer (PULSE_BUFFER_SIZE).",
      registers,
      collect() {
        this.set(hub.stream.capacity);
      },
    });
    new Gauge({
      name: "pulse_live_users",
      help: "Users live now, all environments together (PULSE_LIVE_WINDOW_SECONDS).",
      registers,
      collect() {
        this.set(hub.views.liveUserCount(null));
      },
    });
    // The live views' bounds (src/domain/bounds.ts): what they hold, and what they turned away.
    new Gauge({
      name: "pulse_environments_tracked",
      help: "Environments with their own dashboard windows and live users now (at most PULSE_MAX_ENVIRONMENTS).",
      registers,
      collect() {
        const { dashboard, liveUsers } = hub.views.stats();
        this.set(Math.max(dashboard.environments, liveUsers.environments));
      },
    });
    countFrom(hub, registers, {
      name: "pulse_environments_evicted_total",
      help: "Environments whose per-environment views were dropped to stay within PULSE_MAX_ENVIRONMENTS (least recently active first).",
      read: (stats) => stats.dashboard.environmentsEvicted,
    });
    const untrackedReported = { event: 0, page: 0 };
    const untracked = new Counter({
      name: "pulse_dashboard_untracked_total",
      help: "Events (kind=event) and page views (kind=page) left out of the dashboard window because it counted PULSE_MAX_TRACKED_NAMES names or paths already.",
      labelNames: ["kind"],
      registers,
      collect() {
        const { dashboard } = hub.views.stats();
        const totals = [
          ["event", dashboard.untrackedEvents],
          ["page", dashboard.untrackedPageviews],
        ] as const;
        for (const [kind, total] of totals) {
          if (total > untrackedReported[kind]) this.inc({ kind }, total - untrackedReported[kind]);
          untrackedReported[kind] = total;
        }
      },
    });
    untracked.inc({ kind: "event" }, 0);
    untracked.inc({ kind: "page" }, 0);
    countFrom(hub, registers, {
      name: "pulse_breakdown_evictions_total",
      help: "Values that took over another's counter in a minute of a live breakdown (all environments) because it counted PULSE_BREAKDOWN_MAX_VALUES values already: rows over that minute are approximate.",
      read: (stats) => stats.dashboard.breakdownEvictions,
    });
    let scansReported = 0;
    new Counter({
      name: "pulse_dashboard_buffer_scans_total",
      help: "Scans of the event buffer for liveDashboard: one per filtered dashboard computed (a query, or one tick of a group of identical subscriptions), one per breakdown of an untracked property.",
      registers,
      collect() {
        const { bufferScans } = hub.dashboards.stats();
        if (bufferScans > scansReported) this.inc(bufferScans - scansReported);
        scansReported = bufferScans;
      },
    });
    countFrom(hub, registers, {
      name: "pulse_person_property_writes_dropped_total",
      help: "$set/$set_once writes of one key dropped because the person had PULSE_MAX_PERSON_PROPERTIES properties or PULSE_MAX_PERSON_BYTES of them.",
      read: (stats) => stats.persons.droppedPropertyWrites,
    });
    countFrom(hub, registers, {
      name: "pulse_persons_property_limited_total",
      help: "Persons that had a property write dropped by those bounds, each counted once.",
      read: (stats) => stats.persons.personsAtPropertyLimit,
    });

    this.snapshotDuration = new Histogram({
      name: "pulse_snapshot_duration_seconds",
      help: "Time to write one snapshot that succeeded.",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.snapshotFailures = new Counter({
      name: "pulse_snapshot_failures_total",
      help: "Snapshot writes that failed (Pulse keeps serving from memory and retries).",
      registers,
    });
    this.snapshotWriterGauge = new Gauge({
      name: "pulse_snapshot_writer",
      help: "1 while this instance writes the snapshots; 0 while another instance of the fleet does (PostgreSQL), or before the first snapshot.",
      registers,
    });
    const snapshotAge = () => this.snapshotAgeSeconds();
    new Gauge({
      name: "pulse_snapshot_age_seconds",
      help: "Seconds since the last good snapshot was written (or restored from); NaN before there is one.",
      registers,
      collect() {
        this.set(snapshotAge());
      },
    });
    new Gauge({
      name: "pulse_build_info",
      help: "Always 1; the version label says which Pulse is running.",
      labelNames: ["version"],
      registers,
    }).set({ version: VERSION }, 1);

    // Every label value exists from the start, at 0, so dashboards and rate() see a series before the first event.
    for (const transport of TRANSPORTS) {
      for (const metric of [this.deliveredTotal, this.droppedTotal, this.subscriptionsStarted, this.laggedTotal, this.slowConsumerCloses]) {
        metric.inc({ transport }, 0);
      }
      this.subscriptionsActive.set({ transport }, 0);
    }
    for (const code of REJECTION_CODES) this.rejected.inc({ code }, 0);

    this.stopCounting = hub.replication.observeStores(({ accepted, duplicates }) => {
      this.captured.inc(accepted);
      this.duplicates.inc(duplicates);
    });
  }

  /** A capture request was refused with this `extensions.code` (call once per request, whatever its size). */
  captureRejected(code: string): void {
    this.rejected.inc({ code });
  }

  /** `count` event payloads were pushed to subscribers over `transport`. */
  delivered(transport: Transport, count = 1): void {
    this.deliveredPending[transport] += count;
  }

  /** An events subscription ended LAGGED, discarding `dropped` matching events. */
  lagged(transport: Transport, dropped: number): void {
    this.laggedTotal.inc({ transport });
    if (dropped > 0) this.droppedTotal.inc({ transport }, dropped);
  }

  subscriptionStarted(transport: Transport): void {
    this.subscriptionsStarted.inc({ transport });
    this.subscriptionsActive.inc({ transport });
  }

  subscriptionEnded(transport: Transport): void {
    this.subscriptionsActive.dec({ transport });
  }

  /** A connection was closed because its client stopped reading (the trust code's WebSocket close 1013). */
  slowConsumerClosed(transport: Transport): void {
    this.slowConsumerCloses.inc({ transport });
  }

  /** A snapshot was written in `seconds`; it is now the last good one (`at`, default now by the metrics clock). */
  snapshotWritten(seconds: number, at = this.clock.now()): void {
    this.snapshotDuration.observe(seconds);
    this.lastGoodSnapshotAt = at;
  }

  /** Nothing changed since the last snapshot: the store is current as of `at`. The age restarts; no duration is recorded. */
  snapshotUpToDate(at = this.clock.now()): void {
    if (this.lastGoodSnapshotAt === undefined || at > this.lastGoodSnapshotAt) this.lastGoodSnapshotAt = at;
  }

  /** A snapshot write failed. */
  snapshotFailed(): void {
    this.snapshotFailures.inc();
  }

  /** Whether this instance writes the snapshots now (a fleet on PostgreSQL has one writer). */
  snapshotWriter(writer: boolean): void {
    this.snapshotWriterGauge.set(writer ? 1 : 0);
  }

  /** The state was restored from a snapshot written at `takenAt` (epoch ms): the age counts from there until the next write. */
  snapshotRestored(takenAt: number): void {
    if (this.lastGoodSnapshotAt === undefined || takenAt > this.lastGoodSnapshotAt) this.lastGoodSnapshotAt = takenAt;
  }

  /** Seconds since the last good snapshot, NaN when there is none. */
  snapshotAgeSeconds(): number {
    if (this.lastGoodSnapshotAt === undefined) return Number.NaN;
    return Math.max(0, this.clock.now() - this.lastGoodSnapshotAt) / 1000;
  }

  /** The Prometheus text exposition: this server's metrics, then the process's. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    const merged = Registry.merge([this.registry, processRegistry()]);
    return { contentType: merged.contentType, body: await merged.metrics() };
  }

  /** Stops counting the hub's captures. */
  dispose(): void {
    this.stopCounting();
  }
}

/** A counter that follows a count the hub keeps (never decreasing), read at each scrape. */
function countFrom(
  hub: Hub,
  registers: Registry[],
  { name, help, read }: { name: string; help: string; read: (stats: ViewStats) => number },
): void {
  let reported = 0;
  new Counter({
    name,
    help,
    registers,
    collect() {
      const total = read(hub.views.stats());
      if (total > reported) this.inc(total - reported);
      reported = total;
    },
  });
}

let processMetrics: Registry | undefined;

/** prom-client's default metrics, collected once per process into a registry of Pulse's own. */
function processRegistry(): Registry {
  if (!processMetrics) {
    processMetrics = new Registry();
    collectDefaultMetrics({ register: processMetrics });
  }
  return processMetrics;
}

import { createServer } from "node:http";
import { isDashboardPath, serveDashboard } from "./transport/dashboard.ts";
import type { AddressInfo } from "node:net";
import { renderGraphiQL } from "@graphql-yoga/render-graphiql";
import { useResponseCompression } from "./transport/compression.ts";
import { createYoga } from "graphql-yoga";
import { resolveConfig, type PulseConfig, type PulseConfigInput } from "./config.ts";
import type { Clock } from "./domain/clock.ts";
import { Hub } from "./domain/hub.ts";
import { createApplication, type Application } from "./app/application.ts";
import type { PulseContext, TransportContext } from "./graphql/context.ts";
import { maskError } from "./graphql/errors.ts";
import { useCaptureVariables } from "./graphql/capture-variables.ts";
import { createSchema } from "./graphql/schema.ts";
import { useSharedExecution } from "./graphql/shared-execution.ts";
import { deliveryTelemetry, logUnexpectedErrors, useStartupGate, useTelemetry } from "./graphql/telemetry.ts";
import { ConnectionLog } from "./telemetry/connections.ts";
import { silentLogger, type Logger } from "./telemetry/logger.ts";
import { PulseMetrics } from "./telemetry/metrics.ts";
import { Readiness } from "./telemetry/readiness.ts";
import { startPersistence, type Persistence } from "./store/persistence.ts";
import { StoreUnusableError } from "./store/snapshot-store.ts";
import { NO_SNAPSHOTS } from "./store/snapshotter.ts";
import { createOpsRoutes, OPS_PATHS, respondStarting, type ReadAccessCheck } from "./transport/ops-routes.ts";
import { httpServerOptions, limitHttpConnections } from "./transport/http-limits.ts";
import { createPostHogIngestion } from "./transport/posthog.ts";
import { EventStreamResponses } from "./transport/event-streams.ts";
import { GRAPHIQL_OPTIONS } from "./transport/graphiql.ts";
import { createRouter } from "./transport/router.ts";
import { createTrackerRoute, TRACKER_PATH } from "./transport/tracker.ts";
import { useServerSentEvents } from "./transport/sse.ts";
import { attachWebSocket } from "./transport/use/ws.ts";
import { RedisEventStream } from "./stream/redis.ts";
import { createTrust, type Trust } from "./trust.ts";
import { TrustedProxies, type RequestOrigin } from "./enrich/client-address.ts";
import { Enrichment } from "./enrich/enrichment.ts";

export interface PulseServerOptions extends PulseConfigInput {
  /** Injected time source (tests); the system clock otherwise. */
  readonly clock?: Clock;
  /** Where Pulse logs (pino); default silent. `npm start` passes a JSON (or pretty) stdout logger. */
  readonly logger?: Logger;
  /**
   * Work that must finish before Pulse serves GraphQL, after restoring the snapshot (with `databaseUrl`). Pulse
   * listens first, so /healthz and /readyz answer meanwhile (readiness check `startup`: "pending"), and GraphQL
   * requests get 503 UNAVAILABLE. If it rejects, `startup` carries the error and `ready` rejects with it.
   */
  readonly beforeReady?: () => Promise<void>;
  /** The read-key check /metrics defers to when PULSE_METRICS_KEY is unset; default: open. */
  readonly authorizeRead?: ReadAccessCheck;
}

export interface PulseServer {
  /** Base URL, e.g. http://127.0.0.1:4000 (GraphQL at `${url}/graphql`). */
  readonly url: string;
  readonly port: number;
  readonly config: PulseConfig;
  readonly hub: Hub;
  /** The ingest path and per-principal reads, as the transports use them. */
  readonly app: Application;
  /** Keys and limits: `trust.authenticateCapture(apiKey)` for capture endpoints outside GraphQL, `trust.stats()`. */
  readonly trust: Trust;
  /** This server's metrics, and the hooks the rest of Pulse reports to (snapshots, slow consumers, ...). */
  readonly metrics: PulseMetrics;
  /** What /readyz evaluates: `set` a state or `register` a live check. */
  readonly readiness: Readiness;
  readonly logger: Logger;
  /**
   * Resolves when the start-up work has finished and GraphQL is served: with `databaseUrl`, the store migrated and
   * the snapshot restored (rejects with `StoreUnusableError` when the database cannot be used), then `beforeReady`.
   */
  readonly ready: Promise<void>;
  /** What is served, by name, for the start-up banner: dashboard, tracker, graphql, metrics, healthz, readyz. */
  readonly endpoints: Readonly<Record<string, string>>;
  /**
   * Stops accepting, closes WebSockets with 1001 and ends SSE responses without a `complete` for their operations
   * (stock graphql-ws and graphql-sse clients reconnect and subscribe again), then (with a
   * database) writes the final snapshot. Rejects if that final write fails, after closing everything else.
   */
  close(): Promise<void>;
}

/**
 * Starts Pulse: one HTTP server carrying GraphQL over HTTP, WebSocket and SSE. With `databaseUrl`, the store is
 * migrated and the hub restored from it before GraphQL is served (see `ready`); without it (the default here), memory
 * only.
 */
export async function createPulseServer(options: PulseServerOptions = {}): Promise<PulseServer> {
  const { clock, logger = silentLogger(), beforeReady, authorizeRead, ...settings } = options;
  const config = resolveConfig(settings);
  const trust = createTrust(config.trust, { onSlowConsumer: () => metrics.slowConsumerClosed("ws") });
  const hub = new Hub({
    bufferSize: config.bufferSize,
    liveWindowSeconds: config.liveWindowSeconds,
    dashboardWindowSeconds: config.dashboardWindowSeconds,
    subscriberQueue: config.subscriberQueue,
    personsCapacity: config.personsMax,
    viewBounds: {
      maxEnvironments: config.trust.maxEnvironments,
      maxTrackedNames: config.trust.maxTrackedNames,
      maxBreakdownValues: config.trust.maxBreakdownValues,
      maxBreakdownEnvironments: config.trust.maxBreakdownEnvironments,
      maxPersonProperties: config.trust.maxPersonProperties,
      maxPersonBytes: config.trust.maxPersonBytes,
    },
    filterLimits: trust.filterLimits,
    clock,
  });
  const proxies = new TrustedProxies(config.trustedProxies);
  // Before listening: the GeoIP database is read once (~50 ms; shared by every server in the process).
  const enrichment = await Enrichment.create({
    parts: config.enrich,
    geoipDatabase: config.geoipDatabase,
    storeIp: config.storeIp,
    onGeoUnavailable: (path, error) =>
      logger.warn(
        { path, err: error },
        "GeoIP database unreadable (PULSE_GEOIP_DATABASE): events get no $geoip_country_code until it is fixed and Pulse restarted",
      ),
  });
  const app = createApplication({
    hub,
    limits: trust.eventLimits,
    maxBatch: config.maxBatch,
    rateLimiter: trust.rateLimiter,
    enrichment,
  });
  const metrics = new PulseMetrics({ hub });
  const readiness = new Readiness();
  // GraphQL waits for the restore: nothing can be captured into, or read from, a hub that is not restored yet.
  let persistence: Persistence | undefined;
  let stream: RedisEventStream | undefined;
  const { databaseUrl, redisUrl } = config;
  const startup =
    databaseUrl || beforeReady || redisUrl
      ? async () => {
          if (databaseUrl) {
            persistence = await startPersistence({
              hub,
              databaseUrl,
              intervalMs: config.snapshotIntervalMs,
              log: logger,
              metrics,
              fleet: Boolean(redisUrl),
            });
          }
          if (redisUrl) {
            // After the restore: the reader continues the stream from the snapshot's last position.
            stream = new RedisEventStream(hub.stream, {
              url: redisUrl,
              prefix: config.redisPrefix,
              maxLength: config.redisStreamLength,
              restored: persistence?.restored,
              onState: (connected) => logger[connected ? "info" : "warn"]({ connected }, "redis stream"),
              onGap: (from, to) =>
                logger.error(
                  { from, to, missed: to - from + 1 },
                  `positions ${from}..${to} left the Redis stream before this instance read them (it was behind by more than ` +
                    `PULSE_REDIS_STREAM_LENGTH, or Redis lost its data); this instance does not have the events there, and ` +
                    `resuming from a cursor among them is told of a gap`,
                ),
              onReset: ({ restartedAt, knownPosition, knownAgeMs }) =>
                logger.error(
                  { restartedAt, knownPosition, knownAgeMs },
                  `Redis lost the position counter (restarted empty, flushed, evicted, or restored from an older copy): ` +
                    `restarted it at ${restartedAt}, past every position the fleet can have handed out, so no cursor names ` +
                    `two events; events Redis held that an instance had not read yet are lost to it. Run Redis with ` +
                    `persistence (appendonly yes).`,
                ),
            });
            hub.replication.useLog(stream);
            readiness.register("redis", () => (stream?.connected ? true : "redis unreachable"));
            await stream.start();
          }
          await beforeReady?.();
        }
      : undefined;
  readiness.set("listening", "not listening yet");
  readiness.set("startup", startup ? "pending" : true);
  const startingReason = () => {
    const state = readiness.state("startup");
    return state === true ? undefined : `startup ${state}`;
  };
  const connections = new ConnectionLog(logger, { quietPaths: Object.values(OPS_PATHS) });

  const masked = logUnexpectedErrors(maskError, logger);
  const schema = createSchema();
  const yoga = createYoga<Record<string, unknown>, PulseContext>({
    schema,
    graphqlEndpoint: "/graphql",
    // The transport's part; the auth plugin adds the caller (principal, reads) before anything runs. `req` is the
    // Node request (HTTP, SSE) or the WebSocket's peer, which keeps the upgrade's socket and identifying headers.
    context: ({ transport, req }) => {
      const origin = req as RequestOrigin | undefined;
      const userAgent = origin?.headers?.["user-agent"];
      return {
        app,
        config,
        snapshots: persistence?.status ?? NO_SNAPSHOTS,
        transport: (transport as TransportContext["transport"]) ?? "http",
        address: proxies.clientOf(origin),
        userAgent: typeof userAgent === "string" ? userAgent : undefined,
      } satisfies TransportContext as PulseContext;
    },
    graphiql: GRAPHIQL_OPTIONS,
    renderGraphiQL,
    landingPage: false,
    maskedErrors: { maskError: masked },
    logging: false,
    // Every request reaches Yoga through trust.prepareBody, which has already read the body whole within
    // PULSE_MAX_BODY_BYTES (413 past it, gzip bombs included). Yoga's own limit would only check it again, by piping
    // the pre-read body through a TransformStream per request: 6.5 % of the ingest_single profile.
    maxRequestBodySize: false,
    // The gate first: an operation refused while starting is not a capture refusal nor a subscription. Telemetry
    // next, ahead of any plugin that may refuse an operation (keys, limits), so its refusals are counted.
    plugins: [
      useStartupGate(startingReason),
      useTelemetry({ metrics, connections }),
      ...trust.plugins,
      useServerSentEvents(trust.sseStreams),
      useSharedExecution({ maskError: masked, observer: deliveryTelemetry({ metrics, connections }) }),
      useResponseCompression(),
      useCaptureVariables(schema),
    ],
  });

  // PostHog SDKs post here, with `api_key` checked against the same key ring as GraphQL.
  const posthog = createPostHogIngestion({
    ingest: app.ingest,
    clock: hub.clock,
    maxBodyBytes: config.trust.maxBodyBytes,
    authenticate: (apiKey) => trust.authenticateCapture(apiKey),
    authenticateHeader: (authorization) => void trust.keys.authenticate(authorization),
    clientAddress: (req) => proxies.clientOf(req),
  });
  const opsRoutes = createOpsRoutes({
    metrics,
    readiness,
    metricsKey: config.metricsKey,
    authorizeRead: authorizeRead ?? ((authorization) => trust.authorizeRead(authorization)),
    degraded: (): Record<string, string> => (stream && !stream.connected ? { redis: "unreachable: captures answer UNAVAILABLE" } : {}),
  });
  const eventStreams = new EventStreamResponses();
  const router = createRouter({
    logger,
    maxUrlLength: config.trust.maxUrlLength,
    track: (req, res) => connections.request(req, res),
    routes: [
      { name: "ops", matches: (path) => opsRoutes.handles(path), handle: (req, res, path) => opsRoutes.handle(req, res, path) },
      // The page is static: it loads while the snapshot restores and shows "reconnecting" until GraphQL answers.
      { name: "dashboard", matches: isDashboardPath, handle: serveDashboard },
      { name: "tracker", matches: (path) => path === TRACKER_PATH, handle: createTrackerRoute() },
      {
        name: "starting",
        matches: () => startingReason() !== undefined,
        handle: (req, res) => respondStarting(req, res, startingReason() ?? "startup"),
      },
      { name: "posthog", matches: (path) => posthog.handles(path), handle: (req, res) => posthog.handle(req, res) },
    ],
    fallback: {
      name: "graphql",
      matches: () => true,
      handle: async (req, res) => {
        if (EventStreamResponses.wanted(req) && !eventStreams.admit(res)) return;
        if (!(await trust.prepareBody(req, res))) return;
        await yoga.handle(req, res);
        // @whatwg-node switches the idle timeout off for a streamed response; event streams are pinged every 12 s,
        // so one whose client stopped reading is the only kind it cuts.
        if (!res.writableEnded) res.setTimeout(config.trust.httpIdleTimeoutMs);
      },
    },
  });
  const server = createServer(httpServerOptions(config.trust), router);
  limitHttpConnections(server, config.trust);

  const ws = attachWebSocket(server, yoga, trust.webSocket, {
    refusing: () => {
      const reason = startingReason();
      return reason === undefined ? undefined : `Pulse is starting (${reason})`;
    },
    upgrading: (request, headers) => connections.upgrading(request, headers),
    opened: (request, peer) => connections.socketOpened(request, peer),
    closed: (peer, code, reason) => connections.socketClosed(peer, code, reason),
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
  readiness.set("listening", true);
  logger.info({ url }, "listening");

  const ready = (async () => {
    if (!startup) return;
    try {
      await startup();
      readiness.set("startup", true);
    } catch (error) {
      readiness.set("startup", `failed: ${error instanceof Error ? error.message : String(error)}`);
      // An unusable database is explained by its message; a stack trace would bury it.
      logger.error(error instanceof StoreUnusableError ? { reason: error.message } : { err: error }, "startup failed");
      throw error;
    }
  })();
  // Surfaced through `ready` and /readyz; an embedder that never awaits `ready` must not crash on it.
  ready.catch(() => {});

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    config,
    hub,
    app,
    trust,
    metrics,
    readiness,
    logger,
    ready,
    endpoints: {
      dashboard: `${url}/`,
      tracker: `${url}${TRACKER_PATH}`,
      graphql: `${url}/graphql`,
      metrics: `${url}${OPS_PATHS.metrics}`,
      healthz: `${url}${OPS_PATHS.health}`,
      readyz: `${url}${OPS_PATHS.ready}`,
    },
    close: () =>
      (closing ??= (async () => {
        readiness.set("listening", "shutting down");
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        // The transports first, ending their subscriptions without `complete` (1001 on WebSockets, the end of the
        // response on event streams): stock clients then reconnect and subscribe again, to the next instance. The
        // hub's end of the same subscriptions afterwards (a `complete` each) reaches nobody.
        eventStreams.endAll();
        await ws.close();
        hub.close();
        trust.sseStreams.close();
        await stream?.close();
        // Let the ended event streams flush their last chunk before the sockets go.
        await new Promise((resolve) => setTimeout(resolve, 20));
        server.closeAllConnections();
        await stopped;
        await yoga.dispose();
        try {
          // A restore still running finishes first, so nothing it opens is left behind.
          await ready.catch(() => {});
          // Last: nothing can be captured any more, so the final snapshot holds everything.
          await persistence?.close();
        } finally {
          metrics.dispose();
        }
      })()),
  };
}

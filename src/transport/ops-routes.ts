import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { PulseMetrics } from "../telemetry/metrics.ts";
import type { Readiness } from "../telemetry/readiness.ts";
import { sendAnswer } from "./compression.ts";

/** The operations endpoints, beside GraphQL on the same port. */
export const OPS_PATHS = { health: "/healthz", ready: "/readyz", metrics: "/metrics" } as const;

/**
 * Whether an `Authorization` header value may read (the trust code's read-key check). Receives the raw header,
 * `undefined` when absent. The default, with no keys configured, lets everyone in.
 */
export type ReadAccessCheck = (authorization: string | undefined) => boolean | Promise<boolean>;

export interface OpsRoutesOptions {
  readonly metrics: PulseMetrics;
  readonly readiness: Readiness;
  /** PULSE_METRICS_KEY: when set, /metrics requires exactly `Bearer <it>`. */
  readonly metricsKey?: string;
  /** Consulted for /metrics when no metrics key is set; default: open. */
  readonly authorizeRead?: ReadAccessCheck;
  /**
   * Dependencies that are down while the process still serves (the shared Redis stream): /healthz stays 200 (the
   * process must not be restarted for it) but says `{status:"degraded", degraded:{name: reason}}`. Default: none.
   */
  readonly degraded?: () => Record<string, string>;
}

/**
 * The rule for /metrics: with a metrics key, that key and only it (compared in constant time); otherwise whatever
 * the read-key check says (open when no keys are configured).
 */
export function metricsAuthorizer(metricsKey: string | undefined, authorizeRead?: ReadAccessCheck): ReadAccessCheck {
  if (metricsKey !== undefined) {
    const expected = digest(metricsKey);
    return (authorization) => {
      const presented = bearerToken(authorization);
      // Hashing first makes the comparison constant-time whatever the lengths.
      return presented !== undefined && timingSafeEqual(digest(presented), expected);
    };
  }
  return authorizeRead ?? (() => true);
}

/** The operations routes, in the shape the router takes (see src/transport/router.ts). */
export interface OpsRoutes {
  handles(path: string): boolean;
  /** Rejects only on a bug (a readiness check or metric collector that throws): the router answers it 500, masked. */
  handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void>;
}

/**
 * Handles GET/HEAD `/healthz` (the process is up), `/readyz` (every readiness check passes, else 503 with the
 * reasons) and `/metrics` (Prometheus text, behind `metricsAuthorizer`).
 */
export function createOpsRoutes(options: OpsRoutesOptions): OpsRoutes {
  const authorizeMetrics = metricsAuthorizer(options.metricsKey, options.authorizeRead);
  const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => void | Promise<void>> = {
    [OPS_PATHS.health]: (req, res) => {
      const degraded = options.degraded?.() ?? {};
      return sendJson(req, res, 200, Object.keys(degraded).length > 0 ? { status: "degraded", degraded } : { status: "ok" });
    },
    [OPS_PATHS.ready]: async (req, res) => {
      const report = await options.readiness.evaluate();
      return sendJson(req, res, report.ready ? 200 : 503, { status: report.ready ? "ready" : "not ready", checks: report.checks });
    },
    [OPS_PATHS.metrics]: async (req, res) => {
      if (!(await authorizeMetrics(req.headers.authorization))) {
        res.setHeader("www-authenticate", 'Bearer realm="pulse-metrics"');
        return sendJson(req, res, 401, {
          error: { code: "UNAUTHENTICATED", message: "GET /metrics needs Authorization: Bearer <PULSE_METRICS_KEY, or a read key>" },
        });
      }
      // Prometheus scrapes with Accept-Encoding: gzip: a fresh server's exposition, about 13 KB, goes out as 2.8 KB.
      const { contentType, body } = await options.metrics.exposition();
      return send(req, res, 200, contentType, body);
    },
  };
  return {
    handles: (path) => Object.hasOwn(routes, path),
    async handle(req, res, path) {
      const route = routes[path]!;
      if (req.method !== "GET" && req.method !== "HEAD") {
        res.setHeader("allow", "GET, HEAD");
        return sendJson(req, res, 405, {
          error: { code: "METHOD_NOT_ALLOWED", message: `${path} answers GET and HEAD, not ${req.method}` },
        });
      }
      await route(req, res);
    },
  };
}

/** The answer to a GraphQL request while Pulse is starting (restoring its snapshot): retry shortly. */
export function respondStarting(req: IncomingMessage, res: ServerResponse, reason: string): void | Promise<void> {
  res.setHeader("retry-after", "1");
  return sendJson(req, res, 503, {
    errors: [{ message: `Pulse is starting (${reason}); retry shortly`, extensions: { code: "UNAVAILABLE" } }],
  });
}

function sendJson(req: IncomingMessage, res: ServerResponse, status: number, body: unknown): void | Promise<void> {
  return send(req, res, status, "application/json; charset=utf-8", JSON.stringify(body));
}

/** Compressed (src/transport/compression.ts) when the client accepts it and the body is large enough. */
function send(req: IncomingMessage, res: ServerResponse, status: number, contentType: string, body: string): void | Promise<void> {
  return sendAnswer(req, res, status, { "content-type": contentType, "cache-control": "no-store" }, body);
}

function bearerToken(authorization: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
  return match?.[1];
}

function digest(value: string): Buffer {
  return createHash("sha256").update(value).digest();
}

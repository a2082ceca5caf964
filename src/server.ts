import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { isDashboardPath, serveDashboard } from "./transport/dashboard.ts";
import type { AddressInfo } from "node:net";
import { renderGraphiQL } from "@graphql-yoga/render-graphiql";
import { createYoga } from "graphql-yoga";
import { resolveConfig, type PulseConfig } from "./config.ts";
import type { Clock } from "./domain/clock.ts";
import { Hub } from "./domain/hub.ts";
import type { PulseContext } from "./graphql/context.ts";
import { maskError } from "./graphql/errors.ts";
import { useGapExtension } from "./graphql/gap.ts";
import { createSchema } from "./graphql/schema.ts";
import { createPostHogIngestion } from "./transport/posthog.ts";
import { useServerSentEvents } from "./transport/sse.ts";
import { attachWebSocket } from "./transport/ws.ts";

export interface PulseServerOptions extends Partial<PulseConfig> {
  /** Injected time source (tests); the system clock otherwise. */
  readonly clock?: Clock;
}

export interface PulseServer {
  /** Base URL, e.g. http://127.0.0.1:4000 (GraphQL at `${url}/graphql`). */
  readonly url: string;
  readonly port: number;
  readonly config: PulseConfig;
  readonly hub: Hub;
  /** Stops accepting, completes every subscription, closes WebSockets with 1001, ends SSE responses. */
  close(): Promise<void>;
}

/** Starts Pulse: one HTTP server carrying GraphQL over HTTP, WebSocket and SSE. */
export async function createPulseServer(options: PulseServerOptions = {}): Promise<PulseServer> {
  const { clock, ...settings } = options;
  const config = resolveConfig(settings);
  const hub = new Hub({
    bufferSize: config.bufferSize,
    liveWindowSeconds: config.liveWindowSeconds,
    dashboardWindowSeconds: config.dashboardWindowSeconds,
    subscriberQueue: config.subscriberQueue,
    personsCapacity: config.personsMax,
    clock,
  });

  const yoga = createYoga<Record<string, unknown>, PulseContext>({
    schema: createSchema(),
    graphqlEndpoint: "/graphql",
    context: ({ transport }) => ({ hub, config, transport: (transport as PulseContext["transport"]) ?? "http" }),
    graphiql: { title: "Pulse", subscriptionsProtocol: "WS" },
    renderGraphiQL,
    landingPage: false,
    maskedErrors: { maskError },
    logging: false,
    plugins: [useServerSentEvents(), useGapExtension()],
  });

  // PostHog SDKs post here; the key check is open until the key store is wired in (authorizeCapture).
  const posthog = createPostHogIngestion({ hub, maxBatch: config.maxBatch });

  const server = createServer((req, res) => route(req, res));
  function route(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/healthz") {
      res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
      res.end(JSON.stringify({ status: "ok" }));
      return;
    }
    if (path !== undefined && isDashboardPath(path)) {
      void serveDashboard(req, res, path);
      return;
    }
    if (path !== undefined && posthog.handles(path)) {
      void posthog.handle(req, res);
      return;
    }
    void yoga.handle(req, res);
  }

  const ws = attachWebSocket(server, yoga);
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

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    config,
    hub,
    close: () =>
      (closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        hub.close();
        await ws.close();
        // Let completed SSE streams flush their last frame before the sockets go.
        await new Promise((resolve) => setTimeout(resolve, 20));
        server.closeAllConnections();
        await stopped;
        await yoga.dispose();
      })()),
  };
}

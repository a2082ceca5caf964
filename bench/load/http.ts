import autocannon from "autocannon";
import { serveRequests } from "../lib/serve.ts";
import { BROWSER_USER_AGENT } from "../lib/workload.ts";

/** Bodies sent in turn by a run that names them (`pool`), kept here so they cross the IPC channel once. */
const pools = new Map<string, Buffer[]>();

/**
 * The load generator for ingestion scenarios: autocannon, `connections` keep-alive connections posting the same
 * body for `seconds` (or the bodies of `pool` in turn, each request the next one, whichever connection sends it),
 * with a browser's User-Agent (what Pulse enriches page views from) unless `headers` say otherwise. Any non-2xx
 * answer or GraphQL error fails the run rather than counting as throughput.
 */
serveRequests(
  {},
  {
    /** Keeps `bodies` (base64) as the pool `name`. */
    pool(r) {
      const { name, bodies } = r as unknown as { name: string; bodies: string[] };
      pools.set(
        name,
        bodies.map((b) => Buffer.from(b, "base64")),
      );
      return { bodies: bodies.length };
    },

    async run(r) {
      const {
        url,
        body,
        bodies: inline,
        pool,
        headers,
        connections,
        seconds,
      } = r as unknown as {
        url: string;
        body?: string;
        /** Bodies sent in turn instead of `body` (the capture curve spreads its distinct ids over them). */
        bodies?: string[];
        /** A pool kept by `pool`, sent in turn instead of `body`. */
        pool?: string;
        headers?: Record<string, string>;
        connections: number;
        seconds: number;
      };
      const pooled = pool === undefined ? undefined : pools.get(pool);
      if (pool !== undefined && !pooled) throw new Error(`no body pool ${pool}`);
      const bodies: readonly (string | Buffer)[] | undefined = pooled ?? inline;
      let next = 0;
      let graphqlErrors = 0;
      const result = await autocannon({
        url,
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json", "user-agent": BROWSER_USER_AGENT, ...headers },
        ...(bodies ? { requests: [{ setupRequest: (request) => ({ ...request, body: bodies[next++ % bodies.length]! }) }] } : { body }),
        connections,
        duration: seconds,
        setupClient: (client) => {
          client.on("body", (buffer: Buffer) => {
            if (buffer.includes('"errors"')) graphqlErrors++;
          });
        },
      });
      if (result.non2xx > 0 || result.errors > 0 || graphqlErrors > 0) {
        throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors, ${graphqlErrors} GraphQL errors`);
      }
      return { requestsPerSecond: result.requests.mean, total: result.requests.total };
    },
  },
);

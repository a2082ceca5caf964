import autocannon from "autocannon";
import { serveRequests } from "../lib/serve.ts";
import { BROWSER_USER_AGENT } from "../lib/workload.ts";

/**
 * The load generator for ingestion scenarios: autocannon, `connections` keep-alive connections posting the same
 * body for `seconds`, with a browser's User-Agent (what Pulse enriches page views from). Any non-2xx answer or
 * GraphQL error fails the run rather than counting as throughput.
 */
serveRequests(
  {},
  {
    async run(r) {
      const { url, body, bodies, connections, seconds } = r as unknown as {
        url: string;
        body: string;
        /** Bodies sent in turn instead of `body` (the capture curve spreads its distinct ids over them). */
        bodies?: string[];
        connections: number;
        seconds: number;
      };
      let graphqlErrors = 0;
      let turn = 0;
      const result = await autocannon({
        url,
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json", "user-agent": BROWSER_USER_AGENT },
        body,
        ...(bodies ? { requests: [{ setupRequest: (request) => ({ ...request, body: bodies[turn++ % bodies.length] }) }] } : {}),
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

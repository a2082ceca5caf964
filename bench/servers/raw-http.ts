import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { serveRequests, serverHandlers } from "../lib/serve.ts";

/**
 * The limit for ingestion on Node: `node:http` that parses the same JSON body Pulse gets and pushes its events
 * into an array (bounded like Pulse's buffer, so memory stays flat). A PostHog `/batch/` body (`{ api_key, batch,
 * sent_at }`, sent here uncompressed: ingest_posthog_batch) has its `batch` pushed likewise and is answered as PostHog does.
 */
const BUFFER = 10_000;
let stored: unknown[] = [];

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  req.on("end", () => {
    const body = JSON.parse(Buffer.concat(chunks).toString()) as { batch?: unknown[]; variables?: { inputs?: unknown[]; input?: unknown } };
    const inputs = body.batch ?? body.variables!.inputs ?? [body.variables!.input];
    for (const input of inputs) stored.push(input);
    if (stored.length > BUFFER) stored = stored.slice(-BUFFER);
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(body.batch ? { status: 1 } : { data: { captureEvents: { accepted: inputs.length } } }));
  });
});

await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
serveRequests({ port: (server.address() as AddressInfo).port }, serverHandlers, () => server.closeAllConnections());

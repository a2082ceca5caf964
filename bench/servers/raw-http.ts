import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { serveRequests, serverHandlers } from "../lib/serve.ts";

/**
 * The limit for ingestion on Node: `node:http` that parses the same JSON body Pulse gets and pushes its events
 * into an array (bounded like Pulse's buffer, so memory stays flat).
 */
const BUFFER = 10_000;
let stored: unknown[] = [];

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  req.on("end", () => {
    const body = JSON.parse(Buffer.concat(chunks).toString()) as { variables: { inputs?: unknown[]; input?: unknown } };
    const inputs = body.variables.inputs ?? [body.variables.input];
    for (const input of inputs) stored.push(input);
    if (stored.length > BUFFER) stored = stored.slice(-BUFFER);
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ data: { captureEvents: { accepted: inputs.length } } }));
  });
});

await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
serveRequests({ port: (server.address() as AddressInfo).port }, serverHandlers, () => server.closeAllConnections());

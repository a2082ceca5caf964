import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer, type WebSocket } from "ws";
import { serveRequests, serverHandlers } from "../lib/serve.ts";
import { eventResult, type CaptureInput } from "../lib/workload.ts";

/**
 * The physical limit for delivery on Node: a plain `ws` server. It answers `connection_init` and `subscribe` as a
 * graphql-transport-ws server would, then on every capture body (POST, any path) serializes each event once, as the
 * `next` frame Pulse would send, and sends those same bytes to every subscribed socket (only to the sockets of
 * the event's bucket, for subscribers that gave a `bucket` filter: the sockets Pulse's filters would match).
 * No GraphQL, no validation, no storage.
 */
const all = new Set<WebSocket>();
const byBucket = new Map<unknown, Set<WebSocket>>();
let seq = 0;

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  req.on("end", () => {
    const body = JSON.parse(Buffer.concat(chunks).toString()) as { variables: { inputs?: CaptureInput[]; input?: CaptureInput } };
    const inputs = body.variables.inputs ?? (body.variables.input ? [body.variables.input] : []);
    for (const input of inputs) {
      const frame = JSON.stringify({ id: "1", type: "next", payload: eventResult(input, ++seq) });
      const targets = byBucket.size > 0 ? byBucket.get(input.properties["bucket"]) : all;
      for (const socket of targets ?? []) socket.send(frame);
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ data: { captureEvents: { accepted: inputs.length } } }));
  });
});

const wss = new WebSocketServer({ server, path: "/graphql" });
wss.on("connection", (socket) => {
  socket.on("message", (data: Buffer) => {
    const message = JSON.parse(data.toString()) as {
      type: string;
      payload?: { variables?: { filter?: { properties?: { value: unknown }[] } } };
    };
    if (message.type === "connection_init") socket.send(JSON.stringify({ type: "connection_ack" }));
    if (message.type !== "subscribe") return;
    const bucket = message.payload?.variables?.filter?.properties?.[0]?.value;
    if (bucket === undefined) {
      all.add(socket);
    } else {
      let group = byBucket.get(bucket);
      if (!group) byBucket.set(bucket, (group = new Set()));
      group.add(socket);
    }
  });
  socket.on("close", () => {
    all.delete(socket);
    for (const group of byBucket.values()) group.delete(socket);
  });
});

await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
serveRequests({ port: (server.address() as AddressInfo).port }, serverHandlers, () => {
  for (const socket of wss.clients) socket.terminate();
  server.closeAllConnections();
});

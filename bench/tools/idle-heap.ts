import { fork } from "node:child_process";
import { writeHeapSnapshot } from "node:v8";
import WebSocket from "ws";
import { SUBSCRIPTION } from "../lib/workload.ts";

/**
 * `node --expose-gc --import tsx bench/tools/idle-heap.ts [count] [dir]`: starts Pulse in this process, opens `count`
 * (default 10,000) idle `events` subscriptions from a child process over raw `ws` sockets, the way
 * bench/load/subscribers.ts does, writes heap snapshots before and after into `dir` (compare them in Chrome
 * DevTools' Memory tab, or summarise with bench/tools/heap-diff.ts) and prints the memory per subscription.
 * SNAPSHOT=0 skips the snapshots. What memory_idle_10k is made of.
 */
if (process.argv[2] === "client") {
  const [url, count] = [process.argv[3]!, Number(process.argv[4])];
  const sockets: WebSocket[] = [];
  for (let from = 0; from < count; from += 200) {
    const opening: Promise<void>[] = [];
    for (let i = from; i < Math.min(count, from + 200); i++) {
      opening.push(
        new Promise((resolve, reject) => {
          const socket = new WebSocket(url, "graphql-transport-ws", { perMessageDeflate: false });
          sockets.push(socket);
          socket.once("error", reject);
          socket.once("open", () => socket.send('{"type":"connection_init"}'));
          socket.once("message", () => {
            socket.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query: SUBSCRIPTION, variables: {} } }));
            resolve();
          });
        }),
      );
    }
    await Promise.all(opening);
  }
  process.send!("connected");
} else {
  const { createPulseServer, loadConfig } = await import("../../src/index.ts");
  const { createServer } = await import("node:http");
  const { WebSocketServer } = await import("ws");
  const count = Number(process.argv[2] ?? 10_000);
  const dir = process.argv[3] ?? ".";
  const snapshots = process.env["SNAPSHOT"] !== "0";
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("run with --expose-gc");
  // RAW=1: a plain `ws` server that acks and files each socket in a Set (the raw-ws baseline's idle state).
  // GRAPHQL_WS=1: graphql-ws's own `useServer` with graphql-js's subscribe on a one-field schema whose iterator
  // never yields: the floor for any design that keeps graphql-ws and one async iterator per subscription.
  const pulse =
    process.env["RAW"] === "1"
      ? await rawServer()
      : process.env["GRAPHQL_WS"] === "1"
        ? await graphqlWsServer()
        : await createPulseServer({
            ...loadConfig({
              ...process.env,
              PULSE_CAPTURE_RATE: "1000000000",
              PULSE_CAPTURE_BURST: "1000000000",
              PULSE_MAX_CONNECTIONS_PER_ADDRESS: "0",
              REDIS_URL: "",
              PORT: "0",
              HOST: "127.0.0.1",
            }),
            // Memory only: idle subscriptions do not depend on snapshots, and the default file is the one `npm start` restores.
            databaseUrl: null,
          });
  await pulse.ready;
  const settle = async () => {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    gc();
    gc();
    return process.memoryUsage();
  };
  const before = await settle();
  if (snapshots) writeHeapSnapshot(`${dir}/idle-before.heapsnapshot`);
  const url = `${pulse.url.replace(/^http/, "ws")}/graphql`;
  const child = fork(new URL(import.meta.url).pathname, ["client", url, String(count)], { execArgv: ["--import", "tsx"] });
  await new Promise((resolve) => child.once("message", resolve));
  const after = await settle();
  if (snapshots) writeHeapSnapshot(`${dir}/idle-after.heapsnapshot`);
  const per = (key: keyof NodeJS.MemoryUsage) => Math.round((after[key] - before[key]) / count);
  console.log(
    JSON.stringify({
      count,
      rssPerSub: per("rss"),
      heapUsedPerSub: per("heapUsed"),
      externalPerSub: per("external"),
      arrayBuffersPerSub: per("arrayBuffers"),
    }),
  );
  child.kill();
  await pulse.close();
  process.exit(0);

  async function graphqlWsServer() {
    const { makeExecutableSchema } = await import("@graphql-tools/schema");
    const { useServer } = await import("graphql-ws/use/ws");
    const schema = makeExecutableSchema({
      typeDefs:
        "type Query { ok: Boolean } type Event { id: ID, event: String, distinctId: String, timestamp: String, properties: String, cursor: String } input EventFilter { x: Int } type Subscription { events(filter: EventFilter): Event }",
      resolvers: {
        Subscription: { events: { subscribe: () => ({ [Symbol.asyncIterator]: () => ({ next: () => new Promise(() => {}) }) }) } },
      },
    });
    const server = createServer();
    const wss = new WebSocketServer({ server, path: "/graphql" });
    useServer({ schema }, wss);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as { port: number };
    const close = () => {
      server.closeAllConnections();
      return Promise.resolve();
    };
    return { url: `http://127.0.0.1:${port}`, ready: Promise.resolve(), close };
  }

  async function rawServer() {
    const server = createServer();
    const wss = new WebSocketServer({ server, path: "/graphql" });
    const subscribed = new Set<unknown>();
    wss.on("connection", (socket) => {
      socket.on("message", (data: Buffer) => {
        if (data.toString().includes("connection_init")) socket.send('{"type":"connection_ack"}');
        else subscribed.add(socket);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as { port: number };
    const close = () => {
      server.closeAllConnections();
      return Promise.resolve();
    };
    return { url: `http://127.0.0.1:${port}`, ready: Promise.resolve(), close };
  }
}

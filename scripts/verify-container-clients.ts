// The client side of scripts/verify-container.sh: checks a Pulse running in a container (or a fleet behind nginx)
// with the stock clients users run.
//
//   node --import tsx scripts/verify-container-clients.ts live <baseUrl>
//     subscribes to one event name over graphql-ws and over graphql-sse in both of its modes, captures that event
//     over HTTP every 250 ms until each subscription has received one (at most 30 s), and prints the captured ids
//     as a JSON array. Through a proxy this checks the WebSocket upgrade and that events reach open event streams.
//   node --import tsx scripts/verify-container-clients.ts has <baseUrl> <id>...
//     exits 1 unless recentEvents holds every id.
import { createClient as createSseClient } from "graphql-sse";
import { createClient as createWsClient } from "graphql-ws";
import WebSocket from "ws";

interface GraphqlAnswer<TData> {
  readonly data?: TData;
  readonly errors?: readonly { readonly message: string }[];
}

async function graphql<TData>(baseUrl: string, query: string, variables: Record<string, unknown> = {}): Promise<TData> {
  const response = await fetch(`${baseUrl}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  let answer: GraphqlAnswer<TData> = {};
  try {
    answer = JSON.parse(text) as GraphqlAnswer<TData>;
  } catch {
    // Reported below with the status and the body as it came.
  }
  if (!response.ok || answer.errors || !answer.data)
    throw new Error(`HTTP ${response.status} from ${baseUrl}/graphql: ${text.slice(0, 500)}`);
  return answer.data;
}

/** A sink's error as text: an Error, a WebSocket close or error event (whose fields JSON.stringify skips), GraphQL errors. */
function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  const { type, code, reason, message } = (error ?? {}) as { type?: string; code?: number; reason?: string; message?: string };
  if (type !== undefined || code !== undefined)
    return [type, code, reason || message].filter((part) => part !== undefined && part !== "").join(" ");
  return JSON.stringify(error);
}

async function live(baseUrl: string): Promise<string[]> {
  const name = `container-check-${Date.now()}`;
  const query = `subscription($events: [String!]) { events(filter: { events: $events }) { id event } }`;
  const received = new Map<string, number>([
    ["graphql-ws", 0],
    ["graphql-sse distinct connections", 0],
    ["graphql-sse single connection", 0],
  ]);
  const failures: string[] = [];
  const sink = (transport: string) => ({
    next: () => received.set(transport, (received.get(transport) ?? 0) + 1),
    error: (error: unknown) => failures.push(`${transport}: ${describe(error)}`),
    complete: () => failures.push(`${transport}: completed`),
  });
  const ws = createWsClient({ url: `${baseUrl.replace(/^http/, "ws")}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0 });
  const sse = createSseClient({ url: `${baseUrl}/graphql/stream`, retryAttempts: 0 });
  const sseSingle = createSseClient({ url: `${baseUrl}/graphql/stream`, singleConnection: true, retryAttempts: 0 });
  const payload = { query, variables: { events: [name] } };
  const unsubscribe = [
    ws.subscribe(payload, sink("graphql-ws")),
    sse.subscribe(payload, sink("graphql-sse distinct connections")),
    sseSingle.subscribe(payload, sink("graphql-sse single connection")),
  ];
  const ids: string[] = [];
  try {
    const deadline = Date.now() + 30_000;
    while ([...received.values()].some((count) => count === 0)) {
      if (failures.length > 0) throw new Error(failures.join("; "));
      if (Date.now() > deadline)
        throw new Error(
          `no event within 30 s on: ${[...received]
            .filter(([, n]) => n === 0)
            .map(([t]) => t)
            .join(", ")}`,
        );
      const data = await graphql<{ captureEvent: { id: string } }>(
        baseUrl,
        `
          mutation ($name: String!) {
            captureEvent(input: { event: $name, distinctId: "container-check" }) {
              id
            }
          }
        `,
        { name },
      );
      ids.push(data.captureEvent.id);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  } finally {
    for (const stop of unsubscribe) stop();
    await ws.dispose();
    sse.dispose();
    sseSingle.dispose();
  }
  console.error(`received ${[...received].map(([transport, n]) => `${n} on ${transport}`).join(", ")} of ${ids.length} captured`);
  return ids;
}

async function has(baseUrl: string, ids: readonly string[]): Promise<boolean> {
  const data = await graphql<{ recentEvents: { id: string }[] }>(
    baseUrl,
    `
      {
        recentEvents(limit: 100000) {
          id
        }
      }
    `,
  );
  const present = new Set(data.recentEvents.map((event) => event.id));
  const missing = ids.filter((id) => !present.has(id));
  if (missing.length > 0) console.error(`missing from recentEvents at ${baseUrl}: ${missing.join(", ")}`);
  return missing.length === 0;
}

const [command, baseUrl, ...ids] = process.argv.slice(2);
if (command === "live" && baseUrl) {
  console.log(JSON.stringify(await live(baseUrl)));
} else if (command === "has" && baseUrl && ids.length > 0) {
  process.exitCode = (await has(baseUrl, ids)) ? 0 : 1;
} else {
  console.error("usage: verify-container-clients.ts live <baseUrl> | has <baseUrl> <id>...");
  process.exitCode = 2;
}

import { createClient as createSseClient } from "graphql-sse";
import { createClient as createWsClient } from "graphql-ws";
import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { RealtimeAnalytics, type ConnectionStatus, type PulseEvent } from "../../packages/client/src/index.ts";
import { onCleanup } from "../support/cleanup.ts";
import { describeEnd, wsUrl, type Result } from "../support/clients.ts";
import { captureSequence, realtimeMetrics, sequenceNumber } from "../support/events.ts";
import { freePort, startPulseProcess, tempDatabaseUrl, type PulseProcess } from "../support/process.ts";
import { fleetSettings, POSTGRES_URL, REDIS_URL } from "../support/services.ts";
import { startTcpProxy } from "../support/tcp-proxy.ts";
import { waitFor } from "../support/wait.ts";

/**
 * Deploys of real `node src/main.ts` processes while a producer captures continuously (captureSequence: one event at
 * a time, each retried with its id until stored). One process restarted with SIGTERM on the same port and SQLite
 * database, with the stock graphql-ws and graphql-sse clients; and a two-instance fleet (Redis, PostgreSQL) behind a
 * load-balancing proxy, restarted one instance at a time, with `pulse/client` and the stock clients. `pulse/client`
 * across a one-process restart is in test/client/restart.test.ts.
 *
 * Stock clients resubscribe without `after:`, so they may miss what is captured while they are away: they are held
 * to receiving, once subscribed again, every event captured from then on, never one twice or out of order.
 * `pulse/client` resumes with `after:` and is held to every event exactly once, in order.
 */

/** graphql-ws's and graphql-sse's clients retry after 1.3-4 s, then 2.3-5 s, ... (their randomised backoff). */
const RESUBSCRIBE_MS = 30_000;

const EVENTS = "subscription { events { cursor properties } }";

/** One stock subscription to `events`, recorded: the sequence numbers received, and how it ended if it did. */
interface StockSubscription {
  readonly numbers: number[];
  readonly end: string | null;
  /** Times the client connected again after losing its connection. */
  readonly reconnects: number;
  /** Requests graphql-sse's client saw answered with an error status (`PUT 403`, ...), which it retries. */
  readonly refusals: readonly string[];
  dispose(): Promise<void>;
}

type StockKind = "graphql-ws" | "graphql-sse" | "graphql-sse (single connection)";

/**
 * A stock client as an application builds it, subscribed to `events`: graphql-ws's `createClient` (lazy, default
 * retries; `shouldRetry` as given), graphql-sse's in distinct connections mode or in single connection mode.
 * Disposed by `cleanup()`.
 */
function stockSubscription(kind: StockKind, baseUrl: string, wsOptions: { shouldRetry?: () => boolean } = {}): StockSubscription {
  const numbers: number[] = [];
  let end: string | null = null;
  let reconnects = 0;
  const refusals: string[] = [];
  const sink = {
    next: (result: Result) => {
      const event = (result.data as { events?: Pick<PulseEvent, "properties"> } | null | undefined)?.events;
      if (event) numbers.push(sequenceNumber(event));
      else end = `result without an event: ${JSON.stringify(result)}`;
    },
    error: (error: unknown) => void (end = describeEnd({ kind: "error", error })),
    complete: () => void (end = "complete"),
  };
  let dispose: () => Promise<void>;
  if (kind === "graphql-ws") {
    const client = createWsClient({ url: wsUrl(baseUrl), webSocketImpl: WebSocket, ...wsOptions });
    client.on("connected", (_socket, _payload, wasRetry) => void (wasRetry && reconnects++));
    client.subscribe({ query: EVENTS }, sink);
    // graphql-ws's dispose waits for a connection being made, to close it, and rejects when that attempt fails
    // (a process killed after a failed test): nothing is left to close then.
    dispose = () => Promise.resolve(client.dispose()).catch(() => {});
  } else {
    const client = createSseClient({
      url: `${baseUrl}/graphql/stream`,
      singleConnection: kind !== "graphql-sse",
      on: { connected: (reconnected) => void (reconnected && reconnects++) },
      fetchFn: async (input: RequestInfo | URL, init?: RequestInit) => {
        const response = await fetch(input, init);
        if (!response.ok) refusals.push(`${init?.method ?? "GET"} ${response.status}`);
        return response;
      },
    });
    const unsubscribe = client.subscribe({ query: EVENTS }, sink);
    dispose = () => {
      unsubscribe();
      client.dispose();
      return Promise.resolve();
    };
  }
  onCleanup(() => dispose());
  return {
    numbers,
    get end() {
      return end;
    },
    get reconnects() {
      return reconnects;
    },
    refusals,
    dispose: () => dispose(),
  };
}

/** `from` to `to`, both included. */
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/**
 * Once subscribed again at a moment when events 1 to `back` were acknowledged, `numbers` has every event from
 * `back + 2` to `last` (the event in flight at that moment may have been captured before the subscription started),
 * and nothing twice or out of order.
 */
function expectSubscribedFrom(numbers: readonly number[], back: number, last: number, name: string): void {
  const increasing = numbers.every((n, i) => i === 0 || n > numbers[i - 1]!);
  expect(increasing, `${name}: nothing twice or out of order in ${JSON.stringify(numbers)}`).toBe(true);
  expect(
    numbers.filter((n) => n >= back + 2),
    name,
  ).toEqual(range(back + 2, last));
}

describe("a SIGTERM restart of one process on the same port and SQLite database", () => {
  // graphql-ws's client gives up for good when its retry finds the port refusing (an `error` before any close, which
  // its default `shouldRetry` does not retry), and a restarted process takes 3-6 s to listen here against the
  // client's first retry after 1.3-4 s: against one process, give it `shouldRetry: () => true` (docs/api.md, "Deploys,
  // crashes and startup"). Behind a load balancer with another instance up, as in the fleet below, the defaults do.
  it.each<[StockKind, { shouldRetry?: () => boolean }]>([
    ["graphql-ws", { shouldRetry: () => true }],
    ["graphql-sse", {}],
    ["graphql-sse (single connection)", {}],
  ])(
    "a stock %s client is subscribed again by itself and receives every event captured from then on",
    { timeout: 60_000 },
    async (kind, wsOptions) => {
      const port = await freePort();
      const env = { DATABASE_URL: tempDatabaseUrl(), LOG_LEVEL: "warn" };
      const first = await startPulseProcess(env, { port });
      const stock = stockSubscription(kind, first.url, wsOptions);
      await waitFor(async () => (await realtimeMetrics(first.url)).activeConnections === 1, {
        what: () => `the ${kind} subscription (refused: ${stock.refusals.join(", ") || "none"}, end: ${stock.end})`,
      });
      const producer = captureSequence(first.url);
      await waitFor(() => stock.numbers.length >= 10, { what: () => `events before the restart (end: ${stock.end})` });

      first.child.kill("SIGTERM");
      expect((await first.exited).code).toBe(0);
      const second = await startPulseProcess(env, { port });
      await waitFor(async () => (await realtimeMetrics(second.url)).activeConnections === 1, {
        what: () => `the ${kind} client to subscribe again (reconnects: ${stock.reconnects}, end: ${stock.end})`,
        timeoutMs: RESUBSCRIBE_MS,
      });
      const back = producer.acknowledged;

      await waitFor(() => (stock.numbers.at(-1) ?? 0) >= back + 20, {
        what: () => `events after the restart (acknowledged: ${producer.acknowledged}, received up to ${stock.numbers.at(-1)})`,
      });
      const last = await producer.stop();
      await waitFor(() => stock.numbers.at(-1) === last, { what: () => `event ${last} (received up to ${stock.numbers.at(-1)})` });

      expect(stock.end).toBeNull();
      expect(stock.reconnects).toBeGreaterThanOrEqual(1);
      expect(stock.numbers[0]).toBeLessThan(back);
      expectSubscribedFrom(stock.numbers, back, last, kind);
      // Before the cleanup kills the process, or the client would retry against a closed port.
      await stock.dispose();
    },
  );
});

describe.skipIf(!REDIS_URL || !POSTGRES_URL)("a rolling restart of a two-instance fleet behind a load-balancing proxy", () => {
  /** An instance of the fleet sharing `settings`, on `port`, ready (GET /readyz 200). */
  const startInstance = (settings: Record<string, string>, port: number) => startPulseProcess({ LOG_LEVEL: "warn", ...settings }, { port });
  const portOf = (instance: PulseProcess) => Number(new URL(instance.url).port);
  const activeOn = async (instance: PulseProcess) => (await realtimeMetrics(instance.url)).activeConnections;

  /** `pulse/client` over ws and sse, and the stock graphql-ws and graphql-sse clients (default settings), all on `baseUrl`. */
  function clients(baseUrl: string, where: string) {
    const pulse = (["ws", "sse"] as const).map((transport) => {
      const client = new RealtimeAnalytics(baseUrl, { transport, webSocketImpl: WebSocket });
      onCleanup(() => client.disconnect());
      const received: PulseEvent[] = [];
      const statuses: ConnectionStatus[] = [];
      client.on("tick", (event) => received.push(event));
      client.onStatus((status) => statuses.push(status));
      client.connect({ events: ["tick"] });
      return { name: `pulse/client over ${transport}, first on ${where}`, client, received, statuses };
    });
    const stock = (["graphql-ws", "graphql-sse"] as const).map((kind) =>
      Object.assign(stockSubscription(kind, baseUrl), { name: `${kind}, first on ${where}` }),
    );
    return { pulse, stock };
  }

  it(
    "pulse/client (ws, sse) receives every event once, in order; stock graphql-ws and graphql-sse clients are subscribed again after each restart",
    { timeout: 90_000 },
    async () => {
      const settings = fleetSettings();
      // The first creates the schema; the second joins it.
      const fleet = [await startInstance(settings, await freePort())];
      fleet.push(await startInstance(settings, await freePort()));

      // Four clients on each instance, so that each restart moves some of every kind; then the proxy balances.
      const proxy = await startTcpProxy(portOf(fleet[0]!));
      const onA = clients(proxy.url, "A");
      await waitFor(async () => (await activeOn(fleet[0]!)) === 4, { what: "four subscriptions on A" });
      proxy.retarget(portOf(fleet[1]!));
      const onB = clients(proxy.url, "B");
      await waitFor(async () => (await activeOn(fleet[1]!)) === 4, { what: "four subscriptions on B" });
      proxy.retarget(fleet.map(portOf));
      const pulse = [...onA.pulse, ...onB.pulse];
      const stock = [...onA.stock, ...onB.stock];

      const producer = captureSequence(proxy.url);
      await waitFor(() => pulse.every((c) => c.received.length >= 20), { what: "events before the first restart" });

      /**
       * Restarts instance `i` as a deploy does (SIGTERM, exit 0, the same settings on the same port, ready), then
       * waits for every client to be subscribed again and the stock ones to receive events captured since.
       */
      const restart = async (i: number) => {
        const old = fleet[i]!;
        old.child.kill("SIGTERM");
        expect((await old.exited).code).toBe(0);
        fleet[i] = await startInstance(settings, portOf(old));
        await waitFor(async () => (await Promise.all(fleet.map(activeOn))).reduce((a, b) => a + b) === 8, {
          what: () =>
            `8 subscriptions on the fleet after restarting ${"AB"[i]} (pulse/client: ${pulse.map((c) => c.client.status).join(", ")}; ` +
            `stock: ${stock.map((s) => `${s.reconnects} reconnects, end ${s.end}`).join("; ")})`,
          timeoutMs: RESUBSCRIBE_MS,
        });
        const back = producer.acknowledged;
        await waitFor(() => stock.every((s) => (s.numbers.at(-1) ?? 0) >= back + 10), {
          what: () =>
            `the stock clients to receive events after restarting ${"AB"[i]} ` +
            `(acknowledged ${producer.acknowledged}; received up to ${stock.map((s) => s.numbers.at(-1)).join(", ")})`,
        });
        return back;
      };
      await restart(0);
      for (const c of onA.pulse) expect(c.statuses, `${c.name} reconnected`).toContain("reconnecting");
      for (const s of onA.stock) expect(s.reconnects, `${s.name} reconnected`).toBeGreaterThanOrEqual(1);
      const back = await restart(1);
      for (const c of onB.pulse) expect(c.statuses, `${c.name} reconnected`).toContain("reconnecting");
      for (const s of onB.stock) expect(s.reconnects, `${s.name} reconnected`).toBeGreaterThanOrEqual(1);

      const last = await producer.stop();
      await waitFor(() => [...pulse.map((c) => c.received.length), ...stock.map((s) => s.numbers.at(-1) ?? 0)].every((n) => n >= last), {
        what: () =>
          `event ${last} everywhere (pulse/client: ${pulse.map((c) => c.received.length).join(", ")}; ` +
          `stock: ${stock.map((s) => s.numbers.at(-1)).join(", ")})`,
      });
      for (const { name, received } of pulse) {
        expect(received.map(sequenceNumber), name).toEqual(range(1, last));
        expect(new Set(received.map((e) => e.cursor)).size, name).toBe(last);
      }
      for (const s of stock) {
        expect(s.end, s.name).toBeNull();
        expectSubscribedFrom(s.numbers, back, last, s.name);
      }
      for (const s of stock) await s.dispose();
    },
  );
});

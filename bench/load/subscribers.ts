import { request as httpRequest, type ClientRequest } from "node:http";
import { createHistogram, performance } from "node:perf_hooks";
import WebSocket from "ws";
import { serveRequests } from "../lib/serve.ts";
import {
  BUCKETS,
  captureEventsBody,
  distinctFilter,
  MATCHING_BUCKET,
  matchingCount,
  matchingFilter,
  pageview,
  SUBSCRIPTION,
  type CaptureInput,
} from "../lib/workload.ts";

/**
 * The load generator for delivery scenarios, the same against Pulse and every baseline: raw sockets that speak
 * graphql-transport-ws (or graphql-sse) by hand and count `next` frames without parsing them (a client library
 * per socket would cost more CPU than the server under test). Events are published with the captureEvents body
 * over HTTP, from this process, so "first capture → last frame" is timed on one clock.
 */
type Transport = "ws" | "sse";

interface ConnectRequest {
  transport: Transport;
  baseUrl: string;
  count: number;
  /** Give subscriber i the distinct filter of bucket i % BUCKETS (filtered_10k); otherwise no filter. */
  filtered: boolean;
  /**
   * Cost curves: instead, the share (0–1) of subscribers whose filter matches every published event, each filter
   * still distinct (`matchingFilter`); unset: `filtered` decides.
   */
  matching?: number;
  /** Subscriptions per WebSocket (graphql-transport-ws multiplexes operations; default 1, at most 10). */
  perSocket?: number;
  /** The source address of this generator's sockets (a 127.0.0.x of its own spreads ephemeral ports). */
  localAddress?: string;
}

const NEXT_WS = Buffer.from('"type":"next"');
const NEXT_SSE = Buffer.from("event: next");
const T_KEY = Buffer.from('"t":');

let baseUrl = "";
let filtered = false;
let matching: number | undefined;
let perSocket = 1;
let localAddress: string | undefined;
let counts = new Uint32Array(0);
let reached = 0;
let total = 0;
let others = 0;
let lastFrameAt = 0;
let eventNumber = 0;
/** Events per fan-out round once the first round has sized them (0 before); kept across `fanout` requests. */
let roundEvents = 0;
const closers: (() => void)[] = [];
let latencies: ReturnType<typeof createHistogram> | null = null;
/**
 * Added to performance.now() to compare a frame's receipt with its send stamp: 0 when this process stamped it (the
 * latency request), performance.timeOrigin when another process may have (the fleet scenario stamps wall-clock
 * times, comparable across the processes of one machine).
 */
let clockOffset = 0;
/** Wall-clock ms (sub-millisecond), the same clock in every process of this machine. */
const wallNow = (): number => performance.timeOrigin + performance.now();

function onFrame(index: number, data: Buffer): void {
  if (counts[index] === 0) reached++;
  counts[index] = counts[index]! + 1;
  total++;
  lastFrameAt = performance.now();
  if (latencies) {
    const at = data.indexOf(T_KEY);
    if (at >= 0) {
      const sentAt = parseFloat(data.subarray(at + T_KEY.length, at + T_KEY.length + 24).toString("latin1"));
      latencies.record(Math.max(1, Math.round((lastFrameAt + clockOffset - sentAt) * 1000)));
    }
  }
}

/** Socket `index` carries subscribers index * perSocket ..., one operation each, with ids "0", "1", ... */
function openWebSocket(index: number, url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, "graphql-transport-ws", { perMessageDeflate: false, localAddress });
    closers.push(() => socket.terminate());
    socket.once("error", reject);
    socket.once("open", () => socket.send('{"type":"connection_init"}'));
    let acknowledged = false;
    const first = index * perSocket;
    socket.on("message", (data: Buffer) => {
      const next = data.indexOf(NEXT_WS);
      // `{"id":"<digit>",...`: the operation's id is the byte after `{"id":"`.
      if (next >= 0 && next < 32) return onFrame(perSocket === 1 ? first : first + data[7]! - 48, data);
      if (!acknowledged && data.includes("connection_ack")) {
        acknowledged = true;
        for (let op = 0; op < perSocket && first + op < counts.length; op++) {
          const variables = filterOf(first + op);
          socket.send(JSON.stringify({ id: String(op), type: "subscribe", payload: { query: SUBSCRIPTION, variables } }));
        }
        resolve();
        return;
      }
      others++;
      if (others <= 3) console.error(`load: unexpected frame ${data.toString().slice(0, 300)}`);
    });
  });
}

function openEventStream(index: number, url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const variables = filterOf(index);
    const req: ClientRequest = httpRequest(url, {
      method: "POST",
      agent: false,
      localAddress,
      headers: { "content-type": "application/json", accept: "text/event-stream" },
    });
    closers.push(() => req.destroy());
    req.once("error", reject);
    req.once("response", (res) => {
      if (res.statusCode !== 200) return reject(new Error(`SSE subscribe answered ${res.statusCode}`));
      resolve();
      // A marker split across two chunks is found in the carried tail of the previous one.
      let tail: Buffer = Buffer.alloc(0);
      res.on("data", (chunk: Buffer) => {
        const data = tail.length > 0 ? Buffer.concat([tail, chunk]) : chunk;
        let from = 0;
        for (;;) {
          const at = data.indexOf(NEXT_SSE, from);
          if (at < 0) break;
          onFrame(index, data);
          from = at + NEXT_SSE.length;
        }
        tail = data.subarray(Math.max(from, data.length - NEXT_SSE.length + 1));
      });
    });
    req.end(JSON.stringify({ query: SUBSCRIPTION, variables }));
  });
}

/**
 * Posts one capture body. A keep-alive connection the server closed while idle (a long drain outlasts its 5 s
 * keep-alive) fails before the request is sent: that one failure is retried on a new connection.
 */
async function publish(inputs: readonly CaptureInput[], retried = false, url = baseUrl): Promise<void> {
  const response = await fetch(`${url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: captureEventsBody(inputs),
  }).catch((error: Error) => {
    if (!retried && (error.cause as NodeJS.ErrnoException | undefined)?.code === "ECONNRESET") return null;
    throw new Error(`capture to ${url} failed: ${String((error.cause as Error | undefined)?.message ?? error.message)}`);
  });
  if (response === null) return publish(inputs, true, url);
  const text = await response.text();
  if (!response.ok || text.includes('"errors"')) throw new Error(`capture failed: ${response.status} ${text.slice(0, 300)}`);
}

/** Subscriber i's variables: its filter, if any. */
function filterOf(i: number): Record<string, unknown> {
  if (matching !== undefined) return { filter: matchingFilter(i, matching) };
  return filtered ? { filter: distinctFilter(i) } : {};
}

/** How many subscribers event n reaches. */
function reach(n: number, count: number): number {
  if (matching !== undefined) return matchingCount(count, matching);
  if (!filtered) return count;
  const bucket = n % BUCKETS;
  return Math.floor(count / BUCKETS) + (bucket < count % BUCKETS ? 1 : 0);
}

/** Captures a fan-out round keeps in flight at once. */
const PUBLISHES_IN_FLIGHT = 4;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `total` reaches `expected`, or until nothing arrived for `idleMs`. */
async function drain(expected: number, idleMs = 10_000): Promise<void> {
  let seen = total;
  let since = performance.now();
  while (total < expected) {
    await sleep(2);
    if (total !== seen) {
      seen = total;
      since = performance.now();
    } else if (performance.now() - since > idleMs) {
      return;
    }
  }
}

async function quiesce(): Promise<void> {
  let seen = -1;
  while (seen !== total) {
    seen = total;
    await sleep(300);
  }
}

/**
 * Captures `events` page views on `url` in batches of `batch`, PUBLISHES_IN_FLIGHT at once, each stamped with the
 * wall-clock time its batch was sent (the fleet scenario: the subscribers that time them are in other processes).
 * Resolves with when the first was sent and the last acknowledged (wall clock).
 */
async function publishStamped(url: string, events: number, batch: number): Promise<{ startedAt: number; endedAt: number }> {
  const startedAt = wallNow();
  const inFlight = new Set<Promise<void>>();
  for (let sent = 0; sent < events; sent += batch) {
    const t = wallNow();
    const inputs: CaptureInput[] = [];
    for (let i = 0; i < Math.min(batch, events - sent); i++) inputs.push(pageview(eventNumber, eventNumber++ % BUCKETS, t));
    const sending: Promise<void> = publish(inputs, false, url).finally(() => inFlight.delete(sending));
    inFlight.add(sending);
    if (inFlight.size >= PUBLISHES_IN_FLIGHT) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  return { startedAt, endedAt: wallNow() };
}

/** What `watchStart` began: frames counted from `before`. */
let watching: { before: number } | null = null;

serveRequests(
  {},
  {
    /** Opens `count` subscribers (200 handshakes at a time), then publishes until every one has received a frame. */
    async connect(r) {
      const { transport, count } = r as unknown as ConnectRequest;
      ({ baseUrl, filtered, matching, localAddress } = r as unknown as ConnectRequest);
      perSocket = transport === "ws" ? Math.min(10, (r as unknown as ConnectRequest).perSocket ?? 1) : 1;
      counts = new Uint32Array(count);
      const url = transport === "ws" ? `${baseUrl.replace(/^http/, "ws")}/graphql` : `${baseUrl}/graphql/stream`;
      const open = transport === "ws" ? openWebSocket : openEventStream;
      const started = performance.now();
      const sockets = Math.ceil(count / perSocket);
      for (let from = 0; from < sockets; from += 200) {
        const opening: Promise<void>[] = [];
        for (let i = from; i < Math.min(sockets, from + 200); i++) opening.push(open(i, url));
        await Promise.all(opening);
      }
      const deadline = performance.now() + 120_000;
      while (reached < count) {
        if (performance.now() > deadline) throw new Error(`only ${reached} of ${count} subscribers received a frame within 120 s`);
        const probe =
          matching !== undefined
            ? [pageview(eventNumber++, MATCHING_BUCKET), pageview(eventNumber++, MATCHING_BUCKET + 1)]
            : filtered
              ? Array.from({ length: BUCKETS }, (_, b) => pageview(eventNumber++, b))
              : [pageview(eventNumber++)];
        await publish(probe);
        await sleep(200);
      }
      await quiesce();
      return { connected: count, ms: Math.round(performance.now() - started), unexpected: others };
    },

    /**
     * `rounds` times: publish events in batches of `batch` (each awaited), and wait for every expected frame.
     * Deliveries/s = frames / (first capture sent → last frame received). The first round (`firstEvents` events)
     * of the first request is a warm-up that also sizes every later round to last about `roundSeconds` on this
     * server, so a slow server does not stretch the run and a fast one is not measured on a blip. A round that loses
     * frames says so.
     */
    async fanout(r) {
      const { rounds, firstEvents, roundSeconds, batch } = r as unknown as {
        rounds: number;
        firstEvents: number;
        roundSeconds: number;
        batch: number;
      };
      const results: { deliveriesPerSecond: number; expected: number; received: number; events: number }[] = [];
      const perEvent = reach(0, counts.length);
      const sizing = roundEvents === 0;
      let events = sizing ? firstEvents : roundEvents;
      for (let round = 0; round < rounds; round++) {
        await quiesce();
        const before = total;
        let expected = 0;
        const started = performance.now();
        // A few captures in flight, so the server always has the next one while it delivers the last.
        const inFlight = new Set<Promise<void>>();
        for (let sent = 0; sent < events; sent += batch) {
          const inputs: CaptureInput[] = [];
          for (let i = 0; i < Math.min(batch, events - sent); i++) {
            expected += reach(eventNumber, counts.length);
            inputs.push(matching !== undefined ? pageview(eventNumber++, MATCHING_BUCKET) : pageview(eventNumber++));
          }
          const sending: Promise<void> = publish(inputs).finally(() => inFlight.delete(sending));
          inFlight.add(sending);
          if (inFlight.size >= PUBLISHES_IN_FLIGHT) await Promise.race(inFlight);
        }
        await Promise.all(inFlight);
        await drain(before + expected);
        const received = total - before;
        const deliveriesPerSecond = received / ((lastFrameAt - started) / 1000);
        results.push({ deliveriesPerSecond, expected, received, events });
        if (sizing && round === 0) {
          events = roundEvents = Math.min(
            20_000,
            Math.max(batch, Math.ceil((deliveriesPerSecond * roundSeconds) / perEvent / batch) * batch),
          );
        }
      }
      return results;
    },

    /**
     * Publishes `rate` events/s (a batch every 10 ms) for `seconds`, each stamped with its send time, and measures
     * send → receipt for every frame. Loss = frames expected but never received.
     */
    async latency(r) {
      const { rate, seconds } = r as unknown as { rate: number; seconds: number };
      await quiesce();
      latencies = createHistogram();
      const before = total;
      let expected = 0;
      const perTick = Math.max(1, Math.round(rate / 100));
      const ticks = Math.round((seconds * rate) / perTick);
      const started = performance.now();
      const sends: Promise<void>[] = [];
      for (let tick = 0; tick < ticks; tick++) {
        const due = started + (tick * perTick * 1000) / rate;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        const inputs: CaptureInput[] = [];
        for (let i = 0; i < perTick; i++) {
          expected += reach(eventNumber, counts.length);
          inputs.push(pageview(eventNumber, eventNumber % BUCKETS, performance.now()));
          eventNumber++;
        }
        sends.push(publish(inputs));
      }
      await Promise.all(sends);
      await drain(before + expected);
      const histogram = latencies;
      latencies = null;
      return {
        p50Ms: histogram.percentile(50) / 1000,
        p99Ms: histogram.percentile(99) / 1000,
        maxMs: histogram.max / 1000,
        expected,
        received: total - before,
        unexpected: others,
      };
    },

    /**
     * The fleet scenario's receiving side: from now, count this process's frames and time each by the wall-clock
     * stamp it carries (whichever process captured it). Ended by `watchEnd`.
     */
    async watchStart() {
      await quiesce();
      watching = { before: total };
      latencies = createHistogram();
      clockOffset = performance.timeOrigin;
      return {};
    },

    /**
     * Waits for `events` events to reach every subscriber of this process (unfiltered), then reports how many frames
     * came, when the last did (wall clock) and capture → delivery percentiles of the stamped ones.
     */
    async watchEnd(r) {
      if (!watching) throw new Error("watchEnd without watchStart");
      const expected = (r["events"] as number) * counts.length;
      await drain(watching.before + expected);
      const histogram = latencies!;
      const received = total - watching.before;
      watching = null;
      latencies = null;
      clockOffset = 0;
      return {
        expected,
        received,
        lastFrameAt: performance.timeOrigin + lastFrameAt,
        p50Ms: histogram.count > 0 ? histogram.percentile(50) / 1000 : NaN,
        p99Ms: histogram.count > 0 ? histogram.percentile(99) / 1000 : NaN,
      };
    },

    /** Captures `events` stamped events on `url` (default: this process's server), see publishStamped. */
    publishBurst(r) {
      return publishStamped((r["url"] as string | undefined) ?? baseUrl, r["events"] as number, r["batch"] as number);
    },

    /** Captures `rate` stamped events/s on `url` for `seconds`, one batch every 10 ms, each capture not awaited. */
    async publishSteady(r) {
      const { rate, seconds } = r as unknown as { rate: number; seconds: number };
      const url = (r["url"] as string | undefined) ?? baseUrl;
      const perTick = Math.max(1, Math.round(rate / 100));
      const ticks = Math.round((seconds * rate) / perTick);
      const started = performance.now();
      const startedAt = wallNow();
      const sends: Promise<void>[] = [];
      for (let tick = 0; tick < ticks; tick++) {
        const wait = started + (tick * perTick * 1000) / rate - performance.now();
        if (wait > 0) await sleep(wait);
        const t = wallNow();
        const inputs = Array.from({ length: perTick }, () => pageview(eventNumber, eventNumber++ % BUCKETS, t));
        sends.push(publish(inputs, false, url));
      }
      await Promise.all(sends);
      return { startedAt, endedAt: wallNow(), events: ticks * perTick };
    },
  },
  () => {
    for (const close of closers) close();
  },
);

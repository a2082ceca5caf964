import { request as httpRequest, type ClientRequest } from "node:http";
import WebSocket from "ws";
import { serveRequests } from "../lib/serve.ts";
import { captureEventsBody, EVENT_SELECTION, pageview, type CaptureInput } from "../lib/workload.ts";

/**
 * The soak's load (bench/scenarios/soak.ts): steady captures and subscribers that come and go, checking that nothing
 * is lost. Every event carries `seq`, its position in capture order (captures are sent one at a time, so capture
 * order is seq order). A subscriber filters on `bucket` (seq % BUCKETS) or takes every event, so it knows the seq
 * its next event must have; it remembers the cursor of the last one received and, when it comes back with
 * `after: cursor`, must get exactly the next seq: a larger one is a gap, a smaller or equal one a duplicate.
 *
 * Churn, a few subscribers every 100 ms, in turn: resubscribe on the same socket with `after` (WebSocket; SSE
 * reconnects instead), disconnect and come back with `after` after a pause of up to 2 s, or leave for good while a
 * new subscriber (no `after`) takes its place.
 */
const BUCKETS = 10;
/** The fan-out scenarios' subscription, with `after`. */
const SUBSCRIPTION = `subscription ($filter: EventFilter, $after: String) { events(filter: $filter, after: $after) { ${EVENT_SELECTION} } }`;
/** One subscriber in this many takes every event; the others one bucket in BUCKETS. */
const UNFILTERED_EVERY = 20;

interface StartRequest {
  baseUrl: string;
  ws: number;
  sse: number;
  /** Events per second captured. */
  rate: number;
  /** Subscribers churned per second. */
  churn: number;
  /** Events captured before the subscribers connect (fills the buffer, so its growth is not read as a leak). */
  prefill: number;
}

interface Subscriber {
  readonly index: number;
  readonly transport: "ws" | "sse";
  /** null: every event. */
  readonly bucket: number | null;
  lastSeq: number;
  lastCursor: string | null;
  /** The current operation's id (WebSocket), or a counter of this subscriber's streams (SSE). */
  op: number;
  socket?: WebSocket;
  stream?: ClientRequest;
  /** Frames of a stream the subscriber has left are not counted. */
  active: boolean;
  /** Between a disconnect and its reconnect: not churned again meanwhile (that would leave a connection open). */
  busy: boolean;
  /** What happened to it last (reported with the first gaps or duplicates). */
  last: string;
}

const stats = {
  captured: 0,
  deliveries: 0,
  resubscribes: 0,
  reconnects: 0,
  replaced: 0,
  /** Events missing between two received ones (or after a cursor resumed from). */
  gaps: 0,
  /** Events received twice or out of order. */
  duplicates: 0,
  /** Payloads marked `extensions.gap` (the cursor was older than the buffer). */
  gapMarked: 0,
  lagged: 0,
  /** Events a subscriber still lacked when the run ended and everything had quiesced. */
  tailMissing: 0,
  errors: 0,
};

let baseUrl = "";
let seq = 0;
let nextIndex = 0;
let lastFrameAt = 0;
const subscribers = new Set<Subscriber>();
const timers: NodeJS.Timeout[] = [];
const pending = new Set<Promise<unknown>>();
let capturing: Promise<void> = Promise.resolve();
let running = false;

const SEQ = Buffer.from('"seq":');
const CURSOR = Buffer.from('"cursor":"');

function track<T>(promise: Promise<T>): void {
  const tracked = promise.catch((error: Error) => {
    stats.errors++;
    if (stats.errors <= 5) console.error(`churn: ${error.message}`);
  });
  pending.add(tracked);
  void tracked.finally(() => pending.delete(tracked));
}

/** A payload's seq and cursor, read without parsing the frame. */
function onPayload(sub: Subscriber, data: Buffer): void {
  const at = data.indexOf(SEQ);
  const c = data.indexOf(CURSOR);
  if (at < 0 || c < 0) {
    onOther(sub, data);
    return;
  }
  stats.deliveries++;
  lastFrameAt = performance.now();
  const value = parseInt(data.toString("latin1", at + SEQ.length, at + SEQ.length + 16), 10);
  const start = c + CURSOR.length;
  const cursor = data.toString("latin1", start, data.indexOf(0x22, start));
  if (data.includes('"gap":true')) stats.gapMarked++;
  if (sub.lastSeq >= 0) {
    const expected = sub.lastSeq + (sub.bucket === null ? 1 : BUCKETS);
    if (value !== expected && stats.gaps + stats.duplicates < 5) {
      console.error(
        `churn: ${sub.transport} subscriber ${sub.index} (bucket ${sub.bucket}, ${sub.last}) expected seq ${expected}, got ${value}`,
      );
    }
    if (value < expected) {
      stats.duplicates++;
      return;
    }
    if (value > expected) stats.gaps += (value - expected) / (sub.bucket === null ? 1 : BUCKETS);
  }
  sub.lastSeq = value;
  sub.lastCursor = cursor;
}

function onOther(sub: Subscriber, data: Buffer): void {
  const text = data.toString();
  if (text.includes("LAGGED")) {
    stats.lagged++;
    // The subscription is over; come back after the last event received, as a client does.
    track(reconnect(sub, 0));
    return;
  }
  if (text.includes('"type":"complete"') || text.includes("event: complete") || text.includes("connection_ack")) return;
  stats.errors++;
  if (stats.errors <= 5) console.error(`churn: unexpected frame ${text.slice(0, 300)}`);
}

function variables(sub: Subscriber, resume: boolean): Record<string, unknown> {
  const v: Record<string, unknown> = {};
  if (sub.bucket !== null) v["filter"] = { properties: [{ property: "bucket", operator: "EQUALS", value: sub.bucket }] };
  if (resume && sub.lastCursor !== null) v["after"] = sub.lastCursor;
  return v;
}

function subscribeWs(sub: Subscriber, resume: boolean): void {
  if (!resume || sub.lastCursor === null) sub.lastSeq = -1;
  sub.op++;
  const payload = { query: SUBSCRIPTION, variables: variables(sub, resume) };
  sub.socket!.send(JSON.stringify({ id: String(sub.op), type: "subscribe", payload }));
}

function openWs(sub: Subscriber, resume: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${baseUrl.replace(/^http/, "ws")}/graphql`, "graphql-transport-ws", { perMessageDeflate: false });
    sub.socket = socket;
    socket.once("error", reject);
    socket.once("open", () => socket.send('{"type":"connection_init"}'));
    socket.on("message", (data: Buffer) => {
      if (!sub.active || socket !== sub.socket) return;
      if (data.includes("connection_ack") && data.length < 64) {
        subscribeWs(sub, resume);
        resolve();
        return;
      }
      // `{"id":"<op>",...`: frames of an operation this subscriber completed are not counted.
      const id = `{"id":"${sub.op}"`;
      if (data.toString("latin1", 0, id.length) !== id) return;
      if (data.includes('"type":"next"')) onPayload(sub, data);
      else onOther(sub, data);
    });
  });
}

function openSse(sub: Subscriber, resume: boolean): Promise<void> {
  if (!resume || sub.lastCursor === null) sub.lastSeq = -1;
  const stream = ++sub.op;
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${baseUrl}/graphql/stream`, {
      method: "POST",
      agent: false,
      headers: { "content-type": "application/json", accept: "text/event-stream" },
    });
    sub.stream = req;
    req.once("error", (error) => (sub.op === stream ? reject(error) : resolve()));
    req.once("response", (res) => {
      if (res.statusCode !== 200) return reject(new Error(`SSE subscribe answered ${res.statusCode}`));
      resolve();
      // Destroying the request to leave ends its response with an error: expected, not a failure.
      res.on("error", () => {});
      let buffered = "";
      res.on("data", (chunk: Buffer) => {
        if (!sub.active || sub.op !== stream) return;
        buffered += chunk.toString();
        for (let end = buffered.indexOf("\n\n"); end >= 0; end = buffered.indexOf("\n\n")) {
          const message = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          if (message.startsWith("event: next")) onPayload(sub, Buffer.from(message));
          else if (message.trim() !== "" && !message.startsWith(":")) onOther(sub, Buffer.from(message));
        }
      });
    });
    req.end(JSON.stringify({ query: SUBSCRIPTION, variables: variables(sub, resume) }));
  });
}

function open(sub: Subscriber, resume: boolean): Promise<void> {
  return sub.transport === "ws" ? openWs(sub, resume) : openSse(sub, resume);
}

function close(sub: Subscriber): void {
  sub.socket?.terminate();
  sub.stream?.destroy();
  sub.socket = undefined;
  sub.stream = undefined;
}

async function reconnect(sub: Subscriber, pauseMs: number): Promise<void> {
  if (sub.busy) return;
  sub.busy = true;
  close(sub);
  stats.reconnects++;
  sub.last = `reconnected after ${sub.lastCursor}`;
  try {
    if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
    if (!running) return;
    await open(sub, true);
  } finally {
    sub.busy = false;
  }
}

function addSubscriber(transport: "ws" | "sse"): Promise<void> {
  const index = nextIndex++;
  const sub: Subscriber = {
    index,
    transport,
    bucket: index % UNFILTERED_EVERY === 0 ? null : index % BUCKETS,
    lastSeq: -1,
    lastCursor: null,
    op: 0,
    active: true,
    busy: true,
    last: "new",
  };
  subscribers.add(sub);
  return open(sub, false).finally(() => (sub.busy = false));
}

function churnOne(): void {
  const all = [...subscribers];
  const sub = all[Math.floor(Math.random() * all.length)];
  if (!sub || sub.busy) return;
  const roll = Math.random();
  if (roll < 0.4 && sub.transport === "ws" && sub.socket?.readyState === WebSocket.OPEN) {
    stats.resubscribes++;
    sub.last = `resubscribed after ${sub.lastCursor}`;
    sub.socket.send(JSON.stringify({ id: String(sub.op), type: "complete" }));
    subscribeWs(sub, true);
  } else if (roll < 0.8) {
    track(reconnect(sub, Math.random() * 2_000));
  } else {
    stats.replaced++;
    sub.active = false;
    subscribers.delete(sub);
    close(sub);
    track(addSubscriber(sub.transport));
  }
}

function event(n: number): CaptureInput {
  const input = pageview(n, n % BUCKETS);
  return { ...input, properties: { ...input.properties, seq: n } };
}

async function capture(count: number): Promise<void> {
  const inputs = Array.from({ length: count }, () => event(seq++));
  const response = await fetch(`${baseUrl}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: captureEventsBody(inputs),
  });
  const text = await response.text();
  if (!response.ok || text.includes('"errors"')) throw new Error(`capture failed: ${response.status} ${text.slice(0, 300)}`);
  stats.captured += count;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

serveRequests(
  {},
  {
    /** Prefills the buffer, connects the subscribers, then captures and churns until `stop`. */
    async start(r) {
      const plan = r as unknown as StartRequest;
      baseUrl = plan.baseUrl;
      for (let done = 0; done < plan.prefill; done += 1_000) await capture(Math.min(1_000, plan.prefill - done));
      for (let i = 0; i < plan.ws + plan.sse; i += 100) {
        const opening: Promise<void>[] = [];
        for (let j = i; j < Math.min(plan.ws + plan.sse, i + 100); j++) opening.push(addSubscriber(j < plan.ws ? "ws" : "sse"));
        await Promise.all(opening);
      }
      running = true;
      // A tick every 100 ms: rate/10 events in one captureEvents (one at a time: capture order is seq order).
      let owed = 0;
      timers.push(
        setInterval(() => {
          owed += plan.rate / 10;
          const count = Math.floor(owed);
          owed -= count;
          if (count > 0) capturing = capturing.then(() => capture(count)).catch((error: Error) => void track(Promise.reject(error)));
        }, 100),
      );
      let churnOwed = 0;
      timers.push(
        setInterval(() => {
          churnOwed += plan.churn / 10;
          for (; churnOwed >= 1; churnOwed--) churnOne();
        }, 100),
      );
      return { subscribers: subscribers.size };
    },

    /** (Not `stop`: that request ends the process.) Stops capturing and churning, waits for every pending frame, and counts what each subscriber still lacks. */
    async finish() {
      for (const timer of timers) clearInterval(timer);
      // Subscribers away come back (pending reconnects finish) before what each lacks is counted.
      await capturing;
      while (pending.size > 0) await Promise.all(pending);
      const last = seq - 1;
      const lastOf = (bucket: number | null) => (bucket === null ? last : last - ((((last - bucket) % BUCKETS) + BUCKETS) % BUCKETS));
      const missing = (sub: Subscriber) => (sub.lastSeq < 0 ? 0 : (lastOf(sub.bucket) - sub.lastSeq) / (sub.bucket === null ? 1 : BUCKETS));
      const deadline = performance.now() + 15_000;
      while (performance.now() < deadline && ([...subscribers].some((s) => missing(s) > 0) || performance.now() - lastFrameAt < 500)) {
        await sleep(50);
      }
      for (const sub of subscribers) stats.tailMissing += Math.max(0, missing(sub));
      return { ...stats, subscribers: subscribers.size };
    },

    stats: () => ({ ...stats, subscribers: subscribers.size }),
  },
  () => {
    running = false;
    for (const timer of timers) clearInterval(timer);
    for (const sub of subscribers) close(sub);
  },
);

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { startChild, stopAll, type Child } from "../lib/child.ts";
import { COMPILED_DIST, compileSources } from "../lib/compile.ts";
import { freePort } from "../lib/ports.ts";
import { median } from "../lib/stats.ts";
import { captureEventsBody, pageview, type CaptureInput } from "../lib/workload.ts";
import { round, type Mode } from "./types.ts";

/**
 * Cost curves (`npm run bench -- --curves`): how Pulse's cost grows with the work, as absolute figures of one
 * invocation (points of one curve run side by side, alternating, where they can). bench/tools/charts.ts draws them
 * from the JSON this writes to bench/results/curves.json; the capacity model in bench/README.md is computed from it.
 */

/** One curve: a chart and a table. */
export interface Curve {
  readonly id: string;
  readonly title: string;
  readonly x: { readonly label: string; readonly unit: string; readonly log?: boolean };
  readonly y: { readonly label: string; readonly unit: string };
  readonly series: readonly { readonly name: string; readonly points: readonly { readonly x: number; readonly y: number }[] }[];
  /** How it was measured, what it includes (settings raised, deviations). */
  readonly note: string;
}

/** The figures the capacity model is computed from (each also on a curve). */
export interface CapacityInputs {
  /** CPU µs of the Pulse process per delivery (one subscription per socket, largest socket count measured). */
  readonly cpuMicrosPerDelivery: number;
  /** CPU µs per captured event (captureEvents, batches of 100), at 100,000 known persons. */
  readonly cpuMicrosPerEvent: number;
  /** RSS per idle subscription at the largest count of one subscription per socket, bytes. */
  readonly bytesPerSubscriber: number;
  /** RSS per buffered event (restored buffer of the largest size), bytes. */
  readonly bytesPerBufferedEvent: number;
  /** RSS per known person, bytes (the persons curve's slope between its two largest points). */
  readonly bytesPerPerson: number;
  /** RSS of a started Pulse with nothing in it, bytes. */
  readonly baseRssBytes: number;
}

export interface CurvesReport {
  readonly mode: Mode;
  readonly date: string;
  readonly seconds: number;
  readonly machine: {
    readonly cpus: number;
    readonly model: string;
    readonly node: string;
    readonly loadBefore: number[];
    readonly loadAfter: number[];
  };
  readonly curves: readonly Curve[];
  readonly capacity: CapacityInputs;
  /** Groups measured again after the run above (`--curves=<groups>`), when and under what load. */
  readonly rerun?: readonly string[];
}

const SMOKE = { subscribers: [20, 50], perSocket: 5, share: 40, persons: [100, 1_000], buffered: [100, 1_000] };
const SIZES = {
  /**
   * One subscription per socket. 50,000 sockets do not fit here: the hard limit on open files is 20,000 per process
   * on this machine (`ulimit -Hn`, and raising it needs CAP_SYS_RESOURCE), so a Pulse process cannot hold more than
   * ~19,900 sockets; the 50,000 point is 50,000 subscriptions over 10,000 sockets (5 per socket, as a page with a few
   * live views has), beside 5,000 over 1,000.
   */
  subscribers: [1_000, 10_000, 18_000],
  perSocket: 5,
  share: 10_000,
  persons: [100, 10_000, 100_000, 1_000_000],
  buffered: [10_000, 100_000, 1_000_000],
};
const SHARES = [0.01, 0.1, 0.5, 1];
const ROUNDS: Record<Mode, number> = { full: 5, quick: 3, smoke: 1 };
const ROUND_SECONDS: Record<Mode, number> = { full: 3, quick: 0.7, smoke: 0.05 };

/** The curves in groups, each measured by its own code; `--curves=persons,restore` re-runs some and keeps the others. */
export const CURVE_GROUPS = ["subscribers", "share", "persons", "restore"] as const;
export type CurveGroup = (typeof CURVE_GROUPS)[number];

/**
 * Runs the curve groups in `groups` (all by default). With `previous` (the last curves.json), the curves and capacity
 * figures of the groups not run are kept from it, and the report says which groups this run measured.
 */
export async function runCurves(
  mode: Mode,
  log: (line: string) => void = console.error,
  groups: readonly CurveGroup[] = CURVE_GROUPS,
  previous?: CurvesReport,
): Promise<CurvesReport> {
  const started = Date.now();
  const loadBefore = loadavg().map((l) => round(l, 2));
  const smoke = mode === "smoke";
  const curves: Curve[] = [];
  const capacity: { -readonly [K in keyof CapacityInputs]?: CapacityInputs[K] } = {};

  if (groups.includes("subscribers")) {
    log("[curves] deliveries and idle memory by subscribers...");
    const single = (smoke ? SMOKE.subscribers : SIZES.subscribers).map((n) => ({ key: `single-${n}`, subscribers: n, perSocket: 1 }));
    const multiSockets = smoke ? [10] : [1_000, 10_000];
    const perSocket = smoke ? SMOKE.perSocket : SIZES.perSocket;
    const multi = multiSockets.map((sockets) => ({ key: `multi-${sockets}`, subscribers: sockets * perSocket, perSocket }));
    const bySubscribers = await fanoutPoints([...single, ...multi], mode, log);
    const seriesOf = (points: readonly FanoutPointPlan[], metric: (m: FanoutMeasure) => number) =>
      points.map((p) => ({ x: p.subscribers, y: metric(bySubscribers.get(p.key)!) }));
    const singleName = "one subscription per socket";
    const multiName = `${perSocket} subscriptions per socket`;
    curves.push(
      {
        id: "deliveries-by-subscribers",
        title: "Fan-out: deliveries/s by subscribers (WebSocket, no filter)",
        x: { label: "subscribers", unit: "", log: true },
        y: { label: "deliveries/s", unit: "deliveries/s" },
        series: [
          { name: singleName, points: seriesOf(single, (m) => m.rate) },
          { name: multiName, points: seriesOf(multi, (m) => m.rate) },
        ],
        note:
          "Median of the rounds, points alternating round by round (each its own Pulse and load process, all up at once). " +
          "50,000 sockets exceed this machine's 20,000 open files per process, so 50,000 subscribers are 5 per socket over 10,000 sockets.",
      },
      {
        id: "cpu-per-delivery-by-subscribers",
        title: "Fan-out: Pulse CPU per delivery by subscribers",
        x: { label: "subscribers", unit: "", log: true },
        y: { label: "CPU µs per delivery", unit: "µs" },
        series: [
          { name: singleName, points: seriesOf(single, (m) => m.cpuMicrosPerDelivery) },
          { name: multiName, points: seriesOf(multi, (m) => m.cpuMicrosPerDelivery) },
        ],
        note: "The Pulse process's CPU time (user + system, all its threads) over the measured rounds, divided by the deliveries; includes capturing the events.",
      },
      {
        id: "idle-memory-by-subscribers",
        title: "Memory per idle subscription by subscribers",
        x: { label: "subscribers", unit: "", log: true },
        y: { label: "RSS per subscription", unit: "KB" },
        series: [
          { name: singleName, points: seriesOf(single, (m) => m.idleBytesPerSubscriber / 1024) },
          { name: multiName, points: seriesOf(multi, (m) => m.idleBytesPerSubscriber / 1024) },
        ],
        note: "Server RSS after a full GC with every subscription connected and idle, minus before any, per subscription (as memory_idle_10k).",
      },
    );
    const largestSingle = bySubscribers.get(single.at(-1)!.key)!;
    capacity.cpuMicrosPerDelivery = round(largestSingle.cpuMicrosPerDelivery, 3);
    capacity.bytesPerSubscriber = Math.round(largestSingle.idleBytesPerSubscriber);
  }

  if (groups.includes("share")) {
    log("[curves] filtered fan-out by matching share...");
    const shareCount = smoke ? SMOKE.share : SIZES.share;
    const byShare = await fanoutPoints(
      SHARES.map((share) => ({ key: `share-${share}`, subscribers: shareCount, perSocket: 1, matching: share })),
      mode,
      log,
    );
    curves.push(
      {
        id: "deliveries-by-share",
        title: `Filtered fan-out: deliveries/s by share of matching subscribers (${shareCount.toLocaleString("en-US")} subscribers)`,
        x: { label: "matching subscribers", unit: "%", log: true },
        y: { label: "deliveries/s", unit: "deliveries/s" },
        series: [{ name: "deliveries/s", points: SHARES.map((share) => ({ x: share * 100, y: byShare.get(`share-${share}`)!.rate })) }],
        note:
          "Every subscriber has a distinct filter (`bucket EQUALS 0|1` and `tag NOT_EQUALS s<i>`); every event has bucket 0, so the " +
          "share with bucket 0 receives each event. The index finds the matching ones; the others cost nothing per event.",
      },
      {
        id: "cpu-per-delivery-by-share",
        title: `Filtered fan-out: Pulse CPU per delivery by share of matching subscribers`,
        x: { label: "matching subscribers", unit: "%", log: true },
        y: { label: "CPU µs per delivery", unit: "µs" },
        series: [
          {
            name: "CPU per delivery",
            points: SHARES.map((share) => ({ x: share * 100, y: byShare.get(`share-${share}`)!.cpuMicrosPerDelivery })),
          },
        ],
        note: "As above: Pulse's CPU over the rounds divided by the deliveries, capture of the events included (it weighs most at 1 %).",
      },
    );
  }

  if (groups.includes("persons")) {
    log("[curves] capture cost by known persons...");
    const capture = await captureByPersons(smoke ? SMOKE.persons : SIZES.persons, mode, log);
    curves.push(
      {
        id: "capture-by-persons",
        title: "Capture: events/s by known persons (captureEvents, batches of 100)",
        x: { label: "persons known", unit: "", log: true },
        y: { label: "events/s", unit: "events/s" },
        series: [{ name: "events/s", points: capture.map((c) => ({ x: c.persons, y: c.eventsPerSecond })) }],
        note:
          "Each point its own Pulse with PULSE_PERSONS_MAX raised to 2,000,000 (default 100,000) and its persons captured first; 10 " +
          "connections send bodies of 100 events whose distinctIds are drawn from the known persons, runs alternating between the points. " +
          "Measured once each Pulse is idle after its fill (the snapshots of the persons the fill touched written).",
      },
      {
        id: "capture-cpu-by-persons",
        title: "Capture: Pulse CPU per event by known persons",
        x: { label: "persons known", unit: "", log: true },
        y: { label: "CPU µs per event", unit: "µs" },
        series: [{ name: "CPU per event", points: capture.map((c) => ({ x: c.persons, y: c.cpuMicrosPerEvent })) }],
        note: "The Pulse process's CPU time over the runs divided by the events accepted.",
      },
    );
    const [p2, p3] = [capture.at(-2)!, capture.at(-1)!];
    // At the default PULSE_PERSONS_MAX (100,000) where measured, else the middle point.
    const atDefault = capture.find((c) => c.persons === 100_000) ?? capture[Math.floor(capture.length / 2)]!;
    capacity.cpuMicrosPerEvent = round(atDefault.cpuMicrosPerEvent, 2);
    capacity.bytesPerPerson = Math.round((p3.rssAfterFill - p2.rssAfterFill) / (p3.persons - p2.persons));
  }

  if (groups.includes("restore")) {
    log("[curves] restore by buffered events...");
    const restores: RestorePoint[] = [];
    for (const events of smoke ? SMOKE.buffered : SIZES.buffered) {
      restores.push(await restorePoint(events, mode));
      log(`[curves]   ${events} buffered: ${JSON.stringify(restores.at(-1))}`);
    }
    const empty = await emptyStart();
    curves.push(
      {
        id: "restore-by-buffered",
        title: "Restore: start to ready by buffered events (SQLite)",
        x: { label: "buffered events", unit: "", log: true },
        y: { label: "start → /readyz", unit: "s" },
        series: [{ name: "start → ready", points: restores.map((r) => ({ x: r.events, y: r.readyMs / 1000 })) }],
        note:
          "`node dist/main.js` with PULSE_BUFFER_SIZE = the point, filled through captureEvents (batches of 1,000), stopped with SIGTERM " +
          "(final snapshot), started again on the same file: spawn → first 200 of /readyz.",
      },
      {
        id: "snapshot-by-buffered",
        title: "Snapshot size by buffered events (SQLite)",
        x: { label: "buffered events", unit: "", log: true },
        y: { label: "database file", unit: "MB" },
        series: [{ name: "database + WAL", points: restores.map((r) => ({ x: r.events, y: r.snapshotBytes / 1e6 })) }],
        note: "Size of the SQLite file (and its WAL, if any) after the graceful stop.",
      },
      {
        id: "capture-by-buffered",
        title: "Capture while filling the buffer: events/s by buffered events",
        x: { label: "buffered events", unit: "", log: true },
        y: { label: "events/s", unit: "events/s" },
        series: [{ name: "last tenth of the fill", points: restores.map((r) => ({ x: r.events, y: r.fillEventsPerSecond })) }],
        note: "captureEvents batches of 1,000, two in flight, over the last tenth of the fill (when the buffer holds ~90–100 % of the point).",
      },
    );
    const largestRestore = restores.at(-1)!;
    capacity.bytesPerBufferedEvent = Math.round((largestRestore.rssBytes - empty.rssBytes) / largestRestore.events);
    capacity.baseRssBytes = empty.rssBytes;
  }

  const machine = {
    cpus: cpus().length,
    model: cpus()[0]?.model ?? "unknown",
    node: process.version,
    loadBefore,
    loadAfter: loadavg().map((l) => round(l, 2)),
  };
  const seconds = Math.round((Date.now() - started) / 1000);
  if (previous && groups.length < CURVE_GROUPS.length) {
    const rerun = `${groups.join(", ")} re-run ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC (${seconds} s, load average ${loadBefore[0]} before, ${machine.loadAfter[0]} after)`;
    return {
      ...previous,
      curves: previous.curves
        .map((c) => curves.find((n) => n.id === c.id) ?? c)
        .concat(curves.filter((n) => !previous.curves.some((c) => c.id === n.id))),
      capacity: { ...previous.capacity, ...capacity },
      rerun: [...(previous.rerun ?? []), rerun],
    };
  }
  return { mode, date: new Date().toISOString(), seconds, machine, curves, capacity: capacity as CapacityInputs };
}

// ---- fan-out points: deliveries/s, CPU per delivery, idle memory ----

interface FanoutPointPlan {
  readonly key: string;
  readonly subscribers: number;
  readonly perSocket: number;
  /** Share of subscribers matching every event (filtered); unset: no filter. */
  readonly matching?: number;
}

interface FanoutMeasure {
  rate: number;
  cpuMicrosPerDelivery: number;
  idleBytesPerSubscriber: number;
  lost: number;
}

/**
 * One Pulse and one load generator per point, all up at once (each load on a source address of its own, 127.0.0.2,
 * .3, ...: ephemeral ports are per source address). After a warm-up round each, measured rounds alternate between
 * the points, with the Pulse process's CPU time read around each round.
 */
async function fanoutPoints(
  plans: readonly FanoutPointPlan[],
  mode: Mode,
  log: (line: string) => void,
): Promise<Map<string, FanoutMeasure>> {
  // Tens of thousands of handshakes on a shared 2-core machine: one may wait longer than the 10 s Pulse gives a
  // client to send its headers (answered 408). The points are measured once connected, so give them a minute.
  const restore = withEnv({ PULSE_HTTP_HEADERS_TIMEOUT_MS: "60000", PULSE_HTTP_REQUEST_TIMEOUT_MS: "60000" });
  const children: Child[] = [];
  const points: { plan: FanoutPointPlan; target: Child; load: Child; measure: FanoutMeasure; rates: number[]; cpu: number[] }[] = [];
  try {
    for (const plan of plans) {
      const target = await startChild("servers/pulse.ts", [], { exposeGc: true });
      children.push(target);
      const load = await startChild("load/subscribers.ts");
      children.push(load);
      const measure = { rate: 0, cpuMicrosPerDelivery: 0, idleBytesPerSubscriber: 0, lost: 0 };
      points.push({ plan, target, load, measure, rates: [], cpu: [] });
    }
    // Every point connects at once: tens of thousands of handshakes one point after another took over 10 minutes
    // on this shared machine. Each server's memory is its own, so its figure is unaffected.
    await Promise.all(
      points.map(async ({ plan, target, load, measure }, i) => {
        const before = await target.request<NodeJS.MemoryUsage>("memory");
        const connected = performance.now();
        const connect = {
          transport: "ws",
          baseUrl: `http://127.0.0.1:${target.ready["port"] as number}`,
          count: plan.subscribers,
          filtered: false,
          matching: plan.matching,
          perSocket: plan.perSocket,
          localAddress: `127.0.0.${2 + i}`,
        };
        await load.request("connect", connect, 1_200_000);
        const after = await target.request<NodeJS.MemoryUsage>("memory");
        log(`[curves]   ${plan.key}: connected in ${((performance.now() - connected) / 1000).toFixed(1)} s`);
        measure.idleBytesPerSubscriber = (after.rss - before.rss) / plan.subscribers;
      }),
    );
    const request = (plan: FanoutPointPlan) => ({
      rounds: 1,
      firstEvents: plan.subscribers / plan.perSocket >= 10_000 || plan.subscribers >= 10_000 ? 5 : 20,
      batch: plan.matching !== undefined && plan.matching < 0.5 ? (plan.matching < 0.1 ? 100 : 20) : plan.subscribers >= 5_000 ? 5 : 10,
      roundSeconds: ROUND_SECONDS[mode],
    });
    for (const p of points) await p.load.request("fanout", request(p.plan));
    for (let r = 0; r < ROUNDS[mode]; r++) {
      for (const p of points) {
        const cpuBefore = await p.target.request<{ micros: number }>("cpu");
        const [measured] = await p.load.request<{ deliveriesPerSecond: number; expected: number; received: number }[]>(
          "fanout",
          request(p.plan),
        );
        const cpuAfter = await p.target.request<{ micros: number }>("cpu");
        p.rates.push(measured!.deliveriesPerSecond);
        p.cpu.push((cpuAfter.micros - cpuBefore.micros) / Math.max(1, measured!.received));
        p.measure.lost += measured!.expected - measured!.received;
      }
    }
    const out = new Map<string, FanoutMeasure>();
    for (const p of points) {
      p.measure.rate = round(median(p.rates), 0);
      p.measure.cpuMicrosPerDelivery = round(median(p.cpu), 3);
      p.measure.idleBytesPerSubscriber = Math.round(p.measure.idleBytesPerSubscriber);
      log(`[curves]   ${p.plan.key}: ${p.rates.map(Math.round).join(", ")} deliveries/s, ${JSON.stringify(p.measure)}`);
      if (p.measure.lost > 0) throw new Error(`${p.plan.key}: ${p.measure.lost} frames lost`);
      out.set(p.plan.key, p.measure);
    }
    return out;
  } finally {
    restore();
    await stopAll(...children);
  }
}

/** Sets environment variables for the children started next; returns what puts the previous values back. */
function withEnv(values: Record<string, string>): () => void {
  const saved = Object.fromEntries(Object.keys(values).map((key) => [key, process.env[key]]));
  Object.assign(process.env, values);
  return () => {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  };
}

// ---- capture cost by known persons ----

interface CaptureMeasure {
  persons: number;
  eventsPerSecond: number;
  cpuMicrosPerEvent: number;
  /** RSS after GC once the persons are captured. */
  rssAfterFill: number;
}

/** PULSE_PERSONS_MAX for the capture curve: above its largest point, so no person is dropped (default 100,000). */
const PERSONS_MAX = 2_000_000;

function personEvent(n: number): CaptureInput {
  return { ...pageview(n), distinctId: `person-${n}` };
}

/** Posts `total` events made by `make` in batches of `batch`, `inFlight` requests at once. */
async function captureAll(port: number, total: number, make: (n: number) => CaptureInput, batch = 1_000, inFlight = 2): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const from = next;
      next = Math.min(total, next + batch);
      const inputs = Array.from({ length: next - from }, (_, i) => make(from + i));
      const response = await fetch(`http://127.0.0.1:${port}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: captureEventsBody(inputs),
      });
      const text = await response.text();
      if (!response.ok || text.includes('"errors"')) throw new Error(`capture failed: ${response.status} ${text.slice(0, 300)}`);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
}

async function captureByPersons(persons: readonly number[], mode: Mode, log: (line: string) => void): Promise<CaptureMeasure[]> {
  const restore = withEnv({ PULSE_PERSONS_MAX: String(PERSONS_MAX) });
  const children: Child[] = [];
  try {
    const points: { persons: number; server: Child; url: string; bodies: string[]; rss: number; rates: number[]; cpu: number[] }[] = [];
    for (const count of persons) {
      const server = await startChild("servers/pulse.ts", [], { exposeGc: true });
      children.push(server);
      const port = server.ready["port"] as number;
      const t0 = performance.now();
      await captureAll(port, count, personEvent);
      // The snapshots of what the fill touched (every person once) are written in the background for a while
      // after it: wait until the process is idle, so the runs measure capture, not the fill's backlog.
      const settled = await settle(server);
      log(`[curves]   ${count} persons: idle ${settled.toFixed(0)} s after the fill`);
      const { rss } = await server.request<NodeJS.MemoryUsage>("memory");
      log(`[curves]   ${count} persons captured in ${((performance.now() - t0) / 1000).toFixed(1)} s, RSS ${(rss / 1e6).toFixed(0)} MB`);
      // 50 bodies of 100 events, their distinctIds drawn from the known persons (a fixed pseudo-random sequence).
      let seed = 12_345;
      const bodies = Array.from({ length: 50 }, (_, b) =>
        captureEventsBody(
          Array.from({ length: 100 }, (_, i) => {
            seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
            return { ...pageview(b * 100 + i), distinctId: `person-${seed % count}` };
          }),
        ),
      );
      points.push({ persons: count, server, url: `http://127.0.0.1:${port}/graphql`, bodies, rss, rates: [], cpu: [] });
    }
    const load = await startChild("load/http.ts");
    children.push(load);
    const seconds = mode === "full" ? 5 : mode === "quick" ? 2 : 1;
    for (const p of points) await load.request("run", { url: p.url, body: p.bodies[0], bodies: p.bodies, connections: 10, seconds: 1 });
    for (let r = 0; r < ROUNDS[mode]; r++) {
      for (const p of points) {
        const cpuBefore = await p.server.request<{ micros: number }>("cpu");
        const run = await load.request<{ requestsPerSecond: number; total: number }>("run", {
          url: p.url,
          body: p.bodies[0],
          bodies: p.bodies,
          connections: 10,
          seconds,
        });
        const cpuAfter = await p.server.request<{ micros: number }>("cpu");
        p.rates.push(run.requestsPerSecond * 100);
        p.cpu.push((cpuAfter.micros - cpuBefore.micros) / Math.max(1, run.total * 100));
      }
    }
    return points.map((p) => {
      log(`[curves]   ${p.persons} persons: ${p.rates.map(Math.round).join(", ")} events/s`);
      return {
        persons: p.persons,
        eventsPerSecond: round(median(p.rates), 0),
        cpuMicrosPerEvent: round(median(p.cpu), 2),
        rssAfterFill: p.rss,
      };
    });
  } finally {
    restore();
    await stopAll(...children);
  }
}

/** Waits until `server` uses under 5 % of a core over a second (at most 180 s); resolves with the seconds waited. */
async function settle(server: Child): Promise<number> {
  const started = performance.now();
  for (let before = await server.request<{ micros: number }>("cpu"); performance.now() - started < 180_000;) {
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const after = await server.request<{ micros: number }>("cpu");
    if (after.micros - before.micros < 50_000) break;
    before = after;
  }
  return (performance.now() - started) / 1000;
}

// ---- restore by buffered events ----

export interface RestorePoint {
  readonly events: number;
  /** spawn → first 200 of /readyz on the snapshot of `events` buffered events. */
  readonly readyMs: number;
  /** SIGTERM → exit (the final snapshot). */
  readonly stopMs: number;
  /** The SQLite file and its WAL after the graceful stop. */
  readonly snapshotBytes: number;
  /** RSS of the restored process once ready (VmRSS, no forced GC). */
  readonly rssBytes: number;
  /** captureEvents throughput over the last tenth of the fill. */
  readonly fillEventsPerSecond: number;
}

/**
 * The restore curve's measurement, written here so the curve runs today. The restore helper's persistence.ts
 * reports restore time and snapshot size at 10k/100k/1M too: once merged, this is the function to point at theirs
 * (same figures: spawn → /readyz after SIGTERM on a filled buffer, and the file's size).
 */
export async function restorePoint(events: number, mode: Mode): Promise<RestorePoint> {
  const dir = mkdtempSync(join(tmpdir(), "pulse-curves-"));
  const file = join(dir, "pulse.db");
  try {
    const port = await freePort();
    const filling = await startMain(file, port, events);
    const tenth = Math.max(1, Math.floor(events / 10));
    await captureAll(port, events - tenth, (n) => pageview(n));
    const t0 = performance.now();
    await captureAll(port, tenth, (n) => pageview(events - tenth + n));
    const fillEventsPerSecond = tenth / ((performance.now() - t0) / 1000);
    const stopped = performance.now();
    await filling.stop();
    const stopMs = performance.now() - stopped;
    const snapshotBytes = fileSize(file) + fileSize(`${file}-wal`);
    const runs = mode === "full" ? 3 : 1;
    const ready: number[] = [];
    let rssBytes = 0;
    for (let i = 0; i < runs; i++) {
      const restored = await startMain(file, port, events);
      ready.push(restored.readyMs);
      rssBytes = restored.rss();
      await restored.stop();
    }
    return {
      events,
      readyMs: Math.round(median(ready)),
      stopMs: Math.round(stopMs),
      snapshotBytes,
      rssBytes,
      fillEventsPerSecond: Math.round(fillEventsPerSecond),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** RSS of `npm start` on an empty database, once ready: the base of the capacity model's memory. */
async function emptyStart(): Promise<{ rssBytes: number }> {
  const dir = mkdtempSync(join(tmpdir(), "pulse-curves-"));
  try {
    const server = await startMain(join(dir, "pulse.db"), await freePort(), 10_000);
    const rssBytes = server.rss();
    await server.stop();
    return { rssBytes };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** `node dist/main.js` (this run's compile) on `file` with a buffer of `bufferSize`; resolves once /readyz answers 200. */
async function startMain(
  file: string,
  port: number,
  bufferSize: number,
): Promise<{ readyMs: number; rss(): number; stop(): Promise<void> }> {
  await compileSources();
  const started = performance.now();
  const child = spawn(process.execPath, [join(COMPILED_DIST, "main.js")], {
    stdio: "ignore",
    env: {
      ...process.env,
      NODE_ENV: "production",
      PORT: String(port),
      HOST: "127.0.0.1",
      DATABASE_URL: `file:${file}`,
      REDIS_URL: "",
      PULSE_BUFFER_SIZE: String(bufferSize),
      PULSE_CAPTURE_RATE: "1000000000",
      PULSE_CAPTURE_BURST: "1000000000",
    },
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 300_000);
    await exited;
    clearTimeout(timer);
  };
  const rss = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"))?.[1] ?? 0) * 1024;
  for (const deadline = started + 300_000; performance.now() < deadline;) {
    if (child.exitCode !== null) throw new Error(`main.js exited (${child.exitCode}) before it was ready`);
    const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return { readyMs: performance.now() - started, rss, stop };
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await stop();
  throw new Error("main.js was not ready within 300 s");
}

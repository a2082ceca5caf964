import { randomBytes, randomUUID } from "node:crypto";
import { loadavg } from "node:os";
import { Redis } from "ioredis";
import pg from "pg";
import { startChild, stopAll, type Child } from "../lib/child.ts";
import { median } from "../lib/stats.ts";
import { profiling } from "./delivery.ts";
import { pending, result, round, type Mode, type ScenarioResult } from "./types.ts";

/**
 * The fleet: three Pulse instances on one Redis stream and one PostgreSQL snapshot store, subscribers spread evenly
 * over them, events captured on the first (A). Measured side by side, in alternating rounds, with the same number of
 * subscribers on one Pulse process alone. The figure is what the issue targets: deliveries/s of the subscribers on
 * the instances that read the events from the stream (B, C) against those of the instance that captured them (A).
 *
 * The services are the tests': `REDIS_URL` and `PULSE_TEST_POSTGRES_URL`, else the local servers on their default
 * ports. The run keeps to Redis keys (`PULSE_REDIS_PREFIX`) and a PostgreSQL schema of its own, deleted after.
 */
const REDIS_URL = process.env["REDIS_URL"] || "redis://127.0.0.1:6379";
const POSTGRES_URL = process.env["PULSE_TEST_POSTGRES_URL"] || "postgresql://postgres@127.0.0.1:5432/test";

interface Sizes {
  /** Subscribers per fleet instance; the single process gets three times as many. */
  readonly subscribersPerInstance: number;
  /** Events per delivery round, captured in batches of BATCH (the measurement: 2,000). */
  readonly roundEvents: number;
  readonly rounds: number;
  /** Events each of the three writers captures in the stream-throughput phase. */
  readonly writerEvents: number;
  /** The steady phase: events/s for this long, twice on each side. */
  readonly steadySeconds: number;
}

const SIZES: Record<Mode, Sizes> = {
  full: { subscribersPerInstance: 170, roundEvents: 2000, rounds: 5, writerEvents: 20_000, steadySeconds: 5 },
  quick: { subscribersPerInstance: 170, roundEvents: 1000, rounds: 3, writerEvents: 5000, steadySeconds: 2 },
  smoke: { subscribersPerInstance: 2, roundEvents: 10, rounds: 1, writerEvents: 100, steadySeconds: 0.3 },
};
const BATCH = 100;
/** Events/s of the steady phase: a low rate, so its latency is the path's and not a queue's. */
const STEADY_RATE = 100;

interface Watched {
  readonly expected: number;
  readonly received: number;
  /** Wall clock (ms since the epoch). */
  readonly lastFrameAt: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}
interface Sent {
  readonly startedAt: number;
  readonly endedAt: number;
}

/** Redis's own CPU seconds so far (user + system, all its threads). */
async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info("cpu");
  const read = (name: string) => Number(new RegExp(`^used_cpu_${name}:([\\d.]+)`, "m").exec(info)?.[1] ?? NaN);
  return read("user") + read("sys");
}

async function reachable(): Promise<string | null> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on("error", () => {});
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 1000 });
  client.on("error", () => {});
  const missing: string[] = [];
  try {
    await redis.connect();
    await redis.ping();
  } catch {
    missing.push(`Redis at ${REDIS_URL}`);
  } finally {
    redis.disconnect();
  }
  try {
    await client.connect();
    await client.query("SELECT 1");
  } catch {
    missing.push(`PostgreSQL at ${POSTGRES_URL}`);
  } finally {
    await client.end().catch(() => {});
  }
  return missing.length > 0 ? `needs ${missing.join(" and ")} (REDIS_URL, PULSE_TEST_POSTGRES_URL)` : null;
}

/** Deletes every key of the run's prefix and its schema. */
async function dropFleetData(prefix: string, schema: string): Promise<void> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  redis.on("error", () => {});
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      if (keys.length > 0) await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  client.on("error", () => {});
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

const rate = (w: Watched, sent: Sent) => w.received / ((w.lastFrameAt - sent.startedAt) / 1000);

export async function fleet(mode: Mode): Promise<ScenarioResult> {
  const unit = "deliveries/s";
  const baselineName = "same-instance subscribers (A)";
  const missing = await reachable();
  if (missing) return pending(unit, baselineName, ">= 0.7", missing);
  const sizes = SIZES[mode];
  const prefix = `pulse-bench:${randomUUID()}:`;
  const schema = `pulse_bench_${randomBytes(6).toString("hex")}`;
  const database = new URL(POSTGRES_URL);
  database.searchParams.set("schema", schema);
  const settings = [`REDIS_URL=${REDIS_URL}`, `PULSE_REDIS_PREFIX=${prefix}`, `DATABASE_URL=${database.toString()}`];
  const servers: Child[] = [];
  const loads: Child[] = [];
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  redis.on("error", () => {});
  try {
    // Everything starts at once (a new fleet's instances wait 2.5 s for a counter, see docs/scaling.md; the first to
    // take the migration lock creates the schema). B is the one profiled (--profile).
    const starting = [
      startChild("servers/pulse.ts", settings, { exposeGc: true }),
      startChild("servers/pulse.ts", settings, { exposeGc: true, cpuProf: profiling.dir }),
      startChild("servers/pulse.ts", settings, { exposeGc: true }),
      startChild("servers/pulse.ts", [], { exposeGc: true }),
      ...Array.from({ length: 4 }, () => startChild("load/subscribers.ts")),
    ];
    const started = await Promise.allSettled(starting);
    for (const [i, s] of started.entries()) if (s.status === "fulfilled") (i < 4 ? servers : loads).push(s.value);
    const failed = started.find((s) => s.status === "rejected");
    if (failed) throw failed.reason;
    const [a, b, c, single] = servers as [Child, Child, Child, Child];
    const fleetServers = [a, b, c];
    const urls = fleetServers.map((s) => `http://127.0.0.1:${s.ready["port"] as number}`);
    const singleUrl = `http://127.0.0.1:${single.ready["port"] as number}`;
    const fleetLoads = loads.slice(0, 3);
    const singleLoad = loads[3]!;

    // The stream alone, before any subscriber: three writers at once, each on its own instance.
    const writers = async (events: number) => {
      const from = Math.max(...(await Promise.all(fleetServers.map((s) => s.request<number>("position")))));
      const reaching = fleetServers.map((s) => s.request<number | null>("reach", { seq: from + 3 * events, timeoutMs: 120_000 }));
      const cpuBefore = await redisCpuSeconds(redis);
      const sent = await Promise.all(fleetLoads.map((l, i) => l.request<Sent>("publishBurst", { url: urls[i], events, batch: BATCH })));
      const reached = await Promise.all(reaching);
      const cpu = (await redisCpuSeconds(redis)) - cpuBefore;
      if (reached.some((at) => at === null)) throw new Error("an instance did not read back every event of the three writers");
      const startedAt = Math.min(...sent.map((s) => s.startedAt));
      const appendedMs = Math.max(...sent.map((s) => s.endedAt)) - startedAt;
      const readBackMs = Math.max(...(reached as number[])) - startedAt;
      return {
        appendedPerSecond: (3 * events) / (appendedMs / 1000),
        readBackPerSecond: (3 * events) / (readBackMs / 1000),
        redisCpu: cpu / (readBackMs / 1000),
      };
    };
    await writers(Math.max(10, sizes.writerEvents / 5));
    const stream = await writers(sizes.writerEvents);
    console.error(
      `[bench]   three writers: ${Math.round(stream.appendedPerSecond)} events/s appended, ` +
        `${Math.round(stream.readBackPerSecond)} read back by all, Redis CPU ${Math.round(stream.redisCpu * 100)} %`,
    );

    for (let i = 0; i < 3; i++) {
      await fleetLoads[i]!.request("connect", { transport: "ws", baseUrl: urls[i], count: sizes.subscribersPerInstance, filtered: false });
    }
    await singleLoad.request("connect", { transport: "ws", baseUrl: singleUrl, count: 3 * sizes.subscribersPerInstance, filtered: false });

    let fleetRedisCpu = 0;
    let fleetMs = 0;
    const fleetRound = async (events: number, publish: "publishBurst" | "publishSteady") => {
      await Promise.all(fleetLoads.map((l) => l.request("watchStart")));
      const cpuBefore = await redisCpuSeconds(redis);
      const startedAt = performance.now();
      const sent = await fleetLoads[0]!.request<Sent>(publish, {
        url: urls[0],
        events,
        batch: BATCH,
        rate: STEADY_RATE,
        seconds: events / STEADY_RATE,
      });
      const seen = await Promise.all(fleetLoads.map((l) => l.request<Watched>("watchEnd", { events })));
      fleetRedisCpu += (await redisCpuSeconds(redis)) - cpuBefore;
      fleetMs += performance.now() - startedAt;
      return { sent, seen };
    };
    const singleRound = async (events: number, publish: "publishBurst" | "publishSteady") => {
      await singleLoad.request("watchStart");
      const sent = await singleLoad.request<Sent>(publish, {
        url: singleUrl,
        events,
        batch: BATCH,
        rate: STEADY_RATE,
        seconds: events / STEADY_RATE,
      });
      return { sent, seen: await singleLoad.request<Watched>("watchEnd", { events }) };
    };

    // Bursts: deliveries/s. One warm-up round each, then alternating rounds.
    await fleetRound(sizes.roundEvents, "publishBurst");
    await singleRound(sizes.roundEvents, "publishBurst");
    await b.request("profileStart").catch(() => undefined);
    const bursts: { instances: number[]; single: number; p99: number[]; singleP99: number; p50: number[]; singleP50: number }[] = [];
    let lost = 0;
    for (let r = 0; r < sizes.rounds; r++) {
      const f = await fleetRound(sizes.roundEvents, "publishBurst");
      const s = await singleRound(sizes.roundEvents, "publishBurst");
      lost += [...f.seen, s.seen].reduce((sum, w) => sum + w.expected - w.received, 0);
      bursts.push({
        instances: f.seen.map((w) => rate(w, f.sent)),
        single: rate(s.seen, s.sent),
        p50: f.seen.map((w) => w.p50Ms),
        p99: f.seen.map((w) => w.p99Ms),
        singleP50: s.seen.p50Ms,
        singleP99: s.seen.p99Ms,
      });
      console.error(
        `[bench]   fleet A/B/C ${f.seen.map((w) => Math.round(rate(w, f.sent))).join(" / ")}, one process ${Math.round(rate(s.seen, s.sent))} deliveries/s`,
      );
    }
    if (profiling.dir) await b.request("profileStop", { file: `${profiling.dir}fleet-receiver-${Date.now()}.cpuprofile` });

    // Steady: capture → delivery latency at a low rate, twice on each side.
    const steadyEvents = Math.max(2, Math.round(STEADY_RATE * sizes.steadySeconds));
    const steady: { cross: Watched[]; same: Watched[]; single: Watched[] } = { cross: [], same: [], single: [] };
    for (let r = 0; r < 2; r++) {
      const f = await fleetRound(steadyEvents, "publishSteady");
      const s = await singleRound(steadyEvents, "publishSteady");
      lost += [...f.seen, s.seen].reduce((sum, w) => sum + w.expected - w.received, 0);
      steady.same.push(f.seen[0]!);
      steady.cross.push(f.seen[1]!, f.seen[2]!);
      steady.single.push(s.seen);
    }

    const at = (i: number) => median(bursts.map((r) => r.instances[i]!));
    const same = at(0);
    const cross = median(bursts.map((r) => (r.instances[1]! + r.instances[2]!) / 2));
    const fleetTotal = median(bursts.map((r) => r.instances.reduce((sum, v) => sum + v, 0)));
    const singleRate = median(bursts.map((r) => r.single));
    const ms = (values: number[]) => round(median(values), 2);
    return result(
      cross,
      unit,
      same,
      baselineName,
      { atLeast: 0.7 },
      {
        instanceA: Math.round(same),
        instanceB: Math.round(at(1)),
        instanceC: Math.round(at(2)),
        fleetTotal: Math.round(fleetTotal),
        singleProcess: Math.round(singleRate),
        fleetToSingle: round(fleetTotal / singleRate, 2),
        burstP50MsCross: ms(bursts.flatMap((r) => r.p50.slice(1))),
        burstP99MsCross: ms(bursts.flatMap((r) => r.p99.slice(1))),
        burstP50MsSingle: ms(bursts.map((r) => r.singleP50)),
        burstP99MsSingle: ms(bursts.map((r) => r.singleP99)),
        steadyP50MsSame: ms(steady.same.map((w) => w.p50Ms)),
        steadyP50MsCross: ms(steady.cross.map((w) => w.p50Ms)),
        steadyP99MsCross: ms(steady.cross.map((w) => w.p99Ms)),
        steadyP50MsSingle: ms(steady.single.map((w) => w.p50Ms)),
        steadyP99MsSingle: ms(steady.single.map((w) => w.p99Ms)),
        redisCpuDuringRounds: round(fleetRedisCpu / (fleetMs / 1000), 2),
        streamEventsPerSecondAppended: Math.round(stream.appendedPerSecond),
        streamEventsPerSecondReadBack: Math.round(stream.readBackPerSecond),
        redisCpuThreeWriters: round(stream.redisCpu, 2),
        subscribers: 3 * sizes.subscribersPerInstance,
        loadAverage1m: round(loadavg()[0]!, 2),
        lost,
      },
    );
  } finally {
    await stopAll(...servers, ...loads);
    redis.disconnect();
    await dropFleetData(prefix, schema).catch((error: Error) => console.error(`[bench] fleet: cleanup failed: ${error.message}`));
  }
}

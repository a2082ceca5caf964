import { startChild, stopAll, type Child } from "../lib/child.ts";
import { median } from "../lib/stats.ts";
import { result, round, type Mode, type ScenarioResult } from "./types.ts";

/** Where `--profile` writes the Pulse server's CPU profiles (none when unset). */
export const profiling: { dir?: string } = {};

const SERVERS = { pulse: "servers/pulse.ts", "raw-ws": "servers/raw-ws.ts", naive: "servers/naive.ts" } as const;
type ServerName = keyof typeof SERVERS;

interface Session {
  /** Server memory (RSS after GC) with every subscriber connected and idle, minus before any. */
  readonly idleBytesPerSubscriber: number;
  readonly rounds?: { deliveriesPerSecond: number; expected: number; received: number }[];
  latency?: { p50Ms: number; p99Ms: number; maxMs: number; expected: number; received: number };
}

interface SessionPlan {
  readonly mode: Mode;
  readonly transport: "ws" | "sse";
  readonly subscribers: number;
  readonly filtered: boolean;
  readonly fanout?: { rounds: number; firstEvents: number; batch: number };
  readonly latency?: { rate: number; seconds: number };
}

/**
 * One server process and one load generator per server, all up at once: connect every subscriber (and check each
 * receives), measure each server's idle memory, then alternate the servers round by round (after one warm-up round
 * each), so a load change on this shared machine hits Pulse and its baselines alike rather than whichever ran then.
 */
async function sessions<N extends ServerName>(servers: readonly N[], plan: SessionPlan): Promise<Record<N, Session>> {
  const targets = new Map<N, Child>();
  const loads = new Map<N, Child>();
  const out = {} as Record<N, Session>;
  try {
    for (const server of servers) {
      const target = await startChild(SERVERS[server], [], { exposeGc: true, cpuProf: server === "pulse" ? profiling.dir : undefined });
      targets.set(server, target);
      const load = await startChild("load/subscribers.ts");
      loads.set(server, load);
      const baseUrl = `http://127.0.0.1:${target.ready["port"] as number}`;
      const before = await target.request<NodeJS.MemoryUsage>("memory");
      await load.request("connect", { transport: plan.transport, baseUrl, count: plan.subscribers, filtered: plan.filtered });
      const after = await target.request<NodeJS.MemoryUsage>("memory");
      out[server] = { idleBytesPerSubscriber: (after.rss - before.rss) / plan.subscribers, rounds: [] };
    }
    if (plan.fanout) {
      const request = { ...plan.fanout, roundSeconds: ROUND_SECONDS[plan.mode] };
      for (const server of servers) await loads.get(server)!.request("fanout", { ...request, rounds: 1 });
      // `--profile`: besides the whole process (--cpu-prof), a profile of Pulse over the measured rounds alone.
      const profiled = profiling.dir && servers.includes("pulse" as N) ? targets.get("pulse" as N) : undefined;
      await profiled?.request("profileStart");
      for (let round = 0; round < plan.fanout.rounds; round++) {
        for (const server of servers) {
          const [measured] = await loads.get(server)!.request<NonNullable<Session["rounds"]>>("fanout", { ...request, rounds: 1 });
          out[server].rounds!.push(measured!);
        }
      }
      const label = `${plan.transport}-${plan.subscribers}${plan.filtered ? "-filtered" : ""}`;
      await profiled?.request("profileStop", { file: `${profiling.dir}rounds-${label}-${Date.now()}.cpuprofile` });
      for (const server of servers) {
        console.error(`[bench]   ${server}: ${out[server].rounds!.map((r) => Math.round(r.deliveriesPerSecond)).join(", ")} deliveries/s`);
      }
    } else {
      const halves: Record<string, NonNullable<Session["latency"]>[]> = {};
      for (let run = 0; run < 2; run++) {
        for (const server of servers) {
          const latency = await loads
            .get(server)!
            .request<NonNullable<Session["latency"]>>("latency", { ...plan.latency!, seconds: plan.latency!.seconds / 2 });
          (halves[server] ??= []).push(latency);
        }
      }
      for (const server of servers) {
        const runs = halves[server]!;
        out[server].latency = {
          p50Ms: median(runs.map((r) => r.p50Ms)),
          p99Ms: median(runs.map((r) => r.p99Ms)),
          maxMs: Math.max(...runs.map((r) => r.maxMs)),
          expected: runs.reduce((sum, r) => sum + r.expected, 0),
          received: runs.reduce((sum, r) => sum + r.received, 0),
        };
      }
    }
    return out;
  } finally {
    for (const server of servers) await stopAll(targets.get(server), loads.get(server));
  }
}

function deliveries(s: Session): { rate: number; lost: number } {
  const rounds = s.rounds ?? [];
  return { rate: median(rounds.map((r) => r.deliveriesPerSecond)), lost: rounds.reduce((sum, r) => sum + r.expected - r.received, 0) };
}

const small = (mode: Mode, n: number) => (mode === "smoke" ? 20 : n);
const ROUNDS: Record<Mode, number> = { full: 5, quick: 3, smoke: 1 };
/** How long each measured fan-out round lasts, about: the warm-up round sizes the others to it. */
const ROUND_SECONDS: Record<Mode, number> = { full: 3, quick: 0.7, smoke: 0.05 };

/** raw-ws at 1,000 subscribers, kept for fanout_sse_1k (same sockets count, same frames). */
let rawWs1k: number | undefined;

export async function fanout1k(mode: Mode): Promise<ScenarioResult> {
  const plan: SessionPlan = {
    mode,
    transport: "ws",
    subscribers: small(mode, 1000),
    filtered: false,
    fanout: { rounds: ROUNDS[mode], firstEvents: mode === "smoke" ? 5 : 20, batch: 10 },
  };
  const measured = await sessions(["pulse", "raw-ws", "naive"], plan);
  const [pulse, raw, naive] = [deliveries(measured.pulse), deliveries(measured["raw-ws"]), deliveries(measured.naive)];
  rawWs1k = raw.rate;
  return result(
    pulse.rate,
    "deliveries/s",
    raw.rate,
    "raw-ws",
    { atLeast: 0.5 },
    {
      naive: round(naive.rate, 0),
      ratioToNaive: round(pulse.rate / naive.rate, 2),
      lost: pulse.lost,
    },
  );
}

let memory10k: { pulse: number; raw: number } | undefined;

export async function fanout10k(mode: Mode): Promise<ScenarioResult> {
  const plan: SessionPlan = {
    mode,
    transport: "ws",
    subscribers: small(mode, 10_000),
    filtered: false,
    fanout: { rounds: ROUNDS[mode], firstEvents: 5, batch: 5 },
  };
  const { pulse, "raw-ws": raw } = await sessions(["pulse", "raw-ws"], plan);
  memory10k = { pulse: pulse.idleBytesPerSubscriber, raw: raw.idleBytesPerSubscriber };
  return result(deliveries(pulse).rate, "deliveries/s", deliveries(raw).rate, "raw-ws", { atLeast: 0.5 }, { lost: deliveries(pulse).lost });
}

/** Measured on fanout_10k's connections (RSS after GC, all subscribed and idle); runs them if it has not. */
export async function memoryIdle10k(mode: Mode): Promise<ScenarioResult> {
  if (!memory10k) await fanout10k(mode);
  return result(memory10k!.pulse, "bytes/subscriber", memory10k!.raw, "raw-ws", { atMost: 1.5 });
}

export async function fanoutSse1k(mode: Mode): Promise<ScenarioResult> {
  if (rawWs1k === undefined) await fanout1k(mode);
  const plan: SessionPlan = {
    mode,
    transport: "sse",
    subscribers: small(mode, 1000),
    filtered: false,
    fanout: { rounds: ROUNDS[mode], firstEvents: mode === "smoke" ? 5 : 20, batch: 10 },
  };
  const pulse = deliveries((await sessions(["pulse"], plan)).pulse);
  return result(pulse.rate, "deliveries/s", rawWs1k!, "raw-ws (fanout_1k)", { atLeast: 0.5 }, { lost: pulse.lost });
}

export async function filtered10k(mode: Mode): Promise<ScenarioResult> {
  const plan: SessionPlan = {
    mode,
    transport: "ws",
    subscribers: mode === "smoke" ? 200 : 10_000,
    filtered: true,
    fanout: { rounds: ROUNDS[mode], firstEvents: 100, batch: 100 },
  };
  const measured = await sessions(["pulse", "raw-ws"], plan);
  const [pulse, raw] = [deliveries(measured.pulse), deliveries(measured["raw-ws"])];
  return result(pulse.rate, "deliveries/s", raw.rate, "raw-ws (same matching sockets)", { atLeast: 0.5 }, { lost: pulse.lost });
}

/** The event rate of latency_1k: see bench/README.md for why it is not the 1,000/s. */
export const LATENCY_RATE = 20;

export async function latency1k(mode: Mode): Promise<ScenarioResult> {
  const plan: SessionPlan = {
    mode,
    transport: "ws",
    subscribers: small(mode, 1000),
    filtered: false,
    latency: { rate: LATENCY_RATE, seconds: mode === "full" ? 10 : mode === "quick" ? 2 : 0.5 },
  };
  const latencies = await sessions(["pulse", "raw-ws"], plan);
  const [pulse, raw] = [latencies.pulse.latency!, latencies["raw-ws"].latency!];
  const lost = pulse.expected - pulse.received;
  const measured = result(
    pulse.p99Ms,
    "ms p99",
    raw.p99Ms,
    "raw-ws",
    { atMost: 2 },
    {
      p50Ms: round(pulse.p50Ms, 2),
      rawP50Ms: round(raw.p50Ms, 2),
      eventsPerSecond: LATENCY_RATE,
      lost,
    },
  );
  // The target is "<= 2 x raw-ws p99, zero loss": a fast run that lost frames does not meet it.
  return lost > 0 ? { ...measured, met: false } : measured;
}

import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import { Redis } from "ioredis";
import type { Appended, EventLog } from "../domain/event-log.ts";
import type { CapturedEvent, StoredEvent } from "../domain/event.ts";
import type { EventStream } from "../domain/event-stream.ts";
import { PulseError } from "../domain/errors.ts";
import { lostPositionsFor } from "../store/persistence.ts";

/**
 * Keeps positions from ever being handed out twice, fleet-wide, when Redis loses the counter (restarted empty,
 * FLUSHALL, evicted) or comes back older than what an instance has seen. The caller passes the highest position it
 * knows the fleet reached (ARGV floor) and where to restart the counter if it is missing or below that (ARGV seed,
 * computed by `RedisEventStream.bounds`: that position plus what the fleet can have handed out since the caller last
 * read the counter; -1 when the caller has never read it and restored nothing, so cannot tell). Sets `reseeded` to
 * the new value when it restarted the counter, or returns CANNOT_TELL when it cannot.
 */
const RESEED = `
local current = tonumber(redis.call('GET', KEYS[1]) or '-1')
local reseeded = 0
if current < 0 or current < tonumber(ARGV[FLOOR]) then
  if tonumber(ARGV[SEED]) < 0 then return CANNOT_TELL end
  redis.call('SET', KEYS[1], ARGV[SEED])
  reseeded = tonumber(ARGV[SEED])
end
`;

/**
 * Atomically, per event: a duplicate id answers the earlier position; a new one takes the next position from the
 * counter (so cursors stay the global integers of cursor.ts) and is XADDed with that explicit id, MAXLEN ~ bounded.
 * Dedupe is `SET id seq NX EX ttl` rather than a hash trimmed with the stream: the TTL bounds Redis memory without a
 * second trim pass, and a retry (the case dedupe exists for) comes within seconds, far inside the TTL.
 * KEYS: counter, stream, id-key prefix. ARGV: maxlen, ttl seconds, floor, seed (see RESEED), then id, payload
 * pairs. Returns reseeded (0: no), the counter after, then per event seq or -seq (duplicate).
 */
const APPEND = `${RESEED.replaceAll("FLOOR", "3").replaceAll("SEED", "4").replace("CANNOT_TELL", "redis.error_reply('PULSE_NO_COUNTER')")}
local out = {reseeded, 0}
for i = 5, #ARGV, 2 do
  local key = KEYS[3] .. ARGV[i]
  local existing = redis.call('GET', key)
  if existing then
    out[#out + 1] = -tonumber(existing)
  else
    local seq = redis.call('INCR', KEYS[1])
    redis.call('SET', key, seq, 'EX', ARGV[2])
    -- %d: Lua's tostring writes numbers of 15 digits and more as 1e+15.
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], string.format('%d-0', seq), 'e', ARGV[i + 1])
    out[#out + 1] = seq
  end
end
out[2] = tonumber(redis.call('GET', KEYS[1]))
return out
`;

/**
 * The counter check every instance runs between captures (see RESEED). KEYS: counter. ARGV: floor, seed. Returns
 * reseeded and the counter (-1: missing, and this instance cannot tell where to restart it).
 */
const CHECK_COUNTER = `${RESEED.replaceAll("FLOOR", "1").replaceAll("SEED", "2").replace("CANNOT_TELL", "{0, -1}")}
return {reseeded, tonumber(redis.call('GET', KEYS[1]) or '-1')}
`;

/** Creates a missing counter at ARGV[1] (a new fleet's first instance). Returns the counter. */
const CREATE_COUNTER = `
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return tonumber(redis.call('GET', KEYS[1]))
`;

/**
 * How often an instance reads the counter (and right after each reconnection): it keeps what the instance knows of
 * the fleet's position fresh, so a reseed skips little, and finds a flushed Redis before a capture does.
 */
const COUNTER_CHECK_MS = 500;
/**
 * Stream entries one XREAD asks for. The reader asks for the next ones while it applies a reply, and a reply is
 * applied in slices (APPLY_SLICE_MS), so this only bounds the reply's memory (about 1 KB an entry).
 */
const READ_COUNT = 1000;
/** How long one XREAD waits for a new entry before the reader asks again (and notices a close). */
const READ_BLOCK_MS = 1000;
/**
 * How long the reader applies entries before it lets the event loop turn: the frames of the events applied so far
 * are written, captures and timers run. Short enough to keep captures on this instance answered, long enough that
 * each slice's frames leave a socket in one write.
 */
const APPLY_SLICE_MS = 10;
/**
 * How long an instance that knows no position (nothing restored, never read the counter) waits before it creates a
 * missing counter, taking Redis for a new fleet's: longer than the others take to reconnect (2 s backoff at most)
 * and check, so if Redis has just lost the counter of a running fleet, one of them restarts it first.
 */
const NEW_FLEET_WAIT_MS = 2_500;
/**
 * How long an instance whose only reading is an empty snapshot (position 0) waits before it restarts a missing
 * counter: a new fleet's first instance writes such a snapshot at start and creates the counter NEW_FLEET_WAIT_MS
 * later, so an instance joining meanwhile must not take the missing counter for a lost one (it restarted it a million
 * further on and logged that Redis lost it). Alone after the wait, it restarts it past the snapshot as usual: the
 * instance that wrote it may have handed out positions before it died.
 */
const EMPTY_SNAPSHOT_WAIT_MS = NEW_FLEET_WAIT_MS + 1_000;

/** One entry of the stream as XREAD returns it: its id (`<position>-0`) and its fields (`e`, the event's JSON). */
type StreamEntry = [id: string, fields: string[]];

/** The counter held `value` at a moment no earlier than `at` (performance.now() when the read was sent). */
interface CounterReading {
  readonly value: number;
  readonly at: number;
}

export interface RedisStreamOptions {
  readonly url: string;
  /** Key prefix of this fleet (PULSE_REDIS_PREFIX). */
  readonly prefix: string;
  /** Stream entries kept, approximately (PULSE_REDIS_STREAM_LENGTH): a joining instance can replay this far back. */
  readonly maxLength: number;
  /** How long an id stays de-duplicated, default 86400 s. */
  readonly dedupeSeconds?: number;
  /** Per-command timeout, default 2000 ms: a hung Redis answers UNAVAILABLE rather than holding captures. */
  readonly commandTimeoutMs?: number;
  /**
   * The restored snapshot: its newest position and the time it reflects (epoch ms). What this instance knows of the
   * fleet's position before it has read the counter; without it (nothing restored, or a snapshot at position 0), it
   * knows nothing.
   */
  readonly restored?: { readonly position: number; readonly takenAt: number } | null;
  readonly onState?: (connected: boolean, error?: unknown) => void;
  /**
   * Positions `from`..`to` came to this instance as a jump in the stream: the stream no longer held them when it
   * read (trimmed by MAXLEN while it was behind, or lost by a Redis that lost its data, whose counter restarted past
   * them). Events there, if any, are lost to this instance (the others, and the snapshot, may have them); a resume
   * from a cursor in that stretch is told of a gap. Not called for an instance that had nothing yet (a joiner).
   */
  readonly onGap?: (from: number, to: number) => void;
  /**
   * This instance found the counter missing (Redis restarted empty, was flushed, or evicted it) or below a position
   * it had seen (Redis came back older), and restarted it at `restartedAt`: past `knownPosition`, the highest
   * position it knew of, by what the fleet can have handed out in the `knownAgeMs` since it learnt it.
   */
  readonly onReset?: (reset: { readonly restartedAt: number; readonly knownPosition: number; readonly knownAgeMs: number }) => void;
}

/**
 * The shared stream in Redis: `append` for captures, and a reader (its own connection, XREAD BLOCK) that applies
 * every entry to the event stream in order, reconnecting with backoff and continuing from the last applied position.
 *
 * Positions are never handed to two events, even when Redis loses its data. The counter in Redis is the only thing
 * that hands them out (INCR), and nothing hands out positions while it is missing. Each instance remembers its
 * latest reading of the counter (from every capture, and a check every COUNTER_CHECK_MS and after each reconnection)
 * and when it took it; a restored snapshot counts as a reading taken when the snapshot was. An instance that finds
 * the counter missing, or below what it has read, restarts it at that reading plus `lostPositionsFor(its age)`:
 * 500,000 positions per second since the reading, at least a million, the same bound the crash path of a single
 * instance uses. Positions handed out before the reading are at most its value; fewer than that rate's worth were
 * handed out after it, before Redis lost the counter. So every position used is below the new start however stale
 * the restarting instance is (one cut off from Redis for an hour restarts it 1.8 billion further on: positions stay
 * far below 2^53). The first instance to
 * find the counter missing restarts it; the others then find it above their reading and go on. An instance that has
 * no reading at all (nothing restored, never read the counter) never restarts a missing counter: it waits
 * NEW_FLEET_WAIT_MS for an instance that knows to do it, then takes Redis for a new fleet's and starts at its own
 * position (0). What is not covered: a fleet writing faster than 500,000 events a second, instance clocks (snapshot
 * times) apart by more than a second or two, and a snapshot writer whose reader lagged the stream by more than a
 * million positions.
 *
 * What Redis held and no instance had read yet is lost with it; every instance sees the restart as a jump in the
 * stream and marks the skipped stretch lost in its event stream (`markLost`), so a client resuming from a cursor in it is told
 * of a gap rather than handed events that are not the ones after its cursor.
 */
export class RedisEventStream implements EventLog {
  private readonly writer: Redis;
  private readonly reader: Redis;
  private readonly keys: { counter: string; stream: string; ids: string };
  private running = true;
  private loop: Promise<void> | undefined;
  private reading: CounterReading | null;
  /** Since when (performance.now()) this instance, knowing no position, has found the counter missing. */
  private counterMissingSince: number | null = null;
  /** This instance's only reading is an empty snapshot's (see EMPTY_SNAPSHOT_WAIT_MS), until it reads the counter. */
  private emptySnapshotOnly: boolean;
  private checking: Promise<void> | undefined;
  private checkTimer: NodeJS.Timeout | undefined;
  connected = false;

  constructor(
    private readonly stream: EventStream,
    private readonly options: RedisStreamOptions,
  ) {
    const { prefix } = options;
    this.keys = { counter: `${prefix}seq`, stream: `${prefix}events`, ids: `${prefix}id:` };
    const { restored } = options;
    // The snapshot's time on the monotonic clock: it may be older than this process.
    this.reading = restored ? { value: restored.position, at: performance.now() - Math.max(0, Date.now() - restored.takenAt) } : null;
    this.emptySnapshotOnly = restored?.position === 0;
    // No offline queue: a capture while Redis is down must fail now (UNAVAILABLE), not pile up in memory.
    const common = {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: (times: number) => Math.min(100 * 2 ** times, 2000),
    };
    this.writer = new Redis(options.url, { ...common, commandTimeout: options.commandTimeoutMs ?? 2000 });
    this.reader = new Redis(options.url, common);
    this.writer.on("error", () => {});
    this.reader.on("error", () => {});
    this.writer.on("ready", () => {
      this.setConnected(true);
      // A Redis that comes back may have come back empty: check before a capture finds out.
      if (this.loop) void this.checkCounter();
    });
    this.writer.on("close", () => this.setConnected(false));
  }

  private setConnected(connected: boolean): void {
    if (this.connected === connected) return;
    this.connected = connected;
    this.options.onState?.(connected);
  }

  /**
   * Connects, learns the counter (waiting up to NEW_FLEET_WAIT_MS when it is missing and this instance knows no
   * position) and starts applying the stream after the event stream's last position (after a restore, its snapshot's).
   */
  async start(): Promise<void> {
    await Promise.allSettled([this.writer.connect(), this.reader.connect()]);
    const deadline = performance.now() + EMPTY_SNAPSHOT_WAIT_MS + 1000;
    await this.checkCounter();
    while (this.connected && this.counterMissingSince !== null && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      await this.checkCounter();
    }
    this.loop = this.read();
    this.scheduleCheck();
  }

  async append(events: readonly (CapturedEvent & { readonly id: string })[]): Promise<Appended[]> {
    if (events.length === 0) return [];
    const { floor, seed } = this.bounds();
    const args: (string | number)[] = [this.options.maxLength, this.options.dedupeSeconds ?? 86_400, floor, seed];
    for (const event of events) args.push(event.id, JSON.stringify(event));
    let result: number[];
    const sentAt = performance.now();
    try {
      result = (await this.writer.eval(APPEND, 3, this.keys.counter, this.keys.stream, this.keys.ids, ...args)) as number[];
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new PulseError(
        "UNAVAILABLE",
        reason.includes("PULSE_NO_COUNTER")
          ? "the shared event stream (Redis) has lost its position counter and this instance cannot tell where the " +
              "fleet was: waiting for an instance that can; nothing was stored, retry"
          : `the shared event stream (Redis) did not acknowledge the capture: ${reason}; nothing was stored, retry`,
      );
    }
    const [reseeded, counter, ...positions] = result as [number, number, ...number[]];
    this.counterRead(counter, sentAt, reseeded, floor);
    return positions.map((value, i) => ({ id: events[i]!.id, seq: Math.abs(value), duplicate: value < 0 }));
  }

  /**
   * The highest position this instance knows the fleet has reached (`floor`), and where the counter restarts if
   * Redis lost it (`seed`): see the class comment. -1: this instance cannot tell.
   */
  private bounds(now = performance.now()): { floor: number; seed: number; ageMs: number } {
    const floor = Math.max(this.reading?.value ?? 0, this.stream.lastPosition);
    if (this.reading === null) return { floor, seed: -1, ageMs: Infinity };
    const waiting =
      this.emptySnapshotOnly && (this.counterMissingSince === null || now - this.counterMissingSince < EMPTY_SNAPSHOT_WAIT_MS);
    if (waiting) return { floor, seed: -1, ageMs: Infinity };
    const ageMs = Math.max(0, now - this.reading.at);
    return { floor, seed: floor + lostPositionsFor(ageMs), ageMs };
  }

  private counterRead(value: number, at: number, reseeded: number, floor: number): void {
    if (reseeded > 0) {
      const ageMs = this.reading === null ? Infinity : Math.round(Math.max(0, at - this.reading.at));
      this.options.onReset?.({ restartedAt: reseeded, knownPosition: floor, knownAgeMs: ageMs });
    }
    if (value < 0) return;
    this.counterMissingSince = null;
    this.emptySnapshotOnly = false;
    if (this.reading === null || at >= this.reading.at) this.reading = { value: Math.max(value, this.reading?.value ?? 0), at };
  }

  /** Reads the counter, restarting it if Redis lost it (see the class comment). One at a time; never throws. */
  private checkCounter(): Promise<void> {
    return (this.checking ??= (async () => {
      try {
        const { floor, seed } = this.bounds();
        const sentAt = performance.now();
        const [reseeded, counter] = (await this.writer.eval(CHECK_COUNTER, 1, this.keys.counter, floor, seed)) as [number, number];
        if (counter >= 0) return this.counterRead(counter, sentAt, reseeded, floor);
        // Missing, and this instance knows no position: a new fleet, or one whose Redis has just lost the counter.
        this.counterMissingSince ??= sentAt;
        // With an empty snapshot's reading, the next check past EMPTY_SNAPSHOT_WAIT_MS restarts it (bounds).
        if (this.reading !== null || performance.now() - this.counterMissingSince < NEW_FLEET_WAIT_MS) return;
        const createdAt = performance.now();
        const created = (await this.writer.eval(CREATE_COUNTER, 1, this.keys.counter, this.stream.lastPosition)) as number;
        this.counterRead(created, createdAt, 0, floor);
      } catch {
        // Redis unreachable: the next check, or the next capture, tries again.
      } finally {
        this.checking = undefined;
      }
    })());
  }

  private scheduleCheck(): void {
    if (!this.running) return;
    this.checkTimer = setTimeout(() => void this.checkCounter().then(() => this.scheduleCheck()), COUNTER_CHECK_MS);
    this.checkTimer.unref();
  }

  /** The next entries after `last` (`<position>-0`), waiting up to READ_BLOCK_MS for one. Null: none came. */
  private readAfter(last: string): Promise<StreamEntry[] | null> {
    return this.reader
      .xread("COUNT", READ_COUNT, "BLOCK", READ_BLOCK_MS, "STREAMS", this.keys.stream, last)
      .then((reply) => reply?.[0]?.[1] ?? null);
  }

  /**
   * Applies the stream in order. It asks Redis for the entries after a reply as soon as the reply comes, so the next
   * ones travel while it applies these; and it applies for APPLY_SLICE_MS at most before it lets the event loop turn,
   * so subscribers' frames leave in slices (a 1,000-entry reply to 500 subscribers is half a million frames: held in
   * one turn, they cost more in garbage collection than the fan-out itself, and held captures past their timeout).
   */
  private async read(): Promise<void> {
    let failures = 0;
    let next: Promise<StreamEntry[] | null> | null = null;
    while (this.running) {
      try {
        const entries = await (next ?? this.readAfter(`${this.stream.lastPosition}-0`));
        next = null;
        failures = 0;
        if (!entries || !this.running) continue;
        next = this.readAfter(entries[entries.length - 1]![0]);
        // Awaited on the next turn of the loop; if the loop ends first (close), its failure is no one's concern.
        next.catch(() => {});
        await this.applyEntries(entries);
      } catch {
        next = null;
        if (!this.running) return;
        failures++;
        await new Promise((resolve) => setTimeout(resolve, Math.min(100 * 2 ** failures, 2000)));
      }
    }
  }

  private async applyEntries(entries: readonly StreamEntry[]): Promise<void> {
    let sliceStart = performance.now();
    for (const [id, fields] of entries) {
      if (!this.running) return;
      const seq = Number(id.slice(0, id.indexOf("-")));
      const previous = this.stream.lastPosition;
      if (seq <= previous) continue;
      // Positions are consecutive in the stream (one INCR per XADD, in one script): a jump means entries this
      // instance cannot read any more (trimmed, or lost with Redis's data when the counter restarted).
      if (seq > previous + 1) {
        this.stream.markLost(previous, seq - 1);
        if (previous > 0) this.options.onGap?.(previous + 1, seq - 1);
      }
      // The payload is this entry's own object: it becomes the stored event as it is (no copy).
      const event = JSON.parse(fields[1]!) as StoredEvent & { seq: number };
      event.seq = seq;
      this.stream.apply(event);
      if (performance.now() - sliceStart >= APPLY_SLICE_MS) {
        await yieldToEventLoop();
        sliceStart = performance.now();
      }
    }
  }

  async close(): Promise<void> {
    this.running = false;
    clearTimeout(this.checkTimer);
    this.reader.disconnect();
    await this.loop;
    await this.checking;
    this.writer.disconnect();
  }
}

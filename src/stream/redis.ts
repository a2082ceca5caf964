import { Redis } from "ioredis";
import type { Appended, EventLog } from "../domain/event-log.ts";
import type { CapturedEvent } from "../domain/event.ts";
import type { EventStream } from "../domain/event-stream.ts";
import { PulseError } from "../domain/errors.ts";

/**
 * Atomically, per event: a duplicate id answers the earlier position; a new one takes the next position from the
 * counter (so cursors stay the global integers of cursor.ts) and is XADDed with that explicit id, MAXLEN ~ bounded.
 * Dedupe is `SET id seq NX EX ttl` rather than a hash trimmed with the stream: the TTL bounds Redis memory without a
 * second trim pass, and a retry (the case dedupe exists for) comes within seconds, far inside the TTL.
 * KEYS: counter, stream, id-key prefix. ARGV: maxlen, ttl seconds, the caller's last applied position (a floor for
 * the counter), then id, payload pairs. Returns seq or -seq (duplicate).
 */
const APPEND = `
local out = {}
-- A Redis that lost its data (restarted empty) must not hand out positions the fleet has used already.
if tonumber(redis.call('GET', KEYS[1]) or '0') < tonumber(ARGV[3]) then redis.call('SET', KEYS[1], ARGV[3]) end
for i = 4, #ARGV, 2 do
  local key = KEYS[3] .. ARGV[i]
  local existing = redis.call('GET', key)
  if existing then
    out[#out + 1] = -tonumber(existing)
  else
    local seq = redis.call('INCR', KEYS[1])
    redis.call('SET', key, seq, 'EX', ARGV[2])
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], seq .. '-0', 'e', ARGV[i + 1])
    out[#out + 1] = seq
  end
end
return out
`;

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
  readonly onState?: (connected: boolean, error?: unknown) => void;
  /**
   * Events `from`..`to` (positions) had left the stream (MAXLEN) before this instance read them: it was behind by
   * more than the stream keeps. They are lost to this instance (the others, and the snapshot, may have them).
   */
  readonly onGap?: (from: number, to: number) => void;
}

/**
 * The shared stream in Redis: `append` for captures, and a reader (its own connection, XREAD BLOCK) that applies
 * every entry to the hub in order, reconnecting with backoff and continuing from the last applied position.
 */
export class RedisEventStream implements EventLog {
  private readonly writer: Redis;
  private readonly reader: Redis;
  private readonly keys: { counter: string; stream: string; ids: string };
  private running = true;
  private loop: Promise<void> | undefined;
  connected = false;

  constructor(
    private readonly stream: EventStream,
    private readonly options: RedisStreamOptions,
  ) {
    const { prefix } = options;
    this.keys = { counter: `${prefix}seq`, stream: `${prefix}events`, ids: `${prefix}id:` };
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
    this.writer.on("ready", () => this.setConnected(true));
    this.writer.on("close", () => this.setConnected(false));
  }

  private setConnected(connected: boolean): void {
    if (this.connected === connected) return;
    this.connected = connected;
    this.options.onState?.(connected);
  }

  /** Connects and starts applying the stream after the hub's last position (after a restore, its snapshot's). */
  async start(): Promise<void> {
    await Promise.allSettled([this.writer.connect(), this.reader.connect()]);
    this.loop = this.read();
  }

  async append(events: readonly (CapturedEvent & { readonly id: string })[]): Promise<Appended[]> {
    if (events.length === 0) return [];
    const args: (string | number)[] = [this.options.maxLength, this.options.dedupeSeconds ?? 86_400, this.stream.lastPosition];
    for (const event of events) args.push(event.id, JSON.stringify(event));
    let result: number[];
    try {
      result = (await this.writer.eval(APPEND, 3, this.keys.counter, this.keys.stream, this.keys.ids, ...args)) as number[];
    } catch (error) {
      throw new PulseError("UNAVAILABLE", `the shared event stream (Redis) did not acknowledge the capture: ${error instanceof Error ? error.message : String(error)}; nothing was stored, retry`);
    }
    return result.map((value, i) => ({ id: events[i]!.id, seq: Math.abs(value), duplicate: value < 0 }));
  }

  private async read(): Promise<void> {
    let failures = 0;
    while (this.running) {
      try {
        const last = `${this.stream.lastPosition}-0`;
        const reply = await this.reader.xread("COUNT", 500, "BLOCK", 1000, "STREAMS", this.keys.stream, last);
        failures = 0;
        for (const [, entries] of reply ?? []) {
          for (const [id, fields] of entries) {
            const seq = Number(id.split("-")[0]);
            if (seq <= this.stream.lastPosition) continue;
            // Positions are consecutive in the stream (one INCR per XADD, in one script): a jump means trimmed entries.
            if (seq > this.stream.lastPosition + 1 && this.stream.lastPosition > 0) this.options.onGap?.(this.stream.lastPosition + 1, seq - 1);
            const payload = JSON.parse(fields[1]!) as CapturedEvent & { id: string };
            this.stream.apply({ ...payload, seq });
          }
        }
      } catch {
        if (!this.running) return;
        failures++;
        await new Promise((resolve) => setTimeout(resolve, Math.min(100 * 2 ** failures, 2000)));
      }
    }
  }

  async close(): Promise<void> {
    this.running = false;
    this.reader.disconnect();
    await this.loop;
    this.writer.disconnect();
  }
}

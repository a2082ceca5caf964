import { badInput } from "./errors.ts";

/** The longest timeline kept and served, in minutes. */
export const TIMELINE_MAX_MINUTES = 60;
/**
 * Distinct ids remembered per minute bucket: memory stays bounded under a flood of one-off ids;
 * past it a minute's uniqueUsers stops growing (documented as a floor).
 */
export const TIMELINE_MAX_IDS_PER_MINUTE = 50_000;

interface Bucket {
  minute: number;
  count: number;
  ids: Set<string>;
}

/** One minute of the timeline: events received and distinct ids seen in it. */
export interface TimelinePoint {
  /** Start of the minute, epoch ms. */
  minute: number;
  events: number;
  uniqueUsers: number;
}

/**
 * Per-minute event counts and distinct users over the last {@link TIMELINE_MAX_MINUTES} minutes, by receive time,
 * in a ring of one-minute buckets. Time only moves forward: a record older than the ring is ignored.
 */
export class Timeline {
  /** A bucket is allocated when its minute is first written: a quiet environment's timeline costs little. */
  private readonly buckets = new Array<Bucket | undefined>(TIMELINE_MAX_MINUTES).fill(undefined);

  record(distinctId: string, atMs: number): void {
    const minute = Math.floor(atMs / 60_000);
    const index = mod(minute, TIMELINE_MAX_MINUTES);
    let bucket = this.buckets[index];
    if (bucket === undefined) this.buckets[index] = bucket = { minute, count: 0, ids: new Set<string>() };
    if (bucket.minute > minute) return;
    if (bucket.minute < minute) {
      bucket.minute = minute;
      bucket.count = 0;
      bucket.ids.clear();
    }
    bucket.count++;
    if (bucket.ids.size < TIMELINE_MAX_IDS_PER_MINUTE) bucket.ids.add(distinctId);
  }

  /** The last `minutes` minutes ending with the one holding `nowMs`, oldest first, empty minutes as zeros. */
  points(nowMs: number, minutes: number): TimelinePoint[] {
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > TIMELINE_MAX_MINUTES) {
      throw badInput(`minutes must be an integer from 1 to ${TIMELINE_MAX_MINUTES}, got ${minutes}`, { field: "minutes" });
    }
    const current = Math.floor(nowMs / 60_000);
    const out: TimelinePoint[] = [];
    for (let minute = current - minutes + 1; minute <= current; minute++) {
      const bucket = this.buckets[mod(minute, TIMELINE_MAX_MINUTES)];
      const live = bucket !== undefined && bucket.minute === minute;
      out.push({ minute: minute * 60_000, events: live ? bucket.count : 0, uniqueUsers: live ? bucket.ids.size : 0 });
    }
    return out;
  }

  /** True when no bucket is within the ring ending at `nowMs`. */
  isEmptyAt(nowMs: number): boolean {
    const current = Math.floor(nowMs / 60_000);
    return this.buckets.every((b) => b === undefined || b.minute <= current - TIMELINE_MAX_MINUTES);
  }
}

function mod(n: number, m: number): number {
  return ((n % m) + m) % m;
}

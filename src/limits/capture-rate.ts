import { BurstyRateLimiter, RateLimiterMemory, RateLimiterRes } from "rate-limiter-flexible";
import { PulseError } from "../domain/errors.ts";

export interface CaptureRateOptions {
  /** Sustained events per second per key (PULSE_CAPTURE_RATE). */
  readonly ratePerSecond: number;
  /** Extra events per key above the rate, refilled over BURST_WINDOW_SECONDS (PULSE_CAPTURE_BURST). */
  readonly burst: number;
}

/** The burst allowance refills over this many seconds. */
export const BURST_WINDOW_SECONDS = 10;

/**
 * Capture rate per key (or per address on an open server), counted in events, not requests: a batch of 500 takes
 * 500. rate-limiter-flexible's BurstyRateLimiter (a per-second budget backed by a burst budget over 10 s) gives
 * token-bucket behaviour, and the same classes have a Redis backend for a fleet. A refused request is refunded:
 * it stores nothing and takes nothing from the budget.
 */
export class CaptureRateLimiter {
  private readonly rate: RateLimiterMemory;
  private readonly burst: RateLimiterMemory | null;
  private readonly limiter: BurstyRateLimiter | RateLimiterMemory;

  constructor(readonly options: CaptureRateOptions) {
    this.rate = new RateLimiterMemory({ keyPrefix: "capture", points: options.ratePerSecond, duration: 1 });
    this.burst =
      options.burst > 0
        ? new RateLimiterMemory({ keyPrefix: "capture-burst", points: options.burst, duration: BURST_WINDOW_SECONDS })
        : null;
    this.limiter = this.burst ? new BurstyRateLimiter(this.rate, this.burst) : this.rate;
  }

  /** Takes `events` from `key`'s budget, or throws RATE_LIMITED (with `retryAfterSeconds`) and takes nothing. */
  async consume(key: string, events: number): Promise<void> {
    if (events <= 0) return;
    try {
      await this.limiter.consume(key, events);
    } catch (refusal) {
      if (!(refusal instanceof RateLimiterRes)) throw refusal;
      await Promise.all([this.rate.reward(key, events), this.burst?.reward(key, events)]);
      const retryAfterSeconds = Math.max(1, Math.ceil(refusal.msBeforeNext / 1000));
      throw new PulseError(
        "RATE_LIMITED",
        `Capture rate exceeded: ${events} events refused, the limit is ${this.options.ratePerSecond}/s with a burst of ${this.options.burst} (PULSE_CAPTURE_RATE, PULSE_CAPTURE_BURST); retry in ${retryAfterSeconds} s`,
        { retryAfterSeconds },
      );
    }
  }
}

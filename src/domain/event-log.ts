import type { CapturedEvent } from "./event.ts";

/** Where one appended event landed in the shared stream. */
export interface Appended {
  readonly id: string;
  /** The stream position: for a duplicate, the position of the earlier event with that id. */
  readonly seq: number;
  readonly duplicate: boolean;
}

/**
 * The ordered stream events enter through when several Pulse instances share one (Redis). `append` resolves only
 * once the log has durably ordered the events (rejects with UNAVAILABLE when it cannot, having acknowledged
 * nothing); every instance, the appending one included, then receives them through `Hub.apply` in stream order.
 * Ids are given (the hub assigns missing ones) so duplicates are detected across the fleet. Without a log, the
 * hub is its own stream: synchronous, in memory.
 */
export interface EventLog {
  append(events: readonly (CapturedEvent & { readonly id: string })[]): Promise<Appended[]>;
}

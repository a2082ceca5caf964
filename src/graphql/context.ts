import type { PulseConfig } from "../config.ts";
import type { Hub } from "../domain/hub.ts";
import type { SnapshotStatus } from "../store/snapshotter.ts";

/** The transports an operation can arrive on. */
export type Transport = "http" | "ws" | "sse";

/** What every resolver sees. */
export interface PulseContext {
  readonly hub: Hub;
  readonly config: PulseConfig;
  readonly transport: Transport;
  /** Snapshot failures and the last good snapshot (NO_SNAPSHOTS when memory only). */
  readonly snapshots: SnapshotStatus;
  /** Set by the `events` resolver when the payload it resolves follows lost events (see gap.ts). */
  gapPending?: boolean;
  /** Set by the `events` resolver when the subscriber ended LAGGED: the events it dropped (for the metrics). */
  laggedDropped?: number;
}

/** The parent object of `LiveDashboard` and `LiveUsers` fields: which environment, at what time. */
export interface LiveView {
  readonly environment: string | null;
  readonly at: number;
}

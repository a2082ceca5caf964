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
}

/** The parent object of `LiveDashboard` and `LiveUsers` fields: which environment, at what time. */
export interface LiveView {
  readonly environment: string | null;
  readonly at: number;
}

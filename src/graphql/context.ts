import type { Application } from "../app/application.ts";
import type { Reads } from "../app/reads.ts";
import type { Principal } from "../auth/keys.ts";
import type { PulseConfig } from "../config.ts";
import type { SnapshotStatus } from "../store/snapshotter.ts";
import type { PushableResults } from "./shared-execution.ts";

/** The transports an operation can arrive on. */
export type Transport = "http" | "ws" | "sse";

/**
 * One operation's handle for its transport: when the operation is an `events` subscription, the shared execution
 * puts its pushable results here as it starts, and `startOperation` hands them to the transport.
 */
export interface OperationSlot {
  pushable?: PushableResults;
}

/** What the transports give every operation, before the auth plugin adds the caller. */
export interface TransportContext {
  readonly app: Application;
  readonly config: PulseConfig;
  readonly transport: Transport;
  /** Snapshot failures and the last good snapshot (NO_SNAPSHOTS when memory only). */
  readonly snapshots: SnapshotStatus;
  /** Set by `startOperation` (WebSocket, SSE); absent on plain HTTP. */
  readonly operation?: OperationSlot;
  /**
   * The caller's IP address (behind trusted proxies, the one they forwarded: PULSE_TRUSTED_PROXIES): whom an open
   * server charges captures to, and whose country captures get. "unknown" when the socket had closed.
   */
  readonly address: string;
  /** The request's User-Agent (a WebSocket's: its upgrade request's): what captures are enriched with. */
  readonly userAgent: string | undefined;
}

/** What every resolver sees: the transport's context and the caller (src/graphql/auth-plugin.ts). */
export interface PulseContext extends TransportContext {
  readonly principal: Principal;
  /** What this caller may read (src/app/reads.ts). */
  readonly reads: Reads;
}

/** The parent object of `LiveUsers` fields: which environment, at what time. (`LiveDashboard`'s is a DashboardView.) */
export interface LiveView {
  readonly environment: string | null;
  readonly at: number;
}

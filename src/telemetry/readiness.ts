/** A check's verdict: `true` when it passes, otherwise why not (shown in /readyz, so never a secret). */
export type CheckState = true | string;

/** A check evaluated at each /readyz request (for example: the store answers a ping). */
export type ReadinessCheck = () => CheckState | Promise<CheckState>;

export interface ReadinessReport {
  readonly ready: boolean;
  /** Every check by name: "ok", or the reason it fails. */
  readonly checks: Readonly<Record<string, string>>;
}

export interface ReadinessOptions {
  /** A live check that has not answered after this long fails with "timed out"; default 2000 ms. */
  readonly checkTimeoutMs?: number;
}

/**
 * What `/readyz` asks: Pulse is ready when every check passes. Two kinds of check: states someone `set`s when
 * they change (listening, the snapshot restored), and live checks run at each request (`register`), each bounded
 * by a timeout so a hung dependency makes /readyz fail rather than hang.
 */
export class Readiness {
  private readonly states = new Map<string, CheckState>();
  private readonly checks = new Map<string, ReadinessCheck>();
  private readonly checkTimeoutMs: number;

  constructor(options: ReadinessOptions = {}) {
    this.checkTimeoutMs = options.checkTimeoutMs ?? 2000;
  }

  /** Records the state of `name`: `true` when it passes, otherwise the reason it does not (yet). */
  set(name: string, state: CheckState): void {
    this.states.set(name, state);
  }

  /** The recorded state of `name` (undefined for a live check or an unknown name). */
  state(name: string): CheckState | undefined {
    return this.states.get(name);
  }

  /** Adds a live check run at every /readyz; a throw or a timeout counts as a failure. Returns its removal. */
  register(name: string, check: ReadinessCheck): () => void {
    this.checks.set(name, check);
    return () => this.checks.delete(name);
  }

  async evaluate(): Promise<ReadinessReport> {
    const checks: Record<string, string> = {};
    for (const [name, state] of this.states) checks[name] = state === true ? "ok" : state;
    const live = await Promise.all([...this.checks].map(async ([name, check]) => [name, await this.run(check)] as const));
    for (const [name, state] of live) checks[name] = state === true ? "ok" : state;
    return { ready: Object.values(checks).every((state) => state === "ok"), checks };
  }

  private async run(check: ReadinessCheck): Promise<CheckState> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<CheckState>((resolve) => {
      timer = setTimeout(() => resolve(`timed out after ${this.checkTimeoutMs} ms`), this.checkTimeoutMs);
    });
    try {
      return await Promise.race([Promise.resolve().then(check), timeout]);
    } catch (error) {
      return `failed: ${error instanceof Error ? error.message : String(error)}`;
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * Connections open at once per remote address: one counter for HTTP sockets (src/transport/http-limits.ts), one
 * for the long-lived ones among them (WebSockets and event streams). Counted per address, not per key: the address
 * is known before any key is read, so an unauthenticated flood is bounded too, and a public capture key shared by
 * every visitor's browser must not cap a product's audience. Behind a reverse proxy every client shares the
 * proxy's address: raise the limit there, or set 0 for none.
 */
export class ConnectionCounter {
  private readonly open = new Map<string, number>();

  /** `max` = PULSE_MAX_CONNECTIONS_PER_ADDRESS; 0 disables the limit. */
  constructor(readonly max: number) {}

  /** Takes a slot for `address`: a release function (safe to call twice), or null when the address is at its limit. */
  acquire(address: string): (() => void) | null {
    const current = this.open.get(address) ?? 0;
    if (this.max > 0 && current >= this.max) return null;
    this.open.set(address, current + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.open.get(address) ?? 1) - 1;
      if (left <= 0) this.open.delete(address);
      else this.open.set(address, left);
    };
  }

  count(address: string): number {
    return this.open.get(address) ?? 0;
  }
}

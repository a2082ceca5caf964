import { isIP } from "node:net";
import ipaddr from "ipaddr.js";
import { trustedProxyProblem } from "./settings.ts";

/** What a request carries that says who sent it: its TCP socket and its headers (node:http's request has both). */
export interface RequestOrigin {
  readonly socket?: { readonly remoteAddress?: string | undefined } | undefined;
  readonly headers?: { readonly [name: string]: string | string[] | undefined } | undefined;
}

/** The address of a request whose socket has none (it closed before it was read). */
export const UNKNOWN_ADDRESS = "unknown";

/**
 * The proxies whose `X-Forwarded-For` Pulse believes (PULSE_TRUSTED_PROXIES): IP addresses and CIDR ranges, IPv4 or
 * IPv6. Empty (the default): the client is the socket's peer, and `X-Forwarded-For` is ignored.
 */
export class TrustedProxies {
  private readonly ranges: readonly [ipaddr.IPv4 | ipaddr.IPv6, number][];

  /** Throws for an entry that is not an IP address or CIDR range (the settings are validated before this is built). */
  constructor(entries: readonly string[]) {
    this.ranges = entries.map((entry) => {
      const problem = trustedProxyProblem(entry);
      if (problem) throw new Error(`PULSE_TRUSTED_PROXIES: "${entry}" ${problem}`);
      if (entry.includes("/")) {
        const [address, bits] = ipaddr.parseCIDR(entry);
        // `::ffff:10.0.0.0/104` names IPv4 addresses, and sockets report those as plain IPv4 once normalized.
        if (address.kind() === "ipv6" && (address as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) {
          return [(address as ipaddr.IPv6).toIPv4Address(), bits - 96];
        }
        return [address, bits];
      }
      const address = ipaddr.process(entry);
      return [address, address.kind() === "ipv4" ? 32 : 128];
    });
  }

  get empty(): boolean {
    return this.ranges.length === 0;
  }

  /** Whether `address` (a normalized IP address) is one of the trusted proxies. */
  includes(address: string): boolean {
    if (this.ranges.length === 0) return false;
    const parsed = parseAddress(address);
    return parsed !== undefined && this.ranges.some(([range, bits]) => range.kind() === parsed.kind() && parsed.match(range, bits));
  }

  /**
   * The client's address for a request: the socket's peer, or, when that peer is a trusted proxy, the right-most
   * entry of `X-Forwarded-For` that is not a trusted proxy itself (each proxy appends the address it received the
   * request from, so everything left of the last untrusted hop was written by whoever sent it and proves nothing).
   * An entry that is not an IP address (`unknown`, a host name, garbage) ends the walk: the answer is then the
   * nearest hop Pulse can vouch for, a trusted proxy. Never throws; the answer is always `socketAddress` (normalized)
   * or an address that appears in the header. IPv4-mapped IPv6 (`::ffff:1.2.3.4`) is given as IPv4; an entry may
   * carry a port (`1.2.3.4:5678`, `[2001:db8::1]:443`), which is dropped.
   */
  clientAddress(socketAddress: string | undefined, forwardedFor: string | string[] | undefined): string {
    let address = socketAddress === undefined ? UNKNOWN_ADDRESS : normalizeAddress(socketAddress);
    if (forwardedFor === undefined || !this.includes(address)) return address;
    const entries = (Array.isArray(forwardedFor) ? forwardedFor.join(",") : forwardedFor).split(",");
    for (let i = entries.length - 1; i >= 0; i--) {
      const hop = forwardedAddress(entries[i]!);
      if (hop === undefined) return address;
      address = hop;
      if (!this.includes(address)) return address;
    }
    return address;
  }

  /** The client's address of a node:http request (or anything shaped like one, such as a WebSocket's peer). */
  clientOf(origin: RequestOrigin | undefined): string {
    return this.clientAddress(origin?.socket?.remoteAddress, origin?.headers?.["x-forwarded-for"]);
  }
}

/** An address as Pulse keeps it: IPv4-mapped IPv6 (`::ffff:1.2.3.4`, how a dual-stack socket reports IPv4) as IPv4. */
export function normalizeAddress(address: string): string {
  if (address.length > 7 && address.slice(0, 7).toLowerCase() === "::ffff:" && isIP(address.slice(7)) === 4) return address.slice(7);
  const parsed = isIP(address) === 6 ? parseAddress(address) : undefined;
  return parsed instanceof ipaddr.IPv6 && parsed.isIPv4MappedAddress() ? parsed.toIPv4Address().toString() : address;
}

/** `address` parsed, when Node takes it for an IP address and ipaddr.js can read it (a zone id it cannot: undefined). */
export function parseAddress(address: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  const version = isIP(address);
  if (version === 0) return undefined;
  try {
    // The version's own parser: ipaddr.parse tries IPv6 first and throws its way to IPv4 (three times slower).
    return version === 4 ? ipaddr.IPv4.parse(address) : ipaddr.IPv6.parse(address);
  } catch {
    return undefined;
  }
}

/** One `X-Forwarded-For` entry as an address (normalized), or undefined when it is not one. */
function forwardedAddress(entry: string): string | undefined {
  let text = entry.trim();
  if (text.startsWith("[")) {
    // `[2001:db8::1]` or `[2001:db8::1]:443`
    const close = text.indexOf("]");
    if (close < 0 || !/^(:\d{1,5})?$/.test(text.slice(close + 1))) return undefined;
    text = text.slice(1, close);
  } else if (/^[\d.]+:\d{1,5}$/.test(text)) {
    text = text.slice(0, text.indexOf(":"));
  }
  return isIP(text) === 0 ? undefined : normalizeAddress(text);
}

import { createHash, timingSafeEqual } from "node:crypto";
import { PulseError } from "../domain/errors.ts";
import { keyEntryProblem } from "../limits/settings.ts";

/** What a key may do. `read` keys may also capture. */
export type Role = "capture" | "read";

/** Who is making a request, as far as Pulse cares. */
export interface Principal {
  readonly role: Role;
  /** The one environment this key sees and captures, or null for all. */
  readonly environment: string | null;
  /**
   * A stable, non-secret name for the key (a digest prefix), for rate limits and logs; null on an open server,
   * where limits apply per address instead.
   */
  readonly keyId: string | null;
}

/** The principal of every request on a server with no keys configured. */
export const OPEN_PRINCIPAL: Principal = Object.freeze({ role: "read", environment: null, keyId: null });

interface KeyEntry {
  readonly digest: Buffer;
  readonly principal: Principal;
}

const digest = (secret: string): Buffer => createHash("sha256").update(secret, "utf8").digest();

/**
 * The configured API keys. Keys are kept and compared only as SHA-256 digests: every comparison is
 * `crypto.timingSafeEqual` on two 32-byte buffers, and every configured key is compared (no early exit), so the
 * time taken says nothing about how much of a guess was right or which entry matched.
 */
export class KeyRing {
  private readonly entries: readonly KeyEntry[];

  /** Entries as in PULSE_CAPTURE_KEYS / PULSE_READ_KEYS: `key` or `key:environment`. A key in both lists is an error. */
  constructor(captureKeys: readonly string[], readKeys: readonly string[]) {
    const entries: KeyEntry[] = [];
    const seen = new Set<string>();
    const add = (list: readonly string[], role: Role, setting: string) =>
      list.forEach((entry, index) => {
        const problem = keyEntryProblem(entry);
        if (problem) throw new Error(`${setting}: entry ${index + 1} ${problem}`);
        const colon = entry.indexOf(":");
        const secret = colon === -1 ? entry : entry.slice(0, colon);
        const environment = colon === -1 ? null : entry.slice(colon + 1);
        if (seen.has(secret)) throw new Error(`${setting}: entry ${index + 1} is listed twice (a key has one role and one scope)`);
        seen.add(secret);
        const hash = digest(secret);
        entries.push({ digest: hash, principal: Object.freeze({ role, environment, keyId: hash.toString("hex").slice(0, 12) }) });
      });
    add(readKeys, "read", "PULSE_READ_KEYS");
    add(captureKeys, "capture", "PULSE_CAPTURE_KEYS");
    this.entries = entries;
  }

  /** False when no key is configured: the server is open and every request acts as OPEN_PRINCIPAL. */
  get enabled(): boolean {
    return this.entries.length > 0;
  }

  /** The principal for a presented key, or null when it is not one of ours. */
  lookup(secret: string): Principal | null {
    const presented = digest(secret);
    let found: Principal | null = null;
    for (const entry of this.entries) {
      if (timingSafeEqual(entry.digest, presented)) found = entry.principal;
    }
    return found;
  }

  /**
   * Resolves an `Authorization` header value (`Bearer <key>`; HTTP, SSE, and `connectionParams.authorization` on
   * WebSocket). Open server: always OPEN_PRINCIPAL. Otherwise a missing, malformed or unknown key is
   * UNAUTHENTICATED; the message never repeats the key.
   */
  authenticate(authorization: unknown): Principal {
    if (!this.enabled) return OPEN_PRINCIPAL;
    if (typeof authorization !== "string" || authorization.trim() === "") {
      throw new PulseError("UNAUTHENTICATED", "An API key is required: send Authorization: Bearer <key>");
    }
    const match = /^Bearer[ \t]+(\S+)\s*$/i.exec(authorization);
    if (!match) throw new PulseError("UNAUTHENTICATED", 'Authorization must be "Bearer <key>"');
    const principal = this.lookup(match[1]!);
    if (!principal) throw new PulseError("UNAUTHENTICATED", "Unknown API key");
    return principal;
  }
}

/**
 * Whom a capture is charged to in the capture rate limit: the key, or on an open server the client's address. One
 * rule for every capture path (GraphQL, PostHog's endpoints), so a key has one budget whichever way it sends.
 */
export function captureRateKey(principal: Principal, address: string): string {
  return principal.keyId ?? `address:${address}`;
}

/**
 * Who sends with a bare key, as PostHog's SDKs send it (`api_key` in the body). Both capture and read keys may
 * capture. Open server: the open principal. Throws UNAUTHENTICATED for a missing or unknown key. The ingest
 * (src/app/ingest.ts) then keeps the events in the key's environment and charges its capture rate.
 */
export function authenticateBareKey(keys: KeyRing, apiKey: string | null | undefined): Principal {
  if (!keys.enabled) return OPEN_PRINCIPAL;
  if (typeof apiKey !== "string" || apiKey.length === 0) {
    throw new PulseError("UNAUTHENTICATED", "An API key is required (api_key)");
  }
  const principal = keys.lookup(apiKey);
  if (!principal) throw new PulseError("UNAUTHENTICATED", "Unknown API key (api_key)");
  return principal;
}

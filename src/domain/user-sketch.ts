/**
 * Hashes a user kept by a sketch: exact below this many per sketch, an estimate (k minimum values) above. 64 keeps
 * a sketch within ~0.5 KB and its estimate within about 13 % (one standard error, 1/√(k − 2)).
 */
export const USER_SKETCH_SIZE = 64;

const EMPTY: readonly number[] = [];

/** Hashes are 30 bits: small integers, which V8 stores unboxed in objects, Map keys and arrays. */
const HASH_SPACE = 2 ** 30;

/**
 * A distinctId (or a session id) as a 30-bit hash: FNV-1a over UTF-16 code units, then MurmurHash3's finalizer so
 * every bit is equally random (the estimate needs uniform hashes). Computed once per event and shared by every
 * sketch it enters.
 */
export function hashUser(distinctId: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < distinctId.length; i++) {
    hash ^= distinctId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 2;
}

/**
 * Distinct users in bounded memory: the {@link USER_SKETCH_SIZE} smallest user hashes seen (a "k minimum values"
 * sketch). While fewer users than that were seen it holds all of them and counts exactly (up to a 30-bit hash
 * collision, about one in 500,000 for 64 users); past it, it is `saturated` and estimates. Sketches merge without loss
 * (the smallest hashes of a union are among each part's smallest), so per-minute sketches add up to any window.
 */
export class UserSketch {
  /**
   * Ascending, distinct; at most USER_SKETCH_SIZE. Replaced by a copy of exactly the new size at each insertion
   * rather than grown in place: a grown array keeps room for ~16 more, and most sketches hold one or two users.
   */
  private hashes: readonly number[] = EMPTY;
  /** True once a hash was left out: `hashes` is then the smallest USER_SKETCH_SIZE of more. */
  saturated = false;

  add(hash: number): void {
    const hashes = this.hashes;
    const size = hashes.length;
    if (size === USER_SKETCH_SIZE && hash >= hashes[size - 1]!) {
      if (hash !== hashes[size - 1]) this.saturated = true;
      return;
    }
    let low = 0;
    let high = size;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (hashes[middle]! < hash) low = middle + 1;
      else high = middle;
    }
    if (hashes[low] === hash) return;
    const full = size === USER_SKETCH_SIZE;
    const next = new Array<number>(full ? size : size + 1);
    for (let i = 0; i < low; i++) next[i] = hashes[i]!;
    next[low] = hash;
    for (let i = low; i < next.length - 1; i++) next[i + 1] = hashes[i]!;
    this.hashes = next;
    if (full) this.saturated = true;
  }

  /** Users seen, exact unless `saturated`. */
  get count(): number {
    return countUsers([this]).users;
  }

  /** The hashes held (for merging). */
  held(): readonly number[] {
    return this.hashes;
  }
}

/**
 * Distinct users across `sketches` (their union). Exact while none is saturated: they then hold every user, and
 * the union is counted as is. Otherwise the k-minimum-values estimate of the union, flagged `estimated`.
 */
export function countUsers(sketches: Iterable<UserSketch>): { users: number; estimated: boolean } {
  const union = new Set<number>();
  let saturated = false;
  for (const sketch of sketches) {
    if (sketch.saturated) saturated = true;
    for (const hash of sketch.held()) union.add(hash);
  }
  if (!saturated) return { users: union.size, estimated: false };
  const smallest = [...union].sort((a, b) => a - b).slice(0, USER_SKETCH_SIZE);
  // Every sketch keeps its own smallest hashes, so these are the union's smallest. (k − 1) / U(k) is the unbiased
  // estimate, U(k) the k-th smallest hash as a fraction of the hash space.
  const kth = (smallest[smallest.length - 1]! + 1) / HASH_SPACE;
  return { users: Math.max(smallest.length, Math.round((smallest.length - 1) / kth)), estimated: true };
}

import { randomFillSync } from "node:crypto";

/**
 * Event ids: UUIDv7 (RFC 9562), as the `uuid` package's `v7()` makes them: 48 bits of Unix milliseconds, then a
 * counter seeded at random, then random bits, so ids sort by creation time and stay in order within one process
 * even within one millisecond (the counter; past its 42 bits in a millisecond, the time field moves on by one, as
 * RFC 9562 section 6.2 allows). The randomness is read from the CSPRNG 4 KiB at a time (the `uuid` package reads
 * 256 bytes at a time and copies 16 per id): an id is made for every event a capture stores without one, and
 * `uuid`'s `v7()` was 3 % of the ingest_batch profile, most of it `randomFillSync` and its copies.
 */
const POOL_BYTES = 4096;
const pool = new Uint8Array(POOL_BYTES);
let poolAt = POOL_BYTES;

/** Two hex digits per byte value. */
const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, "0"));

/** The last id's time field and 42-bit counter (kept as two numbers: 42 bits is past what `|` handles). */
let lastMs = -1;
let counterHigh = 0; // 18 bits: the rand_a field's 12 and the top 6 of rand_b
let counterLow = 0; // 24 bits

/** `count` random bytes at `pool[offset..]`; refills the pool when it runs short. */
function take(count: number): number {
  if (poolAt + count > POOL_BYTES) {
    randomFillSync(pool);
    poolAt = 0;
  }
  const offset = poolAt;
  poolAt += count;
  return offset;
}

/** A new UUIDv7, lower case, later than (and different from) every id this process made before. */
export function newEventId(now: number = Date.now()): string {
  if (now > lastMs) {
    lastMs = now;
    // Seed the counter at random, keeping its top bit clear so a millisecond has at least 2^41 ids to go.
    const seed = take(6);
    counterHigh = ((pool[seed]! << 10) | (pool[seed + 1]! << 2) | (pool[seed + 2]! >> 6)) & 0x1ffff;
    counterLow = (pool[seed + 3]! << 16) | (pool[seed + 4]! << 8) | pool[seed + 5]!;
  } else {
    counterLow++;
    if (counterLow > 0xffffff) {
      counterLow = 0;
      counterHigh++;
      if (counterHigh > 0x3ffff) {
        // 2^42 ids in one millisecond: borrow the next millisecond.
        lastMs++;
        counterHigh = 0;
      }
    }
  }
  const offset = take(4);
  const ms = lastMs;
  const high = Math.floor(ms / 0x1000000); // top 24 of the 48 time bits
  const low = ms % 0x1000000;
  // Layout: time(48) | ver(4)=7 rand_a(12)=counter[41..30] | var(2)=10 counter[29..24] | counter[23..0] rand(32)
  const timeHex = HEX[(high >>> 16) & 0xff]! + HEX[(high >>> 8) & 0xff]! + HEX[high & 0xff]!;
  const timeLowHex = HEX[(low >>> 16) & 0xff]! + HEX[(low >>> 8) & 0xff]! + HEX[low & 0xff]!;
  const randA = counterHigh >>> 6; // 12 bits
  const randBTop = counterHigh & 0x3f; // 6 bits
  return (
    timeHex +
    timeLowHex.slice(0, 2) +
    "-" +
    timeLowHex.slice(2) +
    "-" +
    HEX[0x70 | (randA >>> 8)]! +
    HEX[randA & 0xff]! +
    "-" +
    HEX[0x80 | randBTop]! +
    HEX[(counterLow >>> 16) & 0xff]! +
    "-" +
    HEX[(counterLow >>> 8) & 0xff]! +
    HEX[counterLow & 0xff]! +
    HEX[pool[offset]!]! +
    HEX[pool[offset + 1]!]! +
    HEX[pool[offset + 2]!]! +
    HEX[pool[offset + 3]!]!
  );
}

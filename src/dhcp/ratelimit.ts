/**
 * Per-key token buckets: a client may send `burst` requests at once and
 * `perSecond` on average after that. A PXE boot sends a handful of packets a
 * minute (DISCOVER retries at 4, 8, 16, 32 s; 4011 REQUESTs; iPXE's own
 * DHCP); a flood from one MAC is cut off without touching anyone else.
 */
export interface RateLimitConfig {
  burst: number;
  perSecond: number;
}

export const DEFAULT_RATE_LIMIT: RateLimitConfig = { burst: 20, perSecond: 5 };

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Buckets live in two generations: a key is looked up in the current one,
 * then in the previous one (and moved forward). Every `burst / perSecond`
 * seconds the previous generation is dropped whole: a bucket still in it has
 * not been used since before the last turnover, so it has refilled and holds
 * no information. No sweep over all keys (under a storm of new MACs that was
 * a stall of milliseconds on the event loop every time the table filled).
 * A flood of distinct keys turns the generations over early, when the
 * current one holds half of `maxKeys`: memory stays bounded, and the keys
 * that go first are the ones least recently used.
 */
export function createRateLimiter(cfg: RateLimitConfig, now: () => number = Date.now, maxKeys = 100_000) {
  const fullAfterMs = (cfg.burst / cfg.perSecond) * 1000;
  const perMs = cfg.perSecond / 1000;
  const half = Math.max(1, Math.floor(maxKeys / 2));
  let current = new Map<string, Bucket>();
  let previous = new Map<string, Bucket>();
  let turnedAt = now();

  function turnOver(t: number): void {
    previous = current;
    current = new Map();
    turnedAt = t;
  }

  return {
    /** true when the request may be answered. */
    allow(key: string): boolean {
      const t = now();
      if (t - turnedAt >= fullAfterMs) turnOver(t);
      let b = current.get(key);
      if (b === undefined) {
        b = previous.get(key);
        if (b !== undefined) previous.delete(key);
        else b = { tokens: cfg.burst, at: t };
        if (current.size >= half) turnOver(t);
        current.set(key, b);
      }
      b.tokens = Math.min(cfg.burst, b.tokens + (t - b.at) * perMs);
      b.at = t;
      if (b.tokens < 1) return false;
      b.tokens -= 1;
      return true;
    },
    get size() {
      return current.size + previous.size;
    },
  };
}

const WAYS = 8;
const TWO32 = 2 ** 32;

/**
 * The same per-MAC token buckets for the proxyDHCP hot path, keyed by the
 * 6-byte hardware address itself and kept in typed arrays: no string, Map
 * entry or bucket object per client. Under a storm of new machines every
 * DISCOVER is a new key; in the Map version each one was a Map insertion and
 * a small object that outlived the young generation, and the limiter was the
 * largest single item of the event loop's profile (with the garbage
 * collector's work for it on top).
 *
 * A set-associative table: a MAC may sit in one of WAYS slots of its bucket.
 * A new MAC takes a free slot, or else the slot used longest ago. A bucket
 * untouched for burst/perSecond seconds has refilled, so dropping it loses
 * nothing; only with more than `maxKeys` MACs active within that time does a
 * flood push out live buckets (the oldest first), as the Map version's
 * generations did.
 */
export function createMacRateLimiter(cfg: RateLimitConfig, now: () => number = Date.now, maxKeys = 100_000) {
  const perMs = cfg.perSecond / 1000;
  let slots = WAYS;
  while (slots < maxKeys) slots *= 2;
  const mask = slots / WAYS - 1;
  /** The MAC as a number, plus one (0 marks a free slot). */
  const keys = new Float64Array(slots);
  const tokens = new Float64Array(slots);
  const at = new Float64Array(slots);
  let size = 0;

  function bucketOf(hi: number, lo: number): number {
    // murmur3's finalizer over both halves of the 48-bit address.
    let h = lo ^ Math.imul(hi, 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
    h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
    return ((h ^ (h >>> 16)) & mask) * WAYS;
  }

  return {
    /** true when a request from this MAC (chaddr's first 6 bytes) may be answered. */
    allow(chaddr: Uint8Array): boolean {
      const hi = (chaddr[0]! << 8) | chaddr[1]!;
      const lo = ((chaddr[2]! << 24) | (chaddr[3]! << 16) | (chaddr[4]! << 8) | chaddr[5]!) >>> 0;
      const key = hi * TWO32 + lo + 1;
      const t = now();
      const b = bucketOf(hi, lo);
      let slot = -1;
      let oldest = b;
      for (let i = b; i < b + WAYS; i++) {
        const k = keys[i]!;
        if (k === key) {
          slot = i;
          break;
        }
        if (k === 0) {
          if (keys[oldest] !== 0) oldest = i;
        } else if (keys[oldest] !== 0 && at[i]! < at[oldest]!) oldest = i;
      }
      let tok: number;
      if (slot < 0) {
        slot = oldest;
        if (keys[slot] === 0) size++;
        keys[slot] = key;
        tok = cfg.burst;
      } else tok = Math.min(cfg.burst, tokens[slot]! + (t - at[slot]!) * perMs);
      at[slot] = t;
      if (tok < 1) {
        tokens[slot] = tok;
        return false;
      }
      tokens[slot] = tok - 1;
      return true;
    },
    /** MACs held (at most the table's slots, the first power of two ≥ maxKeys). */
    get size() {
      return size;
    },
  };
}

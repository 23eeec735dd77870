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

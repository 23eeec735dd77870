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

export function createRateLimiter(cfg: RateLimitConfig, now: () => number = Date.now, maxKeys = 100_000) {
  const buckets = new Map<string, { tokens: number; at: number }>();
  const fullAfterMs = (cfg.burst / cfg.perSecond) * 1000;

  function sweep(t: number): void {
    // Buckets that have refilled completely hold no information: drop them.
    for (const [k, b] of buckets) if (t - b.at >= fullAfterMs) buckets.delete(k);
    if (buckets.size >= maxKeys) buckets.clear(); // a flood of distinct keys: start over rather than grow
  }

  return {
    /** true when the request may be answered. */
    allow(key: string): boolean {
      const t = now();
      let b = buckets.get(key);
      if (!b) {
        if (buckets.size >= maxKeys) sweep(t);
        b = { tokens: cfg.burst, at: t };
        buckets.set(key, b);
      } else {
        b.tokens = Math.min(cfg.burst, b.tokens + ((t - b.at) / 1000) * cfg.perSecond);
        b.at = t;
      }
      if (b.tokens < 1) return false;
      b.tokens -= 1;
      return true;
    },
    get size() {
      return buckets.size;
    },
  };
}

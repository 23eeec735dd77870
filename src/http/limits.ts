/**
 * Per-client limits shared by the HTTP side: the client key (an IPv4
 * address, or the /64 an IPv6 address belongs to) and a limiter of failed
 * sign-ins (the admin UI's form and the API's bearer tokens).
 */
import { isIPv6 } from 'node:net';

/**
 * The key per-client limits count under. An IPv6 host is usually handed a
 * whole /64 and can pick any address in it, so counting per address would let
 * one machine look like 2^64 clients: IPv6 addresses count per /64.
 * IPv4-mapped addresses (::ffff:10.0.0.1, from a dual-stack socket) are their
 * IPv4 address.
 */
export function clientKey(address: string | undefined | null): string {
  if (!address) return 'unknown';
  let a = address;
  if (a.toLowerCase().startsWith('::ffff:') && a.includes('.')) return a.slice(7);
  const zone = a.indexOf('%');
  if (zone >= 0) a = a.slice(0, zone);
  if (!isIPv6(a)) return address;
  const [head = '', tail] = a.toLowerCase().split('::');
  const groups = (s: string) => (s === '' ? [] : s.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g])));
  const h = groups(head);
  const full = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - groups(tail).length).fill('0'), ...groups(tail)];
  return `${full
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}

export interface FailureLimiterOptions {
  /** Failures allowed in the window; at `limit` the client is refused until the oldest one ages out. */
  limit?: number;
  windowMs?: number;
  /**
   * Clients remembered at once. Past it, expired entries are dropped first,
   * then the client that failed longest ago — never the whole table, which
   * would let many addresses wipe a blocked client's record.
   */
  maxClients?: number;
  now?: () => number;
}

export interface FailureLimiter {
  /** Whether this client is refused now. */
  blocked(client: string): boolean;
  /** Whole seconds until this client may try again (0 when it may now): the Retry-After value. */
  retryAfter(client: string): number;
  failed(client: string): void;
  succeeded(client: string): void;
  /** Clients currently remembered. */
  readonly size: number;
}

/**
 * Failed attempts per client in a sliding window. Each client costs at most
 * `limit` timestamps, and at most `maxClients` clients are kept, so the
 * memory a flood of failures can take is bounded.
 */
export function createFailureLimiter(opts: FailureLimiterOptions = {}): FailureLimiter {
  const limit = opts.limit ?? 10;
  const windowMs = opts.windowMs ?? 60_000;
  const maxClients = opts.maxClients ?? 10_000;
  const now = opts.now ?? Date.now;
  // Insertion order = order of the last failure: the first entry failed longest ago.
  const failures = new Map<string, number[]>();

  const recent = (key: string, t: number): number[] => {
    const list = failures.get(key);
    if (!list) return [];
    const live = list.filter((at) => t - at < windowMs);
    if (live.length === 0) failures.delete(key);
    else if (live.length !== list.length) failures.set(key, live);
    return live;
  };

  return {
    blocked(client) {
      return recent(clientKey(client), now()).length >= limit;
    },
    retryAfter(client) {
      const t = now();
      const live = recent(clientKey(client), t);
      if (live.length < limit) return 0;
      // Free again when the limit-th most recent failure leaves the window.
      const oldestCounted = live[live.length - limit]!;
      return Math.max(1, Math.ceil((oldestCounted + windowMs - t) / 1000));
    },
    failed(client) {
      const key = clientKey(client);
      const t = now();
      const live = recent(key, t);
      failures.delete(key);
      if (failures.size >= maxClients) {
        for (const [k, list] of failures) if (t - list[list.length - 1]! >= windowMs) failures.delete(k);
        while (failures.size >= maxClients) failures.delete(failures.keys().next().value!);
      }
      live.push(t);
      failures.set(key, live.length > limit ? live.slice(-limit) : live);
    },
    succeeded(client) {
      failures.delete(clientKey(client));
    },
    get size() {
      return failures.size;
    },
  };
}

/** The admin UI's sign-in limiter: 10 failures a minute per client, as before. */
export function createLoginLimiter(limit = 10, windowMs = 60_000, now: () => number = Date.now): FailureLimiter {
  return createFailureLimiter({ limit, windowMs, now });
}
